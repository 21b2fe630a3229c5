"""Metrics equal scikit-image on the same input (to 1e-6), in 2D and on whole volumes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from headtwin_app.core import metrics as Mt


def _pair(shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gt = rng.random(shape).astype(np.float32) * 100
    gt[..., : shape[-1] // 4] = 0  # a dark background like MR
    rec = np.abs(gt + rng.normal(0, 8, shape)).astype(np.float32)
    return gt, rec


@pytest.mark.parametrize("shape", [(64, 64), (40, 56), (32, 32, 24), (20, 33, 17)])
def test_reference_functions_equal_skimage(shape: tuple[int, ...]) -> None:
    gt, rec = _pair(shape)
    g, r = gt.astype(np.float64), rec.astype(np.float64)
    dr = g.max()
    assert Mt.psnr(gt, rec) == pytest.approx(peak_signal_noise_ratio(g, r, data_range=dr), abs=1e-6)
    assert Mt.ssim(gt, rec) == pytest.approx(structural_similarity(g, r, data_range=dr), abs=1e-6)
    assert Mt.nmse(gt, rec) == pytest.approx(np.sum((g - r) ** 2) / np.sum(g**2), abs=1e-9)


@pytest.mark.parametrize("shape", [(64, 64), (40, 56), (32, 32, 24), (20, 33, 17)])
@pytest.mark.parametrize("float32", [None, True, False])
def test_fast_reference_equals_skimage(shape: tuple[int, ...], float32: bool | None) -> None:
    gt, rec = _pair(shape, seed=1)
    ref = Mt.MetricReference(gt, float32=float32)
    got = ref.all(rec)
    assert got["ssim"] == pytest.approx(Mt.ssim(gt, rec), abs=1e-6)
    assert got["psnr"] == pytest.approx(Mt.psnr(gt, rec), abs=1e-6)
    assert got["nmse"] == pytest.approx(Mt.nmse(gt, rec), rel=1e-6)
    assert ref.ssim(rec) == pytest.approx(got["ssim"], abs=1e-12)


def test_large_volume_uses_slabs_and_still_agrees() -> None:
    gt, rec = _pair((110, 100, 96), seed=2)  # > 1e6 voxels: threaded slabs
    assert Mt.MetricReference(gt).ssim(rec) == pytest.approx(Mt.ssim(gt, rec), abs=1e-6)


def test_identical_images() -> None:
    gt, _ = _pair((32, 32))
    assert Mt.psnr(gt, gt) == math.inf
    assert Mt.MetricReference(gt).psnr(gt) == math.inf
    assert Mt.ssim(gt, gt) == pytest.approx(1.0)
    assert Mt.nmse(gt, gt) == 0.0


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="shape"):
        Mt.psnr(np.ones((8, 8)), np.ones((8, 9)))
    with pytest.raises(ValueError, match="maximum"):
        Mt.ssim(np.zeros((16, 16)), np.zeros((16, 16)))
    with pytest.raises(ValueError, match="7"):
        Mt.MetricReference(np.ones((5, 30)))
    with pytest.raises(ValueError, match="magnitude"):
        Mt.psnr(np.ones((8, 8)), np.ones((8, 8), complex))
