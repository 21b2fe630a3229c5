"""The 2D+t cascade of the dynamic-MRI paper: 3D CNNs over (t, y, x) with per-frame data
consistency (Schlemper et al. 2017's cascade, with the paper's simple and complex blocks).

Simple block (paper §3): four 3×3×3 convolutions and a residual connection. Complex block: one
convolution, a spatial down-sampling, convolutions at half resolution, an up-sampling, a skip
join and a residual connection — eight 3D convolutions in all, as the paper counts them.
Dropout and batch norm are options (the paper's Tables 3 and 5). Data sharing (Schlemper's
DS layer) fills each frame's unsampled k-space with the mean of the sampled values of its ±n
neighbours and feeds that image as two extra channels to every block.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from headtwin_app.core.recon.dc import DataConsistency, fft2c_t, ifft2c_t

BLOCKS = ("simple", "complex")
BOUNDS = {"n_cascades": (0, 32), "width": (1, 256), "data_sharing": (0, 8)}


@dataclass
class CineConfig:
    """The architecture; stored in every checkpoint so a weight file rebuilds its model.

    Args:
        block: "simple" (4 convs) or "complex" (8 convs with one down/up-sampling).
        n_cascades: [CNN → DC] blocks; 0 is the zero-filled sequence through DC.
        width: feature channels (the complex block doubles them at half resolution).
        dropout: 3D dropout rate after each hidden activation (0 = off).
        batch_norm: batch norm after each hidden convolution.
        dc_lambda: initial λ of the soft DC, or None for hard DC (sampled k-space kept).
        learn_lambda: train λ (soft DC only).
        data_sharing: n > 0 adds the ±n-frame data-shared image as two input channels.
    """

    block: str = "simple"
    n_cascades: int = 3
    width: int = 16
    dropout: float = 0.0
    batch_norm: bool = False
    dc_lambda: float | None = None
    learn_lambda: bool = True
    data_sharing: int = 0

    def __post_init__(self) -> None:
        if self.block not in BLOCKS:
            raise ValueError(f"block must be one of {', '.join(BLOCKS)}, got {self.block!r}")
        for name, (lo, hi) in BOUNDS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"{name} must be a whole number in [{lo}, {hi}], got {value!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.dc_lambda is not None and not float(self.dc_lambda) >= 0:
            raise ValueError(f"dc_lambda must be >= 0 or null, got {self.dc_lambda!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> CineConfig:
        if not isinstance(d, dict):
            raise ValueError(f"a cine config is a JSON object, got {type(d).__name__}")
        known = set(CineConfig.__dataclass_fields__)
        return CineConfig(**{k: v for k, v in d.items() if k in known})


def _conv(cin: int, cout: int, cfg: CineConfig) -> list[nn.Module]:
    """A hidden 3×3×3 convolution with its optional batch norm, ReLU and dropout."""
    layers: list[nn.Module] = [nn.Conv3d(cin, cout, 3, padding=1, bias=not cfg.batch_norm)]
    if cfg.batch_norm:
        layers.append(nn.BatchNorm3d(cout))
    layers.append(nn.ReLU(inplace=True))
    if cfg.dropout > 0:
        layers.append(nn.Dropout3d(cfg.dropout))
    return layers


class SimpleBlock(nn.Module):
    """Four 3D convolutions over (t, y, x) and a residual connection on (real, imag)."""

    def __init__(self, cin: int, cfg: CineConfig) -> None:
        super().__init__()
        w = cfg.width
        self.net = nn.Sequential(*_conv(cin, w, cfg), *_conv(w, w, cfg), *_conv(w, w, cfg),
                                 nn.Conv3d(w, 2, 3, padding=1))

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
        inp = x if extra is None else torch.cat((x, extra), 1)
        return x + self.net(inp)


class ComplexBlock(nn.Module):
    """Eight 3D convolutions: 2 at full resolution, a spatial (not temporal) down-sampling, 4
    at half resolution with twice the width, an up-sampling joined with the skip, 2 more."""

    def __init__(self, cin: int, cfg: CineConfig) -> None:
        super().__init__()
        w = cfg.width
        self.enc = nn.Sequential(*_conv(cin, w, cfg), *_conv(w, w, cfg))
        self.down = nn.Conv3d(w, 2 * w, (1, 2, 2), stride=(1, 2, 2))
        self.mid = nn.Sequential(*_conv(2 * w, 2 * w, cfg), *_conv(2 * w, 2 * w, cfg),
                                 *_conv(2 * w, 2 * w, cfg), *_conv(2 * w, 2 * w, cfg))
        self.up = nn.ConvTranspose3d(2 * w, w, (1, 2, 2), stride=(1, 2, 2))
        self.dec = nn.Sequential(*_conv(2 * w, w, cfg), nn.Conv3d(w, 2, 3, padding=1))

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
        inp = x if extra is None else torch.cat((x, extra), 1)
        h, w = inp.shape[-2:]
        ph, pw = h % 2, w % 2  # odd planes: pad one row/column, crop it back
        skip = self.enc(F.pad(inp, (0, pw, 0, ph)) if ph or pw else inp)
        y = self.up(self.mid(self.down(skip)))
        y = self.dec(torch.cat((skip, y), 1))
        return x + y[..., :h, :w]


def to_channels(x: torch.Tensor) -> torch.Tensor:
    """(B, T, H, W) complex → (B, 2, T, H, W) real."""
    return torch.stack((x.real, x.imag), dim=1)


def to_complex(x: torch.Tensor) -> torch.Tensor:
    """(B, 2, T, H, W) real → (B, T, H, W) complex."""
    return torch.complex(x[:, 0].contiguous(), x[:, 1].contiguous())


def data_shared(k0: torch.Tensor, mask: torch.Tensor, n: int) -> torch.Tensor:
    """Image of each frame whose unsampled k-space holds the mean of the sampled values of the
    frames within ±n (cyclic: a cine is periodic); sampled points keep their own value."""
    m = mask.to(k0.real.dtype).expand_as(k0.real)
    total, count = torch.zeros_like(k0), torch.zeros_like(m)
    for s in range(-n, n + 1):
        total = total + torch.roll(k0 * m, s, dims=1)
        count = count + torch.roll(m, s, dims=1)
    shared = total / count.clamp_min(1.0)
    return ifft2c_t(m * k0 + (1 - m) * shared)


class CineCascade(nn.Module):
    """forward(x_zf, k0, mask): complex (B, T, H, W) zero-filled sequence, measured k-space
    (zero where not sampled) and mask broadcastable to it; returns the complex sequence."""

    def __init__(self, config: CineConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or CineConfig()
        cin = 4 if c.data_sharing else 2
        block = SimpleBlock if c.block == "simple" else ComplexBlock
        self.blocks = nn.ModuleList(block(cin, c) for _ in range(c.n_cascades))
        self.dcs = nn.ModuleList(DataConsistency(c.dc_lambda, c.learn_lambda)
                                 for _ in range(max(c.n_cascades, 1)))

    def forward(self, x_zf: torch.Tensor, k0: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if not self.blocks:
            return self.dcs[0](x_zf, k0, mask)
        extra = None
        if self.config.data_sharing:
            extra = to_channels(data_shared(k0, mask, self.config.data_sharing))
        x = x_zf
        for block, dc in zip(self.blocks, self.dcs, strict=True):
            x = dc(to_complex(block(to_channels(x), extra)), k0, mask)
        return x


__all__ = ["CineConfig", "CineCascade", "data_shared", "fft2c_t", "ifft2c_t"]
