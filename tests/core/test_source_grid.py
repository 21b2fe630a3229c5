"""Outputs go back to the input file's voxel grid: RAS, LPS, PSR and oblique inputs."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from headtwin_app.core.io import load_volume, save_volume
from headtwin_app.core.io.grid import to_source_grid


def _affine(codes: str, oblique: bool = False) -> np.ndarray:
    """A voxel→RAS affine whose array axes run along `codes` (e.g. "PSR"), 1/2/3 mm voxels."""
    rows = {"R": (0, 1), "L": (0, -1), "A": (1, 1), "P": (1, -1), "S": (2, 1), "I": (2, -1)}
    a = np.zeros((4, 4))
    for col, (code, size) in enumerate(zip(codes, (1.0, 2.0, 3.0), strict=True)):
        row, sign = rows[code]
        a[row, col] = sign * size
    a[:3, 3] = (-20, 10, 5)
    a[3, 3] = 1
    if oblique:
        t = np.deg2rad(12)
        rot = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
        a[:3, :3] = rot @ a[:3, :3]
    return a


@pytest.mark.parametrize("codes, oblique", [("RAS", False), ("LPS", False), ("PSR", False),
                                            ("LPS", True)])
def test_labels_go_back_to_the_files_grid(tmp_path: Path, codes: str, oblique: bool) -> None:
    data = np.arange(5 * 6 * 7, dtype=np.float32).reshape(5, 6, 7)
    affine = _affine(codes, oblique)
    nib.save(nib.Nifti1Image(data, affine), str(tmp_path / "in.nii.gz"))
    image = load_volume(tmp_path / "in.nii.gz")
    assert nib.aff2axcodes(image.affine) == ("R", "A", "S")
    labels = image.with_data((image.data % 3).astype(np.int16))  # a map computed in RAS
    save_volume(to_source_grid(labels, image), tmp_path / "out.nii.gz")
    out = nib.load(str(tmp_path / "out.nii.gz"))
    assert out.shape == data.shape and np.allclose(out.affine, affine)
    np.testing.assert_array_equal(np.asarray(out.dataobj), data % 3)  # voxel for voxel


def test_a_volume_off_the_grid_is_refused(tmp_path: Path) -> None:
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 6), np.float32), _affine("PSR")),
             str(tmp_path / "in.nii.gz"))
    image = load_volume(tmp_path / "in.nii.gz")
    other = image.with_data(np.zeros(image.shape, np.int16))
    other.affine[0, 3] += 5
    with pytest.raises(ValueError, match="not on the image's grid"):
        to_source_grid(other, image)
