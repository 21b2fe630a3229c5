"""Outputs go back to the input file's voxel grid: RAS, LPS, PSR and oblique inputs."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from source_grids import GRIDS, grid_affine

from headtwin_app.core.io import load_volume, save_volume
from headtwin_app.core.io.grid import to_source_grid


@pytest.mark.parametrize("codes, oblique", GRIDS)
def test_labels_go_back_to_the_files_grid(tmp_path: Path, codes: str, oblique: bool) -> None:
    data = np.arange(5 * 6 * 7, dtype=np.float32).reshape(5, 6, 7)
    affine = grid_affine(codes, oblique)
    nib.save(nib.Nifti1Image(data, affine), str(tmp_path / "in.nii.gz"))
    image = load_volume(tmp_path / "in.nii.gz")
    assert nib.aff2axcodes(image.affine) == ("R", "A", "S")
    labels = image.with_data((image.data % 3).astype(np.int16))  # a map computed in RAS
    save_volume(to_source_grid(labels, image), tmp_path / "out.nii.gz")
    out = nib.load(str(tmp_path / "out.nii.gz"))
    assert out.shape == data.shape and np.allclose(out.affine, affine)
    np.testing.assert_array_equal(np.asarray(out.dataobj), data % 3)  # voxel for voxel


def test_a_volume_off_the_grid_is_refused(tmp_path: Path) -> None:
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 6), np.float32), grid_affine("PSR")),
             str(tmp_path / "in.nii.gz"))
    image = load_volume(tmp_path / "in.nii.gz")
    other = image.with_data(np.zeros(image.shape, np.int16))
    other.affine[0, 3] += 5
    with pytest.raises(ValueError, match="not on the image's grid"):
        to_source_grid(other, image)
