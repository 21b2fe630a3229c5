"""The acquisition effects laid over the phantom's noise-free signal (`sequences.py`): partial
volume (blur), tissue texture, smooth bias field and Rician noise. All skeletal muscles share one
tissue class, so neighbouring muscles cannot be told apart by intensity alone, as in real MR.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def smooth_noise(shape: tuple[int, int, int], rng: np.random.Generator, cell: float,
                 amplitude: float) -> np.ndarray:
    """Zero-mean smooth random field of std ≈ `amplitude` with correlation length ≈ `cell`
    voxels, made on a coarse grid and linearly upsampled (cheap for large volumes)."""
    step = max(1, int(cell // 2))
    coarse_shape = tuple(int(np.ceil(s / step)) + 2 for s in shape)
    coarse = rng.standard_normal(coarse_shape).astype(np.float32)
    coarse = ndimage.gaussian_filter(coarse, cell / step / 2.0, mode="wrap")
    coarse *= amplitude / max(float(coarse.std()), 1e-6)
    zoom = [(c - 1) / (s - 1) if s > 1 else 1.0 for c, s in zip(coarse_shape, shape, strict=True)]
    grids = [np.arange(s, dtype=np.float32) * z for s, z in zip(shape, zoom, strict=True)]
    return _separable_linear(coarse, grids)


def _separable_linear(coarse: np.ndarray, grids: list[np.ndarray]) -> np.ndarray:
    """Evaluate a coarse grid at fractional indices given per axis (separable linear)."""
    out = coarse
    for ax, g in enumerate(grids):
        i0 = np.clip(np.floor(g).astype(np.int64), 0, out.shape[ax] - 2)
        f = (g - i0).astype(np.float32)
        a = np.take(out, i0, axis=ax)
        b = np.take(out, i0 + 1, axis=ax)
        shp = [1] * out.ndim
        shp[ax] = -1
        f = f.reshape(shp)
        out = a * (1 - f) + b * f
    return out.astype(np.float32)


def bias_field(shape: tuple[int, int, int], spacing: float, rng: np.random.Generator,
               strength: float) -> np.ndarray:
    """Smooth multiplicative receive-coil bias: exp of a ~80 mm-correlated field plus a linear
    gradient, mean ≈ 1, spread about ±`strength`."""
    field = smooth_noise(shape, rng, 80.0 / spacing, strength * 0.6)
    g = rng.normal(0.0, strength * 0.5, 3) / np.asarray(shape, dtype=float)
    for ax in range(3):
        shp = [1, 1, 1]
        shp[ax] = -1
        ramp = (np.arange(shape[ax], dtype=np.float32) - shape[ax] / 2.0) * np.float32(g[ax])
        field += ramp.reshape(shp)
    return np.exp(field, out=field)


def rician_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the image plus complex Gaussian noise of std `sigma` per channel."""
    re = rng.standard_normal(image.shape, dtype=np.float32)
    re *= np.float32(sigma)
    re += image
    im = rng.standard_normal(image.shape, dtype=np.float32)
    im *= np.float32(sigma)
    np.square(re, out=re)
    np.square(im, out=im)
    re += im
    return np.sqrt(re, out=re)


def partial_volume(canon: np.ndarray, spacing: float) -> np.ndarray:
    """Blur the 1 mm canonical intensities so that sampling them at `spacing` mixes tissues at
    boundaries like a voxel of that size does (sigma ≈ FWHM/2.355 of a box of `spacing` mm)."""
    sigma = max(0.45, 0.45 * spacing)
    return ndimage.gaussian_filter(canon, sigma, truncate=2.5)
