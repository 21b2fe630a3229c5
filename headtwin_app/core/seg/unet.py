"""A small plain 3D U-Net (torch) for the built-in CPU segmentation backend."""

from __future__ import annotations

import torch
from torch import nn


class ConvBlock(nn.Module):
    """Two 3×3×3 convolutions, each followed by instance norm and leaky ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.InstanceNorm3d(cout, affine=True),
            nn.LeakyReLU(0.01, inplace=True),
            nn.Conv3d(cout, cout, 3, padding=1, bias=False), nn.InstanceNorm3d(cout, affine=True),
            nn.LeakyReLU(0.01, inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class UNet3D(nn.Module):
    """Encoder-decoder with skip connections; strided convolutions down, transposed convolutions up.

    Args:
        in_channels: image channels (1).
        n_classes: output classes including background.
        base: channels of the first level (doubled per level).
        depth: number of levels (input sides should be multiples of 2**(depth-1)).
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 13, base: int = 16, depth: int = 4):
        super().__init__()
        chans = [base * 2**i for i in range(depth)]
        self.depth = depth
        self.enc = nn.ModuleList([ConvBlock(in_channels, chans[0])])
        self.down = nn.ModuleList()
        for i in range(1, depth):
            self.down.append(nn.Conv3d(chans[i - 1], chans[i - 1], 2, stride=2))
            self.enc.append(ConvBlock(chans[i - 1], chans[i]))
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in range(depth - 1, 0, -1):
            self.up.append(nn.ConvTranspose3d(chans[i], chans[i - 1], 2, stride=2))
            self.dec.append(ConvBlock(2 * chans[i - 1], chans[i - 1]))
        self.head = nn.Conv3d(chans[0], n_classes, 1)

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this."""
        return 2 ** (self.depth - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.enc):
            if i > 0:
                x = self.down[i - 1](x)
            x = block(x)
            skips.append(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips[:-1]), strict=True):
            x = dec(torch.cat([up(x), skip], dim=1))
        return self.head(x)
