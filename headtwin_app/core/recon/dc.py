"""Data consistency in k-space and the centred orthonormal FFTs in torch.

Soft DC (noisy data, λ ≥ 0):  k = (1−m)·k_cnn + m·(k_cnn + λ·k0)/(1+λ)
Hard DC (λ → ∞):             k = (1−m)·k_cnn + m·k0
"""

from __future__ import annotations

import torch
from torch import nn


def fft2c_t(x: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2D FFT over the last two axes of a complex tensor."""
    dims = (-2, -1)
    return torch.fft.fftshift(
        torch.fft.fft2(torch.fft.ifftshift(x, dim=dims), norm="ortho"), dim=dims
    )


def ifft2c_t(k: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2D inverse FFT, the exact inverse of `fft2c_t`."""
    dims = (-2, -1)
    return torch.fft.fftshift(
        torch.fft.ifft2(torch.fft.ifftshift(k, dim=dims), norm="ortho"), dim=dims
    )


class DataConsistency(nn.Module):
    """Replace (hard) or blend (soft) the sampled k-space points with the measured ones.

    Args:
        lam: initial λ of the soft DC; None means hard replacement (λ → ∞).
        learnable: whether λ is a trained parameter (soft DC only). λ is kept ≥ 0 by
            using |λ|.
    """

    def __init__(self, lam: float | None = None, learnable: bool = True) -> None:
        super().__init__()
        self.hard = lam is None
        if lam is not None:
            if lam < 0:
                raise ValueError(f"DC weight λ must be >= 0, got {lam:g}")
            value = torch.tensor(float(lam))
            if learnable:
                self.lam = nn.Parameter(value)
            else:
                self.register_buffer("lam", value)

    def forward(self, x: torch.Tensor, k0: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Args:
            x: complex image (B, H, W) from the CNN.
            k0: measured complex k-space (B, H, W), zero where not sampled.
            mask: sampling mask broadcastable to (B, H, W), 1 where sampled (float or bool).
        Returns:
            the complex image (B, H, W) after data consistency.
        """
        k = fft2c_t(x)
        m = mask.to(k.real.dtype)
        if self.hard:
            k_dc = (1 - m) * k + m * k0
        else:
            lam = self.lam.abs()
            k_dc = (1 - m) * k + m * (k + lam * k0) / (1 + lam)
        return ifft2c_t(k_dc)
