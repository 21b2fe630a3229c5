"""Class-probability files for the Grow prior, read onto the image's RAS grid."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from headtwin_app.core.io import load_volume
from headtwin_app.core.io.probabilities import load_probabilities
from headtwin_app.core.volume import VolumeError


def _psr_affine() -> np.ndarray:
    """Array axes run posterior, superior, right (2, 3, 1 mm voxels)."""
    a = np.zeros((4, 4))
    a[1, 0], a[2, 1], a[0, 2], a[3, 3] = -2.0, 3.0, 1.0, 1.0
    a[:3, 3] = (-20, 10, 5)
    return a


@pytest.fixture()
def psr_image(tmp_path: Path) -> Path:
    data = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    nib.save(nib.Nifti1Image(data, _psr_affine()), str(tmp_path / "image.nii.gz"))
    return tmp_path / "image.nii.gz"


def test_npy_in_the_files_order_and_nifti_4d_agree(psr_image: Path, tmp_path: Path) -> None:
    image = load_volume(psr_image)
    assert nib.aff2axcodes(image.affine) == ("R", "A", "S")
    file_data = np.asarray(nib.load(str(psr_image)).dataobj)
    prob = np.stack([file_data / 200.0, 1 - file_data / 200.0]).astype(np.float32)  # PSR order
    np.save(tmp_path / "p.npy", prob)
    nib.save(nib.Nifti1Image(np.moveaxis(prob, 0, 3), _psr_affine()), str(tmp_path / "p.nii.gz"))
    from_npy = load_probabilities(tmp_path / "p.npy", image)
    from_nii = load_probabilities(tmp_path / "p.nii.gz", image)
    assert from_npy.shape == (2, *image.shape) and from_npy.dtype == np.float32
    np.testing.assert_allclose(from_npy, from_nii)
    np.testing.assert_allclose(from_npy[0], image.data / 200.0)  # voxel for voxel with the image


def test_wrong_grid_layout_or_values(psr_image: Path, tmp_path: Path) -> None:
    image = load_volume(psr_image)
    np.save(tmp_path / "short.npy", np.zeros((2, 4, 5, 5), np.float32))
    with pytest.raises(VolumeError, match=r"expected \(C, 4, 5, 6\)"):
        load_probabilities(tmp_path / "short.npy", image)
    np.save(tmp_path / "three.npy", np.zeros((4, 5, 6), np.float32))
    with pytest.raises(VolumeError, match="4D"):
        load_probabilities(tmp_path / "three.npy", image)
    np.save(tmp_path / "big.npy", np.full((1, 4, 5, 6), 3.0, np.float32))
    with pytest.raises(VolumeError, match=r"outside \[0, 1\]"):
        load_probabilities(tmp_path / "big.npy", image)
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 6, 2), np.float32), np.eye(4)),
             str(tmp_path / "ras.nii.gz"))
    with pytest.raises(VolumeError, match="not on the image's grid"):
        load_probabilities(tmp_path / "ras.nii.gz", image)
    (tmp_path / "p.txt").write_text("0")
    with pytest.raises(VolumeError, match="must be .npy"):
        load_probabilities(tmp_path / "p.txt", image)
