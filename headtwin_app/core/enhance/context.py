"""The context vector of the all-in-one model: the k-space sampling that produced an image and
the noise reduction factor (NRF) asked of the network (all-in-one paper §2.2).

One definition shared by the simulator (which knows the exact sampling of each training pair),
the DICOM reader (which reads it from tags) and the network (its input size). Fractions are of
the fully sampled k-space extent of the image's own grid: 1 means nothing missing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

NRF_RANGE = (1.0, 4.0)  # factors the model is trained for (the paper uses 1.0–5.0)


@dataclass(frozen=True)
class Context:
    """Sampling parameters of an image plus the requested noise reduction factor.

    Args:
        nrf: noise reduction factor asked of the network (input noise / output noise), ≥ 1.
        phase_kmax: fraction of the phase-encode k-space extent acquired (k_max truncation).
        freq_kmax: the same along the readout (frequency) direction.
        slice_kmax: the same along the slice direction (3D acquisitions; 1 for 2D).
        phase_pf: partial-Fourier fraction along phase (0.5–1; 1 = full).
        slice_pf: partial-Fourier fraction along slice (3D; 1 for 2D).
        uniform_r: uniform (equispaced) undersampling factor along phase (1 = none).
        random_r: random undersampling factor (1 = none).
        elliptical: 1 when the corners outside the k-space ellipse were not acquired.
        is_3d: 1 for a 3D acquisition (the 7-slice network), 0 for 2D.
    """

    nrf: float = 1.0
    phase_kmax: float = 1.0
    freq_kmax: float = 1.0
    slice_kmax: float = 1.0
    phase_pf: float = 1.0
    slice_pf: float = 1.0
    uniform_r: float = 1.0
    random_r: float = 1.0
    elliptical: float = 0.0
    is_3d: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"context {f.name} must be a finite number, got {v!r}")
        if self.nrf < 1.0:
            raise ValueError(f"the noise reduction factor must be >= 1, got {self.nrf:g}")
        for name in ("phase_kmax", "freq_kmax", "slice_kmax"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"context {name} must be in (0, 1], got {getattr(self, name)}")
        for name in ("phase_pf", "slice_pf"):
            if not 0.5 <= getattr(self, name) <= 1.0:
                raise ValueError(f"context {name} must be in [0.5, 1], got {getattr(self, name)}")
        if self.uniform_r < 1 or self.random_r < 1:
            raise ValueError("undersampling factors must be >= 1")
        if self.elliptical not in (0, 1) or self.is_3d not in (0, 1):
            raise ValueError("elliptical and is_3d are 0 or 1")

    def to_vector(self) -> np.ndarray:
        """float32 network input: log NRF, the fractions as they are, 1/R for the factors."""
        return np.array([math.log(self.nrf), self.phase_kmax, self.freq_kmax, self.slice_kmax,
                         self.phase_pf, self.slice_pf, 1.0 / self.uniform_r, 1.0 / self.random_r,
                         self.elliptical, self.is_3d], np.float32)

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    @staticmethod
    def from_dict(d: dict) -> Context:
        """A context from a JSON object; unknown keys are an error (a typo must not pass)."""
        if not isinstance(d, dict):
            raise ValueError(f"a context is a JSON object, got {type(d).__name__}")
        known = {f.name for f in fields(Context)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown context key(s) {', '.join(unknown)}; known: "
                             f"{', '.join(sorted(known))}")
        return Context(**d)


CONTEXT_SIZE = len(Context().to_vector())
