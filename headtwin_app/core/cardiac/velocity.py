"""Velocity assessment in the LV's cylindrical frame (HDL paper §III-C).

Conventions (the myocardial velocity-mapping ones): radial is positive towards the LV centre
(systolic contraction), circumferential positive counterclockwise in the image's (x, y) axes,
longitudinal positive towards the apex. A global curve is the mean over all myocardium voxels of
all slices per frame. PSV is the largest positive value in the first 45 % of the cycle, PDV the
magnitude of the most negative value after the systolic peak; their times are in frames (sub-frame
by a parabola through the peak and its neighbours); the mean velocity is the cycle mean of |v|
(the signed mean of a periodic motion is zero).
"""

from __future__ import annotations

import numpy as np

DIRECTIONS = ("radial", "circumferential", "longitudinal")
SYSTOLE_END = 0.45  # fraction of the cycle searched for the systolic peak


def cylindrical(vx: np.ndarray, vy: np.ndarray, vz: np.ndarray, px: np.ndarray, py: np.ndarray,
                cx: float, cy: float, z_towards_base: bool = True
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cartesian velocities at positions (px, py) (mm) → (radial inward, circumferential
    counterclockwise, longitudinal towards the apex) about the centre (cx, cy)."""
    dx, dy = px - cx, py - cy
    rr = np.maximum(np.hypot(dx, dy), 1e-9)
    ux, uy = dx / rr, dy / rr
    radial = -(vx * ux + vy * uy)
    circ = -vx * uy + vy * ux
    longi = -vz if z_towards_base else vz
    return radial, circ, longi


def _parabolic(curve: np.ndarray, i: int) -> float:
    n = len(curve)
    a, b, c = curve[(i - 1) % n], curve[i], curve[(i + 1) % n]
    den = a - 2 * b + c
    return float(i + (0.5 * (a - c) / den if den != 0 else 0.0))


def peaks(curve: np.ndarray, frames_per_step: float = 1.0) -> dict[str, float]:
    """PSV, TPSV, PDV, TPDV and mean |v| of one periodic global curve (see module docstring).

    `frames_per_step` converts the curve's sample index to frames (4 for a 4× finer curve)."""
    curve = np.asarray(curve, dtype=np.float64)
    n = len(curve)
    sys_end = max(1, int(round(SYSTOLE_END * n)))
    i_s = int(np.argmax(curve[:sys_end]))
    i_d = i_s + 1 + int(np.argmin(curve[i_s + 1:])) if i_s + 1 < n else i_s
    return {
        "psv": float(curve[i_s]),
        "tpsv": _parabolic(curve, i_s) / frames_per_step,
        "pdv": float(-curve[i_d]),
        "tpdv": _parabolic(curve, i_d) / frames_per_step,
        "mean": float(np.mean(np.abs(curve))),
    }
