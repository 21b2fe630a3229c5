"""Overwrite rules: which existing voxels a paint, fill or interpolation may change."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODES = ("all", "background", "label")


@dataclass(frozen=True)
class OverwriteRule:
    """`all`: paint over every label; `background`: only over 0; `label`: only over voxels that
    hold `only` (and over the painted label itself, which changes nothing).

    An eraser with mode `label` erases only `only`; with `all` or `background` it erases anything.
    """

    mode: str = "all"
    only: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            choices = ", ".join(MODES)
            raise ValueError(f"unknown overwrite rule '{self.mode}' (choose from {choices})")

    def editable(self, current: np.ndarray, value: int) -> np.ndarray:
        """Boolean mask over `current` (existing label values) that painting `value` may change."""
        if value == 0:  # erasing
            if self.mode == "label":
                return current == self.only
            return np.ones(current.shape, dtype=bool)
        if self.mode == "all":
            return np.ones(current.shape, dtype=bool)
        if self.mode == "background":
            return current == 0
        return current == self.only


PAINT_OVER_ALL = OverwriteRule("all")
