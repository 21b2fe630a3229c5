"""Image-quality metrics with the project's conventions (see docs/design.md, "Metrics").

- Inputs are magnitude images (2D, or whole 3D volumes); the ground truth comes first.
- PSNR: ``skimage.metrics.peak_signal_noise_ratio(gt, rec, data_range=gt.max())``.
- SSIM: ``skimage.metrics.structural_similarity(gt, rec, data_range=gt.max())``: 7-pixel
  uniform window (7×7 in 2D, 7×7×7 for a volume), K1 = 0.01, K2 = 0.03, sample covariance,
  mean over the image cropped by 3 pixels (the fastMRI convention).
- NMSE: ``‖gt − rec‖² / ‖gt‖²`` (fastMRI).

`psnr`, `ssim` and `nmse` call scikit-image on float64 copies and are the reference.
`MetricReference` computes the same numbers faster when one ground truth is compared with many
reconstructions (the live designer, sweeps): it caches the ground truth's window statistics and
computes only the windows fully inside the image, which are the only ones SSIM averages; it
agrees with scikit-image to 1e-6 (tests/core/test_metrics.py).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.ndimage import uniform_filter1d
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

WIN = 7
K1, K2 = 0.01, 0.03
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ssim")  # ndimage releases the GIL


def _pair(gt: np.ndarray, rec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gt, rec = np.asarray(gt), np.asarray(rec)
    if gt.shape != rec.shape:
        raise ValueError(f"images differ in shape: {gt.shape} vs {rec.shape}")
    if gt.ndim not in (2, 3):
        raise ValueError(f"metrics take 2D images or 3D volumes, got shape {gt.shape}")
    if np.iscomplexobj(gt) or np.iscomplexobj(rec):
        raise ValueError("metrics take magnitude images; pass np.abs(...) of complex data")
    return gt, rec


def data_range_of(gt: np.ndarray) -> float:
    """The data range used by PSNR and SSIM: max(ground truth), which must be > 0."""
    dr = float(np.max(gt))
    if not dr > 0:
        raise ValueError("the ground truth's maximum is not positive; PSNR/SSIM undefined")
    return dr


def psnr(gt: np.ndarray, rec: np.ndarray) -> float:
    """PSNR in dB with data_range = max(gt); inf when the images are equal."""
    gt, rec = _pair(gt, rec)
    g, r = gt.astype(np.float64), rec.astype(np.float64)
    if np.array_equal(g, r):
        return math.inf
    return float(peak_signal_noise_ratio(g, r, data_range=data_range_of(gt)))


def ssim(gt: np.ndarray, rec: np.ndarray) -> float:
    """SSIM (scikit-image defaults, 7-pixel uniform window, data_range = max(gt))."""
    gt, rec = _pair(gt, rec)
    if min(gt.shape) < WIN:
        raise ValueError(f"SSIM needs every side >= {WIN} pixels, got shape {gt.shape}")
    g, r = gt.astype(np.float64), rec.astype(np.float64)
    return float(structural_similarity(g, r, data_range=data_range_of(gt)))


def nmse(gt: np.ndarray, rec: np.ndarray) -> float:
    """Normalised MSE ‖gt − rec‖² / ‖gt‖²."""
    gt, rec = _pair(gt, rec)
    g, r = gt.astype(np.float64), rec.astype(np.float64)
    denom = float(np.vdot(g, g).real)
    if denom == 0:
        raise ValueError("the ground truth is all zeros; NMSE undefined")
    d = g - r
    return float(np.vdot(d, d).real / denom)


def _box_valid(a: np.ndarray, dtype: type) -> np.ndarray:
    """Mean over every WIN-sided window lying fully inside `a` (shape n − WIN + 1 per axis):
    equal to scipy's uniform_filter cropped by WIN // 2, whatever its border mode."""
    pad = WIN // 2
    out = a
    for ax in reversed(range(1, a.ndim)):  # contiguous axes first, the array shrinks as we go
        out = uniform_filter1d(out, WIN, axis=ax, output=dtype, mode="nearest")
        index = [slice(None)] * a.ndim
        index[ax] = slice(pad, out.shape[ax] - pad)
        out = out[tuple(index)]
    # axis 0 (the large stride): a running sum of shifted slabs is cache-friendly
    # (accumulated in float64, rounded once, like scipy's own double line buffers)
    n = out.shape[0] - WIN + 1
    if out.ndim == 2:  # small: shifted rows
        acc = out[:n].astype(np.float64)
        for k in range(1, WIN):
            acc += out[k:k + n]
        acc *= 1.0 / WIN
        return acc.astype(dtype, copy=False)
    # volumes: a running sum, one plane at a time, stays in cache
    res = np.empty((n,) + out.shape[1:], dtype=dtype)
    acc = out[:WIN].sum(axis=0, dtype=np.float64)
    np.multiply(acc, 1.0 / WIN, out=res[0], casting="same_kind")
    for i in range(1, n):
        acc += out[i + WIN - 1]
        acc -= out[i - 1]
        np.multiply(acc, 1.0 / WIN, out=res[i], casting="same_kind")
    return res


class MetricReference:
    """A ground truth prepared for repeated PSNR/SSIM/NMSE against many reconstructions.

    Args:
        gt: magnitude ground truth, 2D or 3D, every side >= 7.
        float32: window sums stored as float32 (faster on volumes; the sums themselves run
            in double inside scipy). Default: float32 for volumes, float64 for 2D.
    """

    def __init__(self, gt: np.ndarray, float32: bool | None = None) -> None:
        gt = np.asarray(gt)
        if gt.ndim not in (2, 3) or np.iscomplexobj(gt):
            raise ValueError(f"ground truth must be a 2D/3D magnitude image, got {gt.shape}")
        if min(gt.shape) < WIN:
            raise ValueError(f"SSIM needs every side >= {WIN} pixels, got shape {gt.shape}")
        self.shape = gt.shape
        self.dtype = np.float32 if (gt.ndim == 3 if float32 is None else float32) else np.float64
        self.gt: np.ndarray = gt.astype(self.dtype, copy=False)
        self.data_range = data_range_of(gt)
        g64 = gt.astype(np.float64)
        self._gt_energy = float(np.vdot(g64, g64).real)
        self._ux = _box_valid(self.gt, self.dtype)
        self._uxx = _box_valid(self.gt * self.gt, self.dtype)
        self._cov_norm = WIN**gt.ndim / (WIN**gt.ndim - 1.0)

    def _check(self, rec: np.ndarray) -> np.ndarray:
        rec = np.asarray(rec)
        if rec.shape != self.shape:
            raise ValueError(f"reconstruction shape {rec.shape} != ground truth {self.shape}")
        return rec.astype(self.dtype, copy=False)

    def _sq_error(self, rec: np.ndarray, diff: np.ndarray | None = None) -> float:
        d = rec - self.gt if diff is None else diff
        # np.sum, not BLAS dot: no thread start-up on small images, float64 accumulation
        return float(np.sum(np.square(d, dtype=np.float64)))

    def psnr(self, rec: np.ndarray) -> float:
        rec = self._check(rec)
        mse = self._sq_error(rec) / rec.size
        return math.inf if mse == 0 else 10.0 * math.log10(self.data_range**2 / mse)

    def nmse(self, rec: np.ndarray) -> float:
        if self._gt_energy == 0:
            raise ValueError("the ground truth is all zeros; NMSE undefined")
        return self._sq_error(self._check(rec)) / self._gt_energy

    def _ssim_sum(self, y: np.ndarray, start: int, stop: int) -> float:
        """Sum of the SSIM map over valid rows [start, stop) along axis 0."""
        dt, pad2 = self.dtype, WIN - 1
        yc = y[start:stop + pad2]
        gc = self.gt[start:stop + pad2]
        uy = _box_valid(yc, dt)
        uyy = _box_valid(yc * yc, dt)
        uxy = _box_valid(gc * yc, dt)
        ux, uxx, cn = self._ux[start:stop], self._uxx[start:stop], self._cov_norm
        c1 = (K1 * self.data_range) ** 2
        c2 = (K2 * self.data_range) ** 2
        uxuy = ux * uy
        uyy -= uy * uy  # → variance of y (before cov_norm)
        uxy -= uxuy  # → covariance
        uy *= uy
        uy += ux * ux
        uy += c1  # B1 = ux² + uy² + C1
        num = uxuy
        num *= 2
        num += c1  # A1
        uxy *= 2 * cn
        uxy += c2  # A2
        num *= uxy
        uyy *= cn
        uyy += cn * (uxx - ux * ux)
        uyy += c2  # B2
        uy *= uyy  # D
        num /= uy
        return float(np.sum(num, dtype=np.float64))

    def ssim(self, rec: np.ndarray) -> float:
        """SSIM of `rec` against the ground truth (same value as `ssim(gt, rec)`)."""
        y = self._check(rec)
        n_valid = self._ux.shape[0]
        if y.size < 1_000_000:
            total = self._ssim_sum(y, 0, n_valid)
        else:  # slabs along axis 0, in threads (scipy.ndimage and numpy release the GIL)
            step = max(8, n_valid // 8)
            jobs = [_POOL.submit(self._ssim_sum, y, a, min(a + step, n_valid))
                    for a in range(0, n_valid, step)]
            total = sum(j.result() for j in jobs)
        return total / self._ux.size

    def all(self, rec: np.ndarray, diff: np.ndarray | None = None) -> dict[str, float]:
        """{"psnr", "ssim", "nmse"} of `rec` against the ground truth; `diff` (rec − gt), if
        already computed, saves a pass."""
        rec = self._check(rec)
        sq = self._sq_error(rec, diff)
        mse = sq / rec.size
        return {
            "psnr": math.inf if mse == 0 else 10.0 * math.log10(self.data_range**2 / mse),
            "ssim": self.ssim(rec),
            "nmse": sq / self._gt_energy if self._gt_energy else math.nan,
        }
