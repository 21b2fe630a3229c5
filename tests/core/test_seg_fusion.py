"""Fusion of hand-made craniofacial and brain maps: overlaps resolved as documented."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from headtwin_app.core.io import load_volume
from headtwin_app.core.seg.fusion import FUSION_RULE, fuse_twin, save_twin
from headtwin_app.core.volume import Volume


def _case() -> tuple[Volume, dict[str, Volume]]:
    grid = Volume.from_spacing(np.zeros((6, 4, 1), np.int16), (2.0, 2.0, 2.0))
    cf = np.zeros((6, 4, 1), np.int16)
    cf[0, :] = 1            # skull row, outside the brain
    cf[1, :2] = 1           # skull reaching into the cavity: 2 conflict voxels
    cf[5, 0] = 12           # spinal cord voxel inside the cavity: 1 conflict
    cf[5, 3] = 12           # spinal cord outside the cavity
    tissue = np.zeros_like(cf)
    tissue[1:5, :] = 22     # grey matter
    tissue[2:4, 1:3] = 23   # white matter
    tissue[5, 0] = 21       # CSF
    hemi = np.where(tissue > 0, 31, 0).astype(np.int16)
    hemi[3:] = np.where(tissue[3:] > 0, 32, 0)
    hemi[0, 0] = 31         # a stray hemisphere voxel outside the brain mask
    mask = (tissue > 0).astype(np.uint8)
    return grid.with_data(cf), {"tissue": grid.with_data(tissue), "mask": grid.with_data(mask),
                                "hemispheres": grid.with_data(hemi)}


def test_brain_owns_cavity_craniofacial_wins_outside() -> None:
    cf, brain = _case()
    fused = fuse_twin(cf, brain)
    t = fused.twin.data
    tissue = brain["tissue"].data
    inside = brain["mask"].data > 0
    assert np.array_equal(t[inside], tissue[inside])
    assert np.array_equal(t[~inside], cf.data[~inside])
    assert t[1, 0, 0] == 22 and t[5, 0, 0] == 21 and t[0, 2, 0] == 1 and t[5, 3, 0] == 12
    assert fused.report["conflict_voxels"] == 3
    assert fused.report["conflicts"] == {"skull": 2, "spinal_cord": 1}
    assert fused.report["cavity_voxels"] == int(inside.sum())
    assert fused.layers["hemispheres"].data[0, 0, 0] == 0  # cleared outside the cavity
    assert np.array_equal(fused.twin.affine, cf.affine)


def test_cavity_from_layers_when_no_mask() -> None:
    cf, brain = _case()
    del brain["mask"]
    fused = fuse_twin(cf, brain)
    # the stray hemisphere voxel now belongs to the cavity, but no tissue there -> 0
    assert fused.twin.data[0, 0, 0] == 0
    assert fused.report["conflicts"]["skull"] == 3


def test_save_twin_sidecar_names_every_label(tmp_path: Path) -> None:
    cf, brain = _case()
    written = save_twin(fuse_twin(cf, brain), tmp_path / "twin.nii.gz")
    side = json.loads(written["sidecar"].read_text())
    assert side["files"]["twin"]["labels"] == {"1": "skull", "12": "spinal_cord", "21": "csf",
                                               "22": "gray_matter", "23": "white_matter"}
    assert side["files"]["hemispheres"]["labels"] == {"31": "left_hemisphere",
                                                      "32": "right_hemisphere"}
    assert side["fusion"]["rule"] == FUSION_RULE
    back = load_volume(written["twin"])
    assert back.shape == cf.shape and np.allclose(back.affine, cf.affine)


def test_fusion_bad_input() -> None:
    cf, brain = _case()
    with pytest.raises(ValueError, match="one voxel grid"):
        fuse_twin(cf, {"tissue": Volume.from_spacing(np.zeros((6, 5, 1), np.int16))})
    with pytest.raises(ValueError, match="not in the twin labels"):
        fuse_twin(brain["tissue"], brain)
    with pytest.raises(ValueError, match="no brain layer"):
        fuse_twin(cf, {})
