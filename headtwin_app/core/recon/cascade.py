"""The deep cascade CNN of Schlemper et al. (2017): n × [residual CNN → data consistency]."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from headtwin_app.core.recon.dc import DataConsistency

BOUNDS = {"n_cascades": (0, 64), "n_convs": (2, 32), "width": (1, 512)}
"""Architecture limits: far above any useful model, low enough that a config (e.g. inside an
untrusted checkpoint) can never ask for gigabytes of weights."""


@dataclass
class CascadeConfig:
    """The architecture; stored inside every checkpoint so a weight file rebuilds its model.

    Args:
        n_cascades: number of [CNN → DC] blocks; 0 is the zero-filled image passed through DC.
        n_convs: 3×3 convolutions per CNN (≥ 2).
        width: feature channels of the hidden convolutions.
        dc_lambda: initial λ of the soft DC, or None for hard DC (λ → ∞).
        learn_lambda: train λ (soft DC only).
        normalisation: how inputs are scaled before the network ("p99": the 99th percentile of
            the zero-filled magnitude per slice; "max": its maximum).
    """

    n_cascades: int = 5
    n_convs: int = 5
    width: int = 32
    dc_lambda: float | None = None
    learn_lambda: bool = True
    normalisation: str = "p99"

    def __post_init__(self) -> None:
        for name in ("n_cascades", "n_convs", "width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
        if self.dc_lambda is not None and (isinstance(self.dc_lambda, bool) or
                                           not isinstance(self.dc_lambda, (int, float))):
            raise ValueError(f"dc_lambda must be a number or null, got {self.dc_lambda!r}")
        for name, (lo, hi) in BOUNDS.items():
            if not lo <= getattr(self, name) <= hi:
                raise ValueError(f"{name} must be in [{lo}, {hi}], got {getattr(self, name)}")
        if self.normalisation not in ("p99", "max"):
            raise ValueError(f"normalisation must be 'p99' or 'max', got {self.normalisation!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> CascadeConfig:
        if not isinstance(d, dict):
            raise ValueError(f"a cascade config is a JSON object, got {type(d).__name__}")
        known = set(CascadeConfig.__dataclass_fields__)
        return CascadeConfig(**{k: v for k, v in d.items() if k in known})


class ResidualCNN(nn.Module):
    """n_convs 3×3 convolutions (ReLU between) on the 2-channel (real, imag) image, plus input."""

    def __init__(self, n_convs: int, width: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(2, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(n_convs - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, 2, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


def complex_to_channels(x: torch.Tensor) -> torch.Tensor:
    """(B, H, W) complex → (B, 2, H, W) real."""
    return torch.stack((x.real, x.imag), dim=1)


def channels_to_complex(x: torch.Tensor) -> torch.Tensor:
    """(B, 2, H, W) real → (B, H, W) complex."""
    return torch.complex(x[:, 0].contiguous(), x[:, 1].contiguous())


class CascadeNet(nn.Module):
    """Deep cascade of residual CNNs interleaved with data-consistency layers.

    forward(x_zf, k0, mask): x_zf complex zero-filled image (B, H, W), k0 measured k-space
    (B, H, W), mask broadcastable to (B, H, W); returns the complex image (B, H, W).
    """

    def __init__(self, config: CascadeConfig | None = None) -> None:
        super().__init__()
        self.config = config or CascadeConfig()
        c = self.config
        self.cnns = nn.ModuleList(ResidualCNN(c.n_convs, c.width) for _ in range(c.n_cascades))
        n_dc = max(c.n_cascades, 1)
        self.dcs = nn.ModuleList(
            DataConsistency(c.dc_lambda, c.learn_lambda) for _ in range(n_dc)
        )

    def forward(self, x_zf: torch.Tensor, k0: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if not self.cnns:
            return self.dcs[0](x_zf, k0, mask)
        x = x_zf
        for cnn, dc in zip(self.cnns, self.dcs, strict=True):
            x = channels_to_complex(cnn(complex_to_channels(x)))
            x = dc(x, k0, mask)
        return x


def truncated(model: CascadeNet, n_cascades: int) -> CascadeNet:
    """A model that runs only the first `n_cascades` blocks of `model` (sharing its weights);
    0 gives the zero-filled image through hard/soft DC."""
    n = model.config.n_cascades
    if not 0 <= n_cascades <= n:
        raise ValueError(f"this model has {n} cascades; asked for {n_cascades}")
    if n_cascades == n:
        return model
    cfg = CascadeConfig.from_dict({**model.config.to_dict(), "n_cascades": n_cascades})
    out = CascadeNet(cfg)
    out.cnns = nn.ModuleList(list(model.cnns)[:n_cascades])
    if n_cascades:
        out.dcs = nn.ModuleList(list(model.dcs)[:n_cascades])
    else:
        out.dcs = nn.ModuleList([model.dcs[0]])
    dev = next(iter(model.parameters()), torch.zeros(0)).device
    return out.to(dev).eval()
