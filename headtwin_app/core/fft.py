"""Centred, orthonormal FFTs: image and k-space energies match (Parseval), DC at the centre."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.fft as sfft

_WORKERS = -1  # use every core; pocketfft releases the GIL


def fftnc(x: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """Centred orthonormal forward FFT over `axes`: fftshift(fftn(ifftshift(x)))."""
    ax = tuple(axes)
    return sfft.fftshift(
        sfft.fftn(sfft.ifftshift(x, axes=ax), axes=ax, norm="ortho", workers=_WORKERS), axes=ax
    )


def ifftnc(k: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """Centred orthonormal inverse FFT over `axes`, the exact inverse of `fftnc`."""
    ax = tuple(axes)
    return sfft.fftshift(
        sfft.ifftn(sfft.ifftshift(k, axes=ax), axes=ax, norm="ortho", workers=_WORKERS), axes=ax
    )


def fft2c(x: np.ndarray) -> np.ndarray:
    """2D centred FFT over the last two axes (ky, kx)."""
    return fftnc(x, (-2, -1))


def ifft2c(k: np.ndarray) -> np.ndarray:
    """2D centred inverse FFT over the last two axes."""
    return ifftnc(k, (-2, -1))


def fft3c(x: np.ndarray) -> np.ndarray:
    """3D centred FFT over the last three axes."""
    return fftnc(x, (-3, -2, -1))


def ifft3c(k: np.ndarray) -> np.ndarray:
    """3D centred inverse FFT over the last three axes."""
    return ifftnc(k, (-3, -2, -1))
