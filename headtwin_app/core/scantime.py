"""A stated, simple scan-time model: time = TR × readouts × NEX.

What counts as one readout (one TR) depends on the acquisition:

- **2D Cartesian** (multi-slice; slices interleave within each TR, so they add no time): one
  readout per *phase-encode line* (ky row) that holds at least one sample. A mask that keeps
  scattered points on every row (random_points) saves no time in 2D; only whole lines do.
- **2D non-Cartesian** (radial, spiral): readouts = ceil(samples / nx), i.e. each spoke or
  interleaf is credited with nx samples, the length of one Cartesian readout.
- **3D Cartesian**: one readout along kx per sampled (ky, kz) point of the phase-encode plane;
  every family, radial and spiral included, is a set of (ky, kz) lines there.

Defaults: TR = 500 ms for 2D (spin-echo T1-like), TR = 8 ms for 3D (spoiled gradient echo,
MPRAGE-like), NEX = 1. They are parameters; change them to match a protocol.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from headtwin_app.core.masks import FAMILIES

DEFAULT_TR_S = {2: 0.5, 3: 0.008}


@dataclass(frozen=True)
class ScanTimeModel:
    """TR in seconds and the number of excitations (averages)."""

    tr_s: float
    nex: int = 1

    def __post_init__(self) -> None:
        if not self.tr_s > 0:
            raise ValueError(f"TR must be > 0 s, got {self.tr_s:g}")
        if self.nex < 1:
            raise ValueError(f"NEX must be >= 1, got {self.nex}")


@dataclass(frozen=True)
class ScanTime:
    """Result of the model: acquired and fully sampled times, and the readouts behind them."""

    seconds: float
    full_seconds: float
    readouts: int
    full_readouts: int
    model: str

    @property
    def speedup(self) -> float:
        return self.full_seconds / self.seconds if self.seconds > 0 else math.inf


def default_model(dims: int) -> ScanTimeModel:
    """TR 500 ms (2D) or 8 ms (3D), NEX 1."""
    if dims not in DEFAULT_TR_S:
        raise ValueError(f"dims must be 2 or 3, got {dims}")
    return ScanTimeModel(DEFAULT_TR_S[dims])


def describe(dims: int, model: ScanTimeModel | None = None) -> str:
    """One line stating the model, for the UI and the JSON output."""
    m = model or default_model(dims)
    tr = f"TR = {m.tr_s * 1e3:g} ms, NEX = {m.nex}"
    if dims == 2:
        return (f"2D: time = TR × phase-encode lines acquired × NEX "
                f"(radial/spiral: readouts = samples / nx); {tr}")
    return f"3D: time = TR × (ky, kz) points acquired × NEX (kx is the readout); {tr}"


def estimate(mask: np.ndarray, family: str | None, dims: int,
             model: ScanTimeModel | None = None) -> ScanTime:
    """Scan time of a plane mask under the model.

    Args:
        mask: the sampling plane, (ky, kx) for 2D or (ky, kz) for 3D.
        family: the family name (decides Cartesian vs non-Cartesian in 2D); None or
            an unknown name (a hand-painted mask) counts as Cartesian.
        dims: 2 or 3.
        model: TR and NEX; default `default_model(dims)`.
    """
    m = model or default_model(dims)
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"a plane mask is 2D, got shape {mask.shape}")
    ny, n1 = mask.shape
    if dims == 3:
        readouts, full = int(mask.sum()), ny * n1
    elif dims == 2:
        fam = FAMILIES.get(family or "")
        full = ny
        if fam is not None and not fam.cartesian_2d:
            readouts = int(math.ceil(mask.sum() / n1))
        else:
            readouts = int(mask.any(axis=1).sum())
    else:
        raise ValueError(f"dims must be 2 or 3, got {dims}")
    per = m.tr_s * m.nex
    return ScanTime(readouts * per, full * per, readouts, full, describe(dims, m))
