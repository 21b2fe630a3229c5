"""The app's former hand-written CS baseline, kept here only so that `bench_cs.py` can compare
it with sigpy (which replaced it in `core/recon/cs.py`): FISTA with an L1 penalty on
orthogonal wavelet coefficients.

Solves  min_x ½‖M·F·x − k0‖² + λ·s·‖W x‖₁  for complex images x (N, H, W), where F is the
centred orthonormal FFT, M the mask, W an orthogonal Daubechies-4 wavelet (detail bands only,
the approximation band is not penalised) and s the 99th percentile of the zero-filled
magnitude, so λ is relative to the image's intensity. Default λ = 0.004 was chosen on the MNI
training template (cartesian R = 4); step 1 (‖MF‖ = 1). Random cycle spinning (a seeded circular
shift per iteration) removes the blocky artefacts of a single decimated wavelet basis.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
import pywt

from headtwin_app.core.fft import fft2c, ifft2c
from headtwin_app.core.recon.cs import as_stack

DEFAULT_LAMBDA = 0.004
DEFAULT_ITERS = 60
WAVELET = "db4"


def _soft(c: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    mag = np.abs(c)
    return c * (np.maximum(mag - t, 0) / np.maximum(mag, 1e-12))


def _wavelet_prox(x: np.ndarray, thresh: np.ndarray, level: int) -> np.ndarray:
    coeffs = pywt.wavedec2(x, WAVELET, mode="periodization", level=level, axes=(-2, -1))
    t = thresh[:, None, None]
    out = [coeffs[0]] + [tuple(_soft(d, t) for d in band) for band in coeffs[1:]]
    return pywt.waverec2(out, WAVELET, mode="periodization", axes=(-2, -1))


def cs_reconstruct_iter(kspace: np.ndarray, mask: np.ndarray, lam: float = DEFAULT_LAMBDA,
                        n_iter: int = DEFAULT_ITERS, seed: int = 0,
                        ) -> Generator[tuple[int, int], None, np.ndarray]:
    """FISTA L1-wavelet reconstruction of k-space (N, H, W) (or (H, W)) with a (H, W) or
    (N, H, W) mask; yields (iteration, n_iter) as progress (each yield is a point where the
    caller may stop) and returns the complex image(s)."""
    k0, m, squeeze = as_stack(kspace, mask)
    if lam < 0 or n_iter < 0:
        raise ValueError("lam and n_iter must be >= 0")
    h, w = k0.shape[-2:]
    k0 = k0.astype(np.complex128)
    x = ifft2c(k0)
    scale = np.maximum(np.percentile(np.abs(x).reshape(len(x), -1), 99, axis=1), 1e-12)
    level = max(1, min(4, pywt.dwt_max_level(min(h, w), WAVELET)))
    # periodization needs sides divisible by 2**level: pad, prox, crop
    ph, pw = (-h) % (2**level), (-w) % (2**level)
    rng = np.random.default_rng(seed)
    z, t = x.copy(), 1.0
    for it in range(n_iter):
        g = z - ifft2c(m * fft2c(z) - k0)
        sy, sx = rng.integers(0, 8, size=2)
        gp = np.pad(g, ((0, 0), (0, ph), (0, pw)))
        gp = np.roll(gp, (sy, sx), axis=(-2, -1))
        xp = _wavelet_prox(gp, lam * scale, level)
        x_new = np.roll(xp, (-sy, -sx), axis=(-2, -1))[:, :h, :w]
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = x_new + ((t - 1) / t_new) * (x_new - x)
        x, t = x_new, t_new
        yield it + 1, n_iter
    out = x.astype(np.complex64)
    return out[0] if squeeze else out


def cs_reconstruct(kspace: np.ndarray, mask: np.ndarray, lam: float = DEFAULT_LAMBDA,
                   n_iter: int = DEFAULT_ITERS, seed: int = 0) -> np.ndarray:
    """The complex CS image of `kspace` ((H, W) or (N, H, W)); see `cs_reconstruct_iter`."""
    gen = cs_reconstruct_iter(kspace, mask, lam, n_iter, seed)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
