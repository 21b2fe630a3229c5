"""Image-quality metrics over a cine sequence: PSNR, SSIM and HFEN, per frame then averaged.

Project convention, stated: magnitude images (complex inputs are turned into magnitude);
PSNR and SSIM are the project's 2D `core.metrics.psnr` / `ssim` (data_range = max of that
frame's ground truth, SSIM with the 7×7 uniform window) computed on every frame and averaged over
frames, so no window spans time and any number of frames works. HFEN (Ravishankar & Bresler,
IEEE TMI 2011) = ‖LoG(|rec|) − LoG(|gt|)‖₂ / ‖LoG(|gt|)‖₂ per frame, Laplacian of Gaussian with
σ = 1.5 px on a 15 × 15 support (their kernel), averaged over frames. PSNR is inf when every
frame matches exactly.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_laplace

from headtwin_app.core.metrics import psnr, ssim

HFEN_SIGMA = 1.5
HFEN_RADIUS = 7  # 15 × 15 kernel
CONVENTION = ("magnitude; PSNR and SSIM per frame (data_range = max of the frame's ground "
              "truth, SSIM 7x7 window), HFEN per frame (LoG sigma 1.5 px), each averaged over "
              "frames")


def _pair(gt: np.ndarray, rec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gt, rec = np.asarray(gt), np.asarray(rec)
    if gt.shape != rec.shape:
        raise ValueError(f"sequences differ in shape: {gt.shape} vs {rec.shape}")
    if gt.ndim != 3:
        raise ValueError(f"a cine is (nt, ny, nx), got shape {gt.shape}")
    return np.abs(gt).astype(np.float64), np.abs(rec).astype(np.float64)


def _log(frame: np.ndarray) -> np.ndarray:
    return gaussian_laplace(frame, HFEN_SIGMA, truncate=(HFEN_RADIUS + 0.25) / HFEN_SIGMA)


def hfen(gt: np.ndarray, rec: np.ndarray) -> float:
    """High-frequency error norm of one 2D magnitude frame (0 when equal)."""
    g = _log(np.abs(np.asarray(gt)).astype(np.float64))
    denom = float(np.linalg.norm(g))
    if denom == 0:
        raise ValueError("the ground truth frame has no high-frequency content; HFEN undefined")
    return float(np.linalg.norm(_log(np.abs(np.asarray(rec)).astype(np.float64)) - g)) / denom


def sequence_metrics(gt: np.ndarray, rec: np.ndarray) -> dict[str, float]:
    """{"psnr", "ssim", "hfen"} of a reconstructed cine (nt, ny, nx) against its ground truth,
    each the mean over frames (see `CONVENTION`); ValueError on mismatched or non-3D shapes."""
    g, r = _pair(gt, rec)
    return {
        "psnr": float(np.mean([psnr(a, b) for a, b in zip(g, r, strict=True)])),
        "ssim": float(np.mean([ssim(a, b) for a, b in zip(g, r, strict=True)])),
        "hfen": float(np.mean([hfen(a, b) for a, b in zip(g, r, strict=True)])),
    }
