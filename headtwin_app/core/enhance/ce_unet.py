"""The Context-Enhanced U-Net of the all-in-one paper (§2.3): a residual U-Net whose bottleneck
is modulated by the context vector, so one network serves every degradation and NRF.

Variants (the paper's and two ablations), all with the same U-Net:
- "ce": the Dynamic Modulation Pathway — an MLP turns the context into per-sample 3×3
  depthwise kernels and biases for the bottleneck channels (a hypernetwork), applied as one
  grouped convolution over the batch, then a learned 1×1 mix, added to the bottleneck;
- "film": the MLP gives a per-channel scale and shift of the bottleneck (FiLM);
- "plain": the same block as "ce" with static kernels; the context is not read.
The 2D network takes one slice, the 3D network 7 adjacent slices; both output the middle slice
as input + correction. With `nrf_map` the log NRF is also given as a constant full-resolution
input channel (FFDNet's noise-level map), so the amount of denoising can be steered pixel by
pixel and not only through the bottleneck.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from headtwin_app.core.enhance.context import CONTEXT_SIZE

VARIANTS = ("ce", "film", "plain")
IN_SLICES = (1, 7)
BOUNDS = {"width": (1, 128), "depth": (1, 6), "hidden": (1, 1024),
          "context_size": (1, 256)}
"""Architecture limits: above any useful model, low enough that a config inside an untrusted
checkpoint can never ask for gigabytes of weights."""


@dataclass
class EnhanceConfig:
    """The architecture; stored inside every checkpoint so a weight file rebuilds its model.

    Args:
        variant: "ce" (dynamic kernels from the context), "film" (scale and shift) or "plain".
        in_slices: 1 (2D network) or 7 (3D network: 7 adjacent slices in, the middle one out).
        width: channels of the first block (doubled at every down stage).
        depth: number of down (and up) stages; the bottleneck is width · 2^depth channels.
            The defaults (8, 4: 0.59 M weights) keep a 1024² slice under 2 s on two loaded
            CPU cores (channels-last); the paper's network is 64 wide, 4 deep, ~10 M.
        hidden: width of the context MLP.
        context_size: length of the context vector (must equal CONTEXT_SIZE to be used).
        nrf_map: add the context's first entry (log NRF) as an extra constant input channel
            ("ce" and "film" only: the plain ablation reads no context).
    """

    variant: str = "ce"
    in_slices: int = 1
    width: int = 8
    depth: int = 4
    hidden: int = 64
    context_size: int = CONTEXT_SIZE
    nrf_map: bool = False

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, "
                             f"got {self.variant!r}")
        if not isinstance(self.nrf_map, bool):
            raise ValueError(f"nrf_map must be true or false, got {self.nrf_map!r}")
        if self.nrf_map and self.variant == "plain":
            raise ValueError("the plain variant reads no context, so it cannot take nrf_map")
        for name in ("in_slices", *BOUNDS):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
        if self.in_slices not in IN_SLICES:
            raise ValueError(f"in_slices must be 1 (2D) or 7 (3D), got {self.in_slices}")
        for name, (lo, hi) in BOUNDS.items():
            if not lo <= getattr(self, name) <= hi:
                raise ValueError(f"{name} must be in [{lo}, {hi}], got {getattr(self, name)}")
        if self.width << self.depth > 2048:
            raise ValueError(f"the bottleneck width · 2^depth = {self.width << self.depth} "
                             "is above 2048")

    @property
    def bottleneck(self) -> int:
        return self.width << self.depth

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> EnhanceConfig:
        """A config from a JSON object; unknown keys are an error (a typo must not pass)."""
        if not isinstance(d, dict):
            raise ValueError(f"an enhance model config is a JSON object, got {type(d).__name__}")
        unknown = sorted(set(d) - set(EnhanceConfig.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown enhance model key(s) {', '.join(unknown)}; known: "
                             f"{', '.join(EnhanceConfig.__dataclass_fields__)}")
        return EnhanceConfig(**d)


def _block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3×3 conv → instance norm → leaky ReLU layers: the U-Net's unit (fastMRI's). The first
    trained model, with plain conv-ReLU units, collapsed to near-identity (most deep units dead)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                         nn.InstanceNorm2d(c_out, affine=True), nn.LeakyReLU(0.2, inplace=True),
                         nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                         nn.InstanceNorm2d(c_out, affine=True), nn.LeakyReLU(0.2, inplace=True))


def _mlp(n_in: int, hidden: int, n_out: int, head_gain: float) -> nn.Sequential:
    """Context → parameters (fully connected layers and SiLUs); the last layer is scaled by
    `head_gain` so the modulation starts small (0: starts as none at all). SiLU, not ReLU: in
    the second trained model 98 % of the ReLU MLP's second layer was dead, so the kernels no
    longer depended on the context."""
    head = nn.Linear(hidden, n_out)
    with torch.no_grad():
        head.weight.mul_(head_gain)
        head.bias.zero_()
    return nn.Sequential(nn.Linear(n_in, hidden), nn.SiLU(),
                         nn.Linear(hidden, hidden), nn.SiLU(), head)


class DynamicModulation(nn.Module):
    """The Dynamic Modulation Pathway: per-sample depthwise 3×3 kernels and biases made by an
    MLP from the context, applied by a grouped convolution, mixed 1×1, added to the input.

    No activation between the dynamic convolution and the mix: with a ReLU there the first
    trained model's pathway died (every response negative, no gradient) and its output no
    longer depended on the context at all."""

    def __init__(self, channels: int, context_size: int, hidden: int) -> None:
        super().__init__()
        self.channels = channels
        self.mlp = _mlp(context_size, hidden, channels * 10, 0.1)
        self.mix = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        p = self.mlp(ctx)  # (B, C·9 + C)
        kernels = p[:, : c * 9].reshape(b * c, 1, 3, 3)
        bias = p[:, c * 9:].reshape(b * c)
        y = F.conv2d(x.reshape(1, b * c, h, w), kernels, bias, padding=1, groups=b * c)
        return x + self.mix(y.reshape(b, c, h, w))


class StaticModulation(nn.Module):
    """The "plain" ablation of DynamicModulation: the same block with learnt fixed kernels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.mix = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        return x + self.mix(self.depthwise(x))


class FiLM(nn.Module):
    """Feature-wise linear modulation: x · (1 + γ(ctx)) + β(ctx) per channel."""

    def __init__(self, channels: int, context_size: int, hidden: int) -> None:
        super().__init__()
        self.mlp = _mlp(context_size, hidden, 2 * channels, 0.0)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.mlp(ctx)[:, :, None, None].chunk(2, dim=1)
        return x * (1 + gamma) + beta


class EnhanceNet(nn.Module):
    """Residual U-Net with context modulation at the bottleneck.

    forward(x (B, in_slices, H, W), ctx (B, context_size)) → (B, 1, H, W): the middle input
    slice plus the network's correction. Any H, W: padded (edge replication) to a multiple of
    2^depth and cropped back.
    """

    def __init__(self, config: EnhanceConfig | None = None) -> None:
        super().__init__()
        self.config = config or EnhanceConfig()
        c = self.config
        widths = [c.width << i for i in range(c.depth + 1)]
        self.down = nn.ModuleList()
        c_in = c.in_slices + int(c.nrf_map)
        for w in widths[:-1]:
            self.down.append(_block(c_in, w))
            c_in = w
        self.bottom = _block(widths[-2], widths[-1])
        self.modulation: nn.Module
        if c.variant == "ce":
            self.modulation = DynamicModulation(widths[-1], c.context_size, c.hidden)
        elif c.variant == "film":
            self.modulation = FiLM(widths[-1], c.context_size, c.hidden)
        else:
            self.modulation = StaticModulation(widths[-1])
        self.ups = nn.ModuleList(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
                                 for i in reversed(range(c.depth)))
        self.up_blocks = nn.ModuleList(_block(2 * widths[i], widths[i])
                                       for i in reversed(range(c.depth)))
        self.out = nn.Conv2d(widths[0], 1, 1, bias=False)
        nn.init.zeros_(self.out.weight)  # starts as the identity: output = middle input slice

    def forward(self, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        c = self.config
        if x.ndim != 4 or x.shape[1] != c.in_slices:
            raise ValueError(f"this network takes (B, {c.in_slices}, H, W); got "
                             f"{tuple(x.shape)}")
        if ctx.shape != (x.shape[0], c.context_size):
            raise ValueError(f"the context must be (B, {c.context_size}) = "
                             f"({x.shape[0]}, {c.context_size}); got {tuple(ctx.shape)}")
        h, w = x.shape[-2:]
        m = 1 << c.depth
        ph, pw = -h % m, -w % m
        z = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
        if c.nrf_map:
            level = ctx[:, :1, None, None].to(z.dtype).expand(-1, 1, *z.shape[-2:])
            z = torch.cat((z, level), dim=1)
        skips = []
        for block in self.down:
            z = block(z)
            skips.append(z)
            z = F.max_pool2d(z, 2)
        z = self.modulation(self.bottom(z), ctx.to(z.dtype))
        for up, block, skip in zip(self.ups, self.up_blocks, reversed(skips), strict=True):
            z = block(torch.cat((up(z), skip), dim=1))
        mid = c.in_slices // 2
        return x[:, mid:mid + 1] + self.out(z)[..., :h, :w]


def n_parameters(net: nn.Module) -> int:
    """Trainable values of a network (for model cards and reports)."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
