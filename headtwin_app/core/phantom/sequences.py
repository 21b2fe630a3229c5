"""Pulse sequences and their steady-state signal equations, so the phantom's tissue classes can
be imaged as T1-, T2-, PD-weighted or FLAIR heads (ideal 90°/180° pulses, one echo, no J-coupling,
magnetisation transfer or inflow enhancement).

- spin echo:          S = PD (1 − e^(−TR/T1)) e^(−TE/T2)
- spoiled gradient echo: S = PD sin α (1 − E1) / (1 − cos α E1) e^(−TE/T2*),  E1 = e^(−TR/T1)
- inversion recovery (spin-echo readout, magnitude):
  S = PD |1 − 2 e^(−TI/T1) + e^(−TR/T1)| e^(−TE/T2)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from headtwin_app.core.phantom.tissues import parameter_table

KINDS = ("se", "gre", "ir")
FLOW_VOID = 0.07  # residual signal of fast-flowing blood in spin-echo based sequences


@dataclass(frozen=True)
class Sequence:
    """An acquisition: kind, repetition/echo/inversion times (ms) and flip angle (degrees)."""

    kind: str
    tr: float
    te: float
    ti: float = 0.0
    flip: float = 90.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"sequence kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        for name in ("tr", "te", "ti", "flip"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if self.tr <= 0:
            raise ValueError(f"tr must be > 0 ms, got {self.tr!r}")
        if self.te >= self.tr:
            raise ValueError(f"te ({self.te:g} ms) must be shorter than tr ({self.tr:g} ms)")
        if self.kind == "ir" and not 0 < self.ti < self.tr:
            raise ValueError(f"inversion recovery needs 0 < ti < tr, got ti={self.ti:g} ms")
        if self.kind == "gre" and not 0 < self.flip <= 90:
            raise ValueError(f"gradient echo flip angle must be in (0, 90] degrees, "
                             f"got {self.flip:g}")

    def as_dict(self) -> dict[str, float | str]:
        return asdict(self)


# Clinical-style presets at 3 T. "pd" is the phantom's default (the contrast it always had).
PRESETS: dict[str, Sequence] = {
    "t1": Sequence("se", tr=500.0, te=10.0),
    "t2": Sequence("se", tr=4000.0, te=100.0),
    # long TR (CSF, T1 4.2 s, mostly recovered) and an intermediate TE: the PD look the phantom
    # always had (CSF brightest, GM over WM, muscle darker)
    "pd": Sequence("se", tr=6000.0, te=30.0),
    "flair": Sequence("ir", tr=9000.0, te=120.0, ti=2450.0),  # CSF null: T1 ln(2/(1+e^(-TR/T1)))
}
CONTRASTS = tuple(PRESETS)


def sequence_for(contrast: str, tr: float | None = None, te: float | None = None,
                 ti: float | None = None, flip: float | None = None,
                 kind: str | None = None) -> Sequence:
    """The preset for `contrast` with any of its timings overridden (checked)."""
    if contrast not in PRESETS:
        raise ValueError(f"contrast must be one of {', '.join(CONTRASTS)}, got {contrast!r}")
    fields: dict[str, Any] = asdict(PRESETS[contrast])
    if kind is not None:
        fields["kind"] = kind
        if kind == "gre" and flip is None:
            fields["flip"] = 30.0
    fields.update({k: float(v) for k, v in (("tr", tr), ("te", te), ("ti", ti), ("flip", flip))
                   if v is not None})
    return Sequence(**fields)


def sequence_summary(contrast: str) -> str:
    """One line for people about a preset: "T1: spin echo TR 500 / TE 10 ms"."""
    key = contrast.lower() if isinstance(contrast, str) else contrast
    if key not in PRESETS:
        raise ValueError(f"contrast must be one of {', '.join(CONTRASTS)}, got {contrast!r}")
    seq = PRESETS[key]
    kind = {"se": "spin echo", "gre": "gradient echo", "ir": "inversion recovery"}[seq.kind]
    times = [f"TR {seq.tr:g}", f"TE {seq.te:g}"] + ([f"TI {seq.ti:g}"] if seq.kind == "ir"
                                                    else [])
    flip = f", flip {seq.flip:g}°" if seq.kind == "gre" else ""
    return f"{key.upper()}: {kind} {' / '.join(times)} ms{flip}"


def signal_lut(seq: Sequence, params: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Signal of every tissue code under `seq`, scaled so the brightest tissue is 1."""
    p = parameter_table() if params is None else params
    e1_tr = np.exp(-seq.tr / p["t1"])
    if seq.kind == "se":
        s = p["pd"] * (1.0 - e1_tr) * np.exp(-seq.te / p["t2"])
    elif seq.kind == "gre":
        a = np.radians(seq.flip)
        s = p["pd"] * np.sin(a) * (1.0 - e1_tr) / (1.0 - np.cos(a) * e1_tr)
        s = s * np.exp(-seq.te / p["t2s"])
    else:
        s = p["pd"] * np.abs(1.0 - 2.0 * np.exp(-seq.ti / p["t1"]) + e1_tr)
        s = s * np.exp(-seq.te / p["t2"])
    if seq.kind != "gre":
        s = np.where(p["flow"] > 0, s * FLOW_VOID, s)
    peak = float(s.max())
    return (s / peak if peak > 0 else s).astype(np.float32)
