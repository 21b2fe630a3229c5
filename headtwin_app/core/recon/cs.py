"""Compressed-sensing baseline: sigpy's L1-wavelet reconstruction, one slice at a time.

Solves  min_x ½‖M·F·x − y‖² + λ‖W x‖₁  (sigpy `mri.app.L1WaveletRecon`: single coil with unit
sensitivity, Daubechies-4 wavelet, its proximal gradient solver) on each slice scaled so that
its zero-filled 99th percentile is 1, so λ is relative to the image's intensity. Default
λ = 0.005: the best of a grid on held-out tuning images at cartesian R 4 (benchmarks/bench_cs.py,
where sigpy also beat the FISTA solver this module used to hold by 0.9 dB PSNR).
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from headtwin_app.core.fft import ifft2c

DEFAULT_LAMBDA = 0.005
DEFAULT_ITERS = 60


def as_stack(kspace: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """k-space as an (N, H, W) stack with the mask applied, the mask broadcast to it, and
    whether the input was a single (H, W) slice. ValueError on bad shapes."""
    k = np.asarray(kspace)
    squeeze = k.ndim == 2
    if squeeze:
        k = k[None]
    if k.ndim != 3:
        raise ValueError(f"k-space must be (H, W) or (N, H, W), got shape {np.shape(kspace)}")
    m = np.asarray(mask, dtype=bool)
    if m.shape == k.shape[-2:]:
        m = np.broadcast_to(m, k.shape)
    if m.shape != k.shape:
        raise ValueError(f"mask {m.shape} does not match the k-space {k.shape}")
    return (k * m).astype(np.complex64), m, squeeze


def preload() -> None:
    """Import sigpy and let numba compile its kernels ahead of the first CS job (one tiny
    solve): that takes about 2 s and holds the GIL in bursts of up to ~0.3 s, which a GUI
    wants to pay while idle, not during a reconstruction."""
    k = np.zeros((1, 8, 8), np.complex64)
    k[0, 4, 4] = 1.0
    for _ in cs_reconstruct_iter(k, np.ones((8, 8), bool), n_iter=1):
        pass


def cs_reconstruct_iter(kspace: np.ndarray, mask: np.ndarray, lam: float = DEFAULT_LAMBDA,
                        n_iter: int = DEFAULT_ITERS,
                        ) -> Generator[tuple[int, int], None, np.ndarray]:
    """L1-wavelet reconstruction of k-space (N, H, W) (or (H, W)) with a (H, W) or (N, H, W)
    mask; yields (iterations done, iterations in all) after every solver iteration (each yield
    is a point where the caller may stop) and returns the complex image(s)."""
    import sigpy.mri.app as mri

    k0, m, squeeze = as_stack(kspace, mask)
    if lam < 0 or n_iter < 1:
        raise ValueError("need lam >= 0 and n_iter >= 1")
    out = np.empty(k0.shape, np.complex64)
    total, done = n_iter * len(k0), 0
    for i in range(len(k0)):
        scale = max(float(np.percentile(np.abs(ifft2c(k0[i])), 99)), 1e-12)
        y = (k0[i] / scale)[None]
        app = mri.L1WaveletRecon(y, np.ones_like(y), lam, weights=m[i].astype(np.float32),
                                 wave_name="db4", max_iter=n_iter, show_pbar=False)
        while not app.alg.done():
            app.alg.update()
            done += 1
            yield done, total
        out[i] = np.asarray(app.x) * scale
        done = (i + 1) * n_iter
    return out[0] if squeeze else out


def cs_reconstruct(kspace: np.ndarray, mask: np.ndarray, lam: float = DEFAULT_LAMBDA,
                   n_iter: int = DEFAULT_ITERS) -> np.ndarray:
    """The complex CS image of `kspace` ((H, W) or (N, H, W)); see `cs_reconstruct_iter`."""
    gen = cs_reconstruct_iter(kspace, mask, lam, n_iter)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
