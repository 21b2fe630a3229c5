"""Losses of the dynamic-MRI paper for the 2D+t cascade: MSE, the Sobel edge loss (eq. 2) and a
feature ("perceptual", eq. 3) loss — the latter with an encoder the app trains on its own images,
or a frozen random-weight VGG-16-shaped control. No downloadable VGG weights exist here, so this
is *not* the paper's VGG perceptual loss; the control shows whether training the encoder matters.

Norms are means over pixels (or feature elements) — the same constant per term, so eq. 2 and 3
keep their α balance. Feature maps are scaled by a constant fixed when the encoder is built, so
that the target's features have the energy of the target image: trained and random encoders
then weigh the same in eq. 3.
"""

from __future__ import annotations

import torch
from torch import nn

from headtwin_app.core.recon.train import sobel_edges

LOSSES = ("mse", "edge", "feature", "random_feature")
ALPHA = 0.2  # the paper's α, tuned on its validation set
EDGE_START = 100  # eq. 2: the edge term is switched on at this iteration


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over (real, imag) of complex sequences."""
    return (torch.view_as_real(pred) - torch.view_as_real(target)).pow(2).mean()


def _frames(x: torch.Tensor) -> torch.Tensor:
    """(B, T, H, W) → (B·T, H, W) magnitudes."""
    return x.abs().reshape(-1, *x.shape[-2:])


def edge_loss(pred: torch.Tensor, target: torch.Tensor, iteration: int,
              alpha: float = ALPHA, start: int = EDGE_START) -> torch.Tensor:
    """Eq. 2: ‖o − g‖² before iteration `start`, then (1 − α)‖o − g‖² + α‖S(o) − S(g)‖² with S
    the Sobel gradient magnitude of each frame's magnitude."""
    base = mse(pred, target)
    if iteration < start:
        return base
    edges = sobel_edges(_frames(pred)) - sobel_edges(_frames(target))
    return (1 - alpha) * base + alpha * edges.pow(2).mean()


class FeatureEncoder(nn.Module):
    """VGG-shaped encoder of 1-channel magnitude frames: [conv, conv, pool, conv, conv] with
    ReLUs; `features` returns both blocks' outputs, times `scale`."""

    scale: torch.Tensor

    def __init__(self, widths: tuple[int, int] = (16, 32)) -> None:
        super().__init__()
        a, b = widths
        self.widths = widths
        self.block1 = nn.Sequential(nn.Conv2d(1, a, 3, padding=1), nn.ReLU(),
                                    nn.Conv2d(a, a, 3, padding=1), nn.ReLU())
        self.block2 = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(a, b, 3, padding=1), nn.ReLU(),
                                    nn.Conv2d(b, b, 3, padding=1), nn.ReLU())
        self.register_buffer("scale", torch.ones(2))

    def features(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """(N, H, W) magnitudes → the two blocks' feature maps, scaled."""
        f1 = self.block1(frames[:, None])
        f2 = self.block2(f1)
        return [f1 * self.scale[0], f2 * self.scale[1]]

    @torch.no_grad()
    def calibrate(self, frames: torch.Tensor) -> None:
        """Set `scale` so each block's features of `frames` have the frames' mean energy."""
        self.scale.fill_(1.0)
        energy = frames.pow(2).mean()
        for i, f in enumerate(self.features(frames)):
            self.scale[i] = torch.sqrt(energy / f.pow(2).mean().clamp_min(1e-12))


def random_vgg16_control(seed: int = 0) -> FeatureEncoder:
    """The control: VGG-16's first two blocks (64 and 128 channels) with frozen random weights
    (PyTorch's default initialisation, seeded) — features that no training shaped."""
    gen = torch.random.fork_rng()
    with gen:
        torch.manual_seed(seed)
        enc = FeatureEncoder((64, 128))
    return frozen(enc)


def frozen(enc: FeatureEncoder) -> FeatureEncoder:
    """`enc` in eval mode with no trainable parameters."""
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc.eval()


def feature_loss(pred: torch.Tensor, target: torch.Tensor, encoder: FeatureEncoder,
                 alpha: float = ALPHA) -> torch.Tensor:
    """Eq. 3: (1 − α)‖o − g‖² + α Σ_blocks ‖F(o) − F(g)‖² on the frames' magnitudes."""
    fo, fg = encoder.features(_frames(pred)), encoder.features(_frames(target))
    feat = sum((a - b.detach()).pow(2).mean() for a, b in zip(fo, fg, strict=True))
    return (1 - alpha) * mse(pred, target) + alpha * feat


def cine_loss(kind: str, pred: torch.Tensor, target: torch.Tensor, iteration: int,
              encoder: FeatureEncoder | None = None, alpha: float = ALPHA,
              edge_start: int = EDGE_START) -> torch.Tensor:
    """One entry point for the four training losses (`LOSSES`)."""
    if kind == "mse":
        return mse(pred, target)
    if kind == "edge":
        return edge_loss(pred, target, iteration, alpha, edge_start)
    if kind in ("feature", "random_feature"):
        if encoder is None:
            raise ValueError(f"loss {kind!r} needs a feature encoder")
        return feature_loss(pred, target, encoder, alpha)
    raise ValueError(f"unknown loss {kind!r}; choose one of: {', '.join(LOSSES)}")
