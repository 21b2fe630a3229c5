"""Analytic, incompressible left-ventricle motion: the ground truth of the cardiac phantom.

The LV is a thick-walled half-ellipsoid with its long axis along +z (apex at z = 0, base at
z = L). A material point (R, Θ, Z) at end-diastole moves to

    z = λ(t) Z                                  longitudinal shortening, apex fixed
    r² = ri(t, Z)² + (R² − Ri(Z)²) / λ(t)       wall thickening; ri = Ri (1 − ε g_r(t))
    θ = Θ + ψ(t, Z)                             twist, opposite at base and apex

which keeps every volume element (det F = (r/R) ∂r/∂R λ = 1). Velocities follow by
differentiating at fixed (R, Θ, Z) and are evaluated in the Eulerian frame of the fixed imaging
planes (what phase-contrast MR measures). Time is the fraction of the R-R interval in [0, 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
from scipy.special import erf

SQRT2 = math.sqrt(2.0)
SQRT_2PI = math.sqrt(2 * math.pi)


@dataclass(frozen=True)
class Waveform:
    """A periodic contraction state g(t) in [0, 1]: g' is a systolic bump minus an early (E)
    and a late (A) diastolic bump, each a Gaussian wrapped over the cycle (areas 1, e, 1 − e)."""

    t_sys: float  # time of peak systolic velocity (fraction of R-R)
    w_sys: float
    t_e: float  # early diastolic peak
    w_e: float
    e_frac: float  # share of the relaxation done in early diastole
    t_a: float = 0.86  # atrial kick
    w_a: float = 0.035

    def _terms(self) -> tuple[tuple[float, float, float], ...]:
        return ((1.0, self.t_sys, self.w_sys), (-self.e_frac, self.t_e, self.w_e),
                (self.e_frac - 1.0, self.t_a, self.w_a))

    def _cdf(self, t: np.ndarray) -> np.ndarray:
        out = np.zeros_like(t, dtype=np.float64)
        for area, mu, w in self._terms():
            for shift in (-1.0, 0.0, 1.0):
                out += area * 0.5 * (1.0 + erf((t - mu - shift) / (w * SQRT2)))
        return out

    def value(self, t: np.ndarray | float) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64) % 1.0
        return self._cdf(t) - self._cdf(np.zeros(1))[0]

    def rate(self, t: np.ndarray | float) -> np.ndarray:
        """dg/dt per R-R interval."""
        t = np.asarray(t, dtype=np.float64) % 1.0
        out = np.zeros_like(t)
        for area, mu, w in self._terms():
            for shift in (-1.0, 0.0, 1.0):
                out += area * np.exp(-0.5 * ((t - mu - shift) / w) ** 2) / (w * SQRT_2PI)
        return out

    def peak(self) -> float:
        """max g over the cycle (to normalise amplitudes)."""
        return _peak(self)


@lru_cache(maxsize=256)
def _peak(wave: Waveform) -> float:
    return float(wave.value(np.linspace(0, 1, 2001)).max())


@dataclass(frozen=True)
class LVMotion:
    """Geometry (mm) and motion of one subject's left ventricle."""

    length: float = 90.0  # apex (z = 0) to base (z = L)
    r_endo: float = 25.0  # end-diastolic endocardial radius at the base
    r_epi: float = 35.0  # end-diastolic epicardial radius at the base
    apex_wall: float = 10.0  # wall thickness at the apex
    eps: float = 0.3  # endocardial radius shortening at peak contraction (fraction)
    shortening: float = 0.13  # longitudinal shortening 1 − λ at peak contraction
    twist_apex: float = 0.15  # apical rotation at peak contraction, rad (counterclockwise)
    twist_base: float = -0.07  # basal rotation, rad (clockwise)
    radial: Waveform = field(default_factory=lambda: Waveform(0.125, 0.05, 0.447, 0.04, 0.8))
    longitudinal: Waveform = field(default_factory=lambda: Waveform(0.06, 0.045, 0.458, 0.04, 0.8))
    twist: Waveform = field(default_factory=lambda: Waveform(0.16, 0.06, 0.45, 0.05, 0.85))
    rr_s: float = 1.0  # R-R interval in seconds

    def _g(self, wave: Waveform, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = wave.peak()
        return wave.value(t) / p, wave.rate(t) / p / self.rr_s  # per second

    def radii(self, z_mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """End-diastolic endo/epicardial radius at material level Z (0 outside the LV)."""
        c_in = self.length - self.apex_wall
        u_in = np.clip(1.0 - ((self.length - z_mat) / c_in) ** 2, 0.0, None)
        u_out = np.clip(1.0 - ((self.length - z_mat) / self.length) ** 2, 0.0, None)
        inside = (z_mat >= 0) & (z_mat <= self.length)
        return (np.where(inside, self.r_endo * np.sqrt(u_in), 0.0),
                np.where(inside, self.r_epi * np.sqrt(u_out), 0.0))

    def lam(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """λ(t) and dλ/dt (1/s)."""
        g, dg = self._g(self.longitudinal, t)
        return 1.0 - self.shortening * g, -self.shortening * dg

    def contraction(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ri / Ri and its rate (1/s)."""
        g, dg = self._g(self.radial, t)
        return 1.0 - self.eps * g, -self.eps * dg

    def rotation(self, t: np.ndarray, z_mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ψ(t, Z) in rad and dψ/dt (rad/s): apex and base turn opposite ways."""
        g, dg = self._g(self.twist, t)
        s = np.clip(z_mat / self.length, 0.0, 1.0)
        amp = self.twist_apex + (self.twist_base - self.twist_apex) * s
        return amp * g, amp * dg

    def forward(self, t: float, r0: np.ndarray, th0: np.ndarray, z0: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Material (R, Θ, Z) at end-diastole → spatial (r, θ, z) at time t (myocardium only)."""
        tt = np.array([t % 1.0])
        lam, _ = self.lam(tt)
        c, _ = self.contraction(tt)
        ri0, _ = self.radii(z0)
        r = np.sqrt((ri0 * c) ** 2 + (r0 ** 2 - ri0 ** 2) / lam)
        psi, _ = self.rotation(tt, z0)
        return r, th0 + psi, lam * z0

    def inverse(self, t: float, r: np.ndarray, th: np.ndarray, z: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Spatial (r, θ, z) at time t → material (R, Θ, Z): which tissue sits at a voxel."""
        tt = np.array([t % 1.0])
        lam, _ = self.lam(tt)
        z0 = z / lam
        c, _ = self.contraction(tt)
        ri0, _ = self.radii(z0)
        r0 = np.sqrt(np.clip(ri0 ** 2 + lam * (r ** 2 - (ri0 * c) ** 2), 0.0, None))
        psi, _ = self.rotation(tt, z0)
        return r0, th - psi, z0

    def velocity(self, t: float, r: np.ndarray, th: np.ndarray, z: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Eulerian myocardial velocity (mm/s) at spatial (r, θ, z), time t: (v_r outward,
        v_θ counterclockwise, v_z toward the base)."""
        tt = np.array([t % 1.0])
        r0, _, z0 = self.inverse(t, r, th, z)
        lam, dlam = self.lam(tt)
        c, dc = self.contraction(tt)
        ri0, _ = self.radii(z0)
        ri, dri = ri0 * c, ri0 * dc
        r_safe = np.maximum(r, 1e-6)
        v_r = (2 * ri * dri - (r0 ** 2 - ri0 ** 2) * dlam / lam ** 2) / (2 * r_safe)
        _, dpsi = self.rotation(tt, z0)
        return v_r, r * dpsi, dlam * z0

    def is_myocardium(self, t: float, r: np.ndarray, th: np.ndarray, z: np.ndarray) -> np.ndarray:
        r0, _, z0 = self.inverse(t, r, th, z)
        ri0, ro0 = self.radii(z0)
        return (z0 >= 0) & (z0 <= self.length) & (r0 >= ri0) & (r0 <= ro0) & (ro0 > 0)

    def is_cavity(self, t: float, r: np.ndarray, th: np.ndarray, z: np.ndarray) -> np.ndarray:
        r0, _, z0 = self.inverse(t, r, th, z)
        ri0, _ = self.radii(z0)
        return (z0 >= 0) & (z0 <= self.length) & (r0 < ri0)

    def scaled(self, eps: float | None = None, shortening: float | None = None,
               e_radial: float | None = None, e_long: float | None = None) -> LVMotion:
        out = self
        if eps is not None:
            out = replace(out, eps=eps)
        if shortening is not None:
            out = replace(out, shortening=shortening)
        if e_radial is not None:
            out = replace(out, radial=replace(out.radial, e_frac=e_radial))
        if e_long is not None:
            out = replace(out, longitudinal=replace(out.longitudinal, e_frac=e_long))
        return out
