"""The designer logic without Qt: frames, capped families, painting, export."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from headtwin_app.core.mask_designer import (
    DesignerParams,
    MaskDesigner,
    export_frame,
    paint_disc,
    paint_stroke,
)


def volume() -> np.ndarray:
    g = np.meshgrid(*[np.linspace(-1, 1, n) for n in (40, 48, 12)], indexing="ij")
    r2 = g[0] ** 2 + g[1] ** 2 + 0.3 * g[2] ** 2
    return ((r2 < 0.6) * 80.0 + (r2 < 0.2) * 40 + 3).astype(np.float32)


def test_frames_in_2d_and_3d() -> None:
    d = MaskDesigner(volume())
    f2 = d.update(DesignerParams(family="radial", accel=4.0, slice_index=3))
    assert f2.mask.shape == (48, 40) and f2.display["image"].shape == (48, 40)
    assert f2.extra["slice"] == 3 and f2.metrics["ssim"] < 1
    f3 = d.update(DesignerParams(family="radial", accel=4.0, dims=3, slice_index=3))
    assert f3.mask.shape == (48, 12) and f3.display["zero_filled"].shape == (48, 40)
    assert f3.mask_record()["plane"] == "ky,kz"
    assert f3.scan.full_seconds == pytest.approx(48 * 12 * 0.008)


def test_capped_family_is_combined_and_painting_overrides() -> None:
    d = MaskDesigner(volume())
    f = d.update(DesignerParams(family="upper_half", accel=4.0))
    assert f.family_label == "upper_half × random_line"
    assert not f.mask[24:].any()
    painted = paint_disc(f.mask, 24, 20, 3, True)
    g = d.update(DesignerParams(family="upper_half", accel=4.0), painted=painted)
    assert g.extra["painted"] and g.result.accel_achieved < f.result.accel_achieved
    with pytest.raises(ValueError, match="nothing"):
        d.update(DesignerParams(), painted=np.zeros_like(f.mask))


def test_paint_stroke_is_gap_free() -> None:
    m = np.zeros((20, 30), bool)
    s = paint_stroke(m, (5.0, 2.0), (5.0, 27.0), 0, True)
    assert s[5, 2:28].all() and s.sum() == 26
    e = paint_stroke(s, (0.0, 10.0), (19.0, 10.0), 1, False)
    assert not e[:, 9:12].any() and e[5, 2:9].all()
    assert paint_disc(m, -9, -9, 2, True).sum() == 0


def test_export_frame(tmp_path: Path) -> None:
    d = MaskDesigner(volume())
    f = d.update(DesignerParams(family="kmax", accel=2.0, dims=3))
    paths = export_frame(tmp_path, f, np.eye(4))
    mask = np.asarray(nib.load(paths["mask"]).dataobj)
    assert mask.shape == (40, 48, 12) and (mask == mask[:1]).all()
    assert Path(paths["difference_png"]).stat().st_size > 100
