"""Cine metrics: PSNR/SSIM per frame (project convention) and HFEN."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from headtwin_app.core.recon.cine_metrics import hfen, sequence_metrics


def _cine(nt: int = 4, n: int = 32) -> np.ndarray:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:n, :n] - n / 2
    out = []
    for t in range(nt):
        r = 0.3 * n + 2 * np.sin(2 * np.pi * t / nt)
        img = (x**2 + y**2 < r**2).astype(np.float32)
        img[n // 4:n // 3, n // 4:3 * n // 4] = 0.5
        out.append(img + 0.05 * rng.random((n, n), dtype=np.float32))
    return np.stack(out)


def test_identical_sequences() -> None:
    gt = _cine()
    m = sequence_metrics(gt, gt.copy())
    assert math.isinf(m["psnr"])
    assert m["ssim"] == pytest.approx(1.0)
    assert m["hfen"] == 0.0


def test_blur_raises_hfen_and_noise_lowers_psnr() -> None:
    gt = _cine()
    blurred = np.stack([gaussian_filter(f, 1.0) for f in gt])
    more_blurred = np.stack([gaussian_filter(f, 2.0) for f in gt])
    assert 0 < sequence_metrics(gt, blurred)["hfen"] < sequence_metrics(gt, more_blurred)["hfen"]
    rng = np.random.default_rng(1)
    a = sequence_metrics(gt, gt + 0.01 * rng.standard_normal(gt.shape).astype(np.float32))
    b = sequence_metrics(gt, gt + 0.05 * rng.standard_normal(gt.shape).astype(np.float32))
    assert b["psnr"] < a["psnr"] < math.inf
    assert b["ssim"] < a["ssim"] < 1.0


def test_complex_input_is_magnitude() -> None:
    gt = _cine()
    rec = gt * np.exp(1j * 0.7).astype(np.complex64)
    assert sequence_metrics(gt, rec)["psnr"] > 100
    assert hfen(gt[0], rec[0]) == pytest.approx(0.0, abs=1e-6)


def test_bad_shapes() -> None:
    gt = _cine()
    with pytest.raises(ValueError, match="differ in shape"):
        sequence_metrics(gt, gt[:, :-1])
    with pytest.raises(ValueError, match="nt, ny, nx"):
        sequence_metrics(gt[0], gt[0])
