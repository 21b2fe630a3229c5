"""R2U-Net building blocks (Alom et al. 2018): recurrent residual convolutional units in a U-Net.

A recurrent conv applies one 3×3 convolution t + 1 times, feeding x + h back each time (shared
weights, so depth without parameters); a residual unit stacks two of them after a 1×1 channel
change. `Encoder` and `Decoder` are separable so that the interpolation network can give each
input domain its own head and each output its own tail (the HDL paper's multi-head multi-tail).
"""

from __future__ import annotations

import torch
from torch import nn


class RecurrentConv(nn.Module):
    def __init__(self, ch: int, t: int = 2) -> None:
        super().__init__()
        self.t = t
        self.conv = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), nn.BatchNorm2d(ch),
                                  nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        for _ in range(self.t):
            h = self.conv(x + h)
        return h


class RRCNN(nn.Module):
    """Recurrent residual unit: 1×1 to `out_ch`, two recurrent convs, plus the shortcut."""

    def __init__(self, in_ch: int, out_ch: int, t: int = 2) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_ch, out_ch, 1)
        self.body = nn.Sequential(RecurrentConv(out_ch, t), RecurrentConv(out_ch, t))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        return x + self.body(x)


class Encoder(nn.Module):
    """Input → list of skip features, finest first; the last is the bottleneck."""

    def __init__(self, in_ch: int, base: int = 16, depth: int = 3, t: int = 2) -> None:
        super().__init__()
        chs = [base * 2 ** i for i in range(depth + 1)]
        self.blocks = nn.ModuleList([RRCNN(in_ch, chs[0], t)] +
                                    [RRCNN(chs[i], chs[i + 1], t) for i in range(depth)])
        self.pool = nn.MaxPool2d(2)
        self.channels = chs

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [self.blocks[0](x)]
        for block in self.blocks[1:]:
            feats.append(block(self.pool(feats[-1])))
        return feats


class Decoder(nn.Module):
    """Skip features → `out_ch` maps at full resolution."""

    def __init__(self, out_ch: int, base: int = 16, depth: int = 3, t: int = 2) -> None:
        super().__init__()
        chs = [base * 2 ** i for i in range(depth + 1)]
        self.ups = nn.ModuleList([nn.ConvTranspose2d(chs[i + 1], chs[i], 2, stride=2)
                                  for i in reversed(range(depth))])
        self.blocks = nn.ModuleList([RRCNN(2 * chs[i], chs[i], t) for i in reversed(range(depth))])
        self.head = nn.Conv2d(chs[0], out_ch, 1)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        h = feats[-1]
        for up, block, skip in zip(self.ups, self.blocks, reversed(feats[:-1]), strict=True):
            h = block(torch.cat([up(h), skip], dim=1))
        return self.head(h)


class R2UNet(nn.Module):
    """Plain R2U-Net: one encoder, one decoder (input size divisible by 2**depth)."""

    def __init__(self, in_ch: int, out_ch: int, base: int = 16, depth: int = 3, t: int = 2
                 ) -> None:
        super().__init__()
        self.encoder = Encoder(in_ch, base, depth, t)
        self.decoder = Decoder(out_ch, base, depth, t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
