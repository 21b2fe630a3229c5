"""Input files stored in other voxel grids than RAS+, for the tests that outputs keep the input
file's grid (issue 16): RAS, LPS, PSR (as some scanners write sagittal series) and an oblique
LPS, with 1/2/3 mm voxels. Import with `from source_grids import ...` (tests/ is on sys.path)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

GRIDS = [pytest.param("RAS", False, id="RAS"), pytest.param("LPS", False, id="LPS"),
         pytest.param("PSR", False, id="PSR"), pytest.param("LPS", True, id="oblique")]
"""`@pytest.mark.parametrize("codes, oblique", GRIDS)`"""


def grid_affine(codes: str, oblique: bool = False) -> np.ndarray:
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


def write_grid_file(path: Path, data: np.ndarray, codes: str, oblique: bool = False
                    ) -> np.ndarray:
    """Save `data` (in the file's own array order) as NIfTI on that grid; returns the affine."""
    affine = grid_affine(codes, oblique)
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return affine


def assert_on_grid(path: Path, data: np.ndarray, affine: np.ndarray) -> None:
    """The NIfTI at `path` holds `data` voxel for voxel on `affine` (the input's grid)."""
    out = nib.load(str(path))
    assert out.shape[:3] == data.shape, (path.name, out.shape, data.shape)
    assert np.allclose(out.affine, affine, atol=1e-5), (path.name, out.affine, affine)
    np.testing.assert_array_equal(np.asarray(out.dataobj).reshape(data.shape), data)
