"""K-space undersampling masks: a registry of ten seeded families that compose by product.

Every family is a function ``(shape, accel, seed=0, **params) -> bool ndarray`` over a 2D
sampling plane. In 2D mode the plane is (ky, kx): axis 0 is the phase-encode direction and
"line" families keep whole rows (all of kx). In 3D mode the plane is (ky, kz), the two
phase-encode directions; the readout kx is always fully sampled (see `expand_mask`).

Acceleration R = points of the plane / points kept. Each family keeps exactly ``round(N / R)``
points (or the nearest whole number of rows) chosen by a seeded priority map, so the achieved R
is within 2 % of the request; where that is impossible (too few rows, a family's ceiling such as
``upper_half`` at R > 2) a `ValueError` says why. A ``support`` mask restricts any family to a
region while still reaching the requested overall R (exact composition, e.g. partial Fourier ×
equispaced); `compose` is the plain product.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

TOLERANCE = 0.02  # achieved R must be within 2 % of the request
GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))  # ≈ 137.5°, for spiral interleaves
RADIAL_GOLDEN = math.pi / ((1.0 + math.sqrt(5.0)) / 2.0)  # ≈ 111.25°, golden-angle radial

Shape = tuple[int, int]


@dataclass(frozen=True)
class MaskFamily:
    """One registered family: its function and what a user needs to know about it."""

    name: str
    func: Callable[..., np.ndarray]
    unit: str  # "rows" (whole ky lines) or "points"
    cartesian_2d: bool  # in 2D, acquired as whole phase-encode lines (for the scan-time model)
    max_accel: float | None  # a ceiling R, or None
    description: str


# ---------------------------------------------------------------------------------------------
# validation and selection


def _check_shape(shape: Shape) -> tuple[int, int]:
    if len(shape) != 2:
        raise ValueError(f"a mask plane is 2D, got shape {tuple(shape)}")
    ny, nx = (int(s) for s in shape)
    if ny < 2 or nx < 1:
        raise ValueError(f"mask plane {tuple(shape)} is too small")
    return ny, nx


def _check_accel(accel: float) -> float:
    accel = float(accel)
    if not math.isfinite(accel) or accel < 1.0:
        raise ValueError(f"acceleration R must be a number >= 1, got {accel:g}")
    return accel


def _check_fraction(name: str, value: float, lo: float = 0.0, hi: float = 1.0) -> float:
    value = float(value)
    if not (lo <= value <= hi):
        raise ValueError(f"{name} must be in [{lo:g}, {hi:g}], got {value:g}")
    return value


def _check_support(support: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
    if support is None:
        return None
    support = np.asarray(support, dtype=bool)
    if support.shape != shape:
        raise ValueError(f"support shape {support.shape} does not match the plane {shape}")
    return support


def _reachable(n_total: int, accel: float, kept: int, family: str, unit: str) -> None:
    """Raise a clear ValueError when `kept` units do not give R within tolerance."""
    if kept <= 0:
        raise ValueError(f"{family}: R={accel:g} keeps no {unit} of {n_total}")
    achieved = n_total / kept
    if abs(achieved / accel - 1.0) > TOLERANCE:
        lo = n_total / max(1, math.ceil(n_total / accel))
        hi = n_total / max(1, math.floor(n_total / accel))
        raise ValueError(
            f"{family}: R={accel:g} cannot be reached within 2 % with {n_total} {unit} "
            f"(nearest: R={lo:.3g} or R={hi:.3g})"
        )


def _select_points(order: np.ndarray, shape: tuple[int, int], accel: float, family: str,
                   support: np.ndarray | None) -> np.ndarray:
    """Keep the first round(N/R) points of `order` (flat indices, best first) inside support."""
    n_total = shape[0] * shape[1]
    n_keep = int(round(n_total / accel))
    _reachable(n_total, accel, n_keep, family, "points")
    if support is not None:
        order = order[support.ravel()[order]]
        if n_keep > order.size:
            raise ValueError(
                f"{family}: the support holds {order.size} points, R={accel:g} needs {n_keep}"
            )
    mask = np.zeros(n_total, dtype=bool)
    mask[order[:n_keep]] = True
    return mask.reshape(shape)


def _select_rows(row_order: np.ndarray, shape: tuple[int, int], accel: float, family: str,
                 support: np.ndarray | None) -> np.ndarray:
    """Keep whole rows in `row_order` (best first) until round(N/R) points are sampled."""
    ny, nx = shape
    if support is None:
        n_rows = int(round(ny / accel))
        _reachable(ny, accel, n_rows, family, "ky lines")
        mask = np.zeros(shape, dtype=bool)
        mask[row_order[:n_rows]] = True
        return mask
    counts = support.sum(axis=1)[row_order]
    row_order, counts = row_order[counts > 0], counts[counts > 0]
    cum = np.cumsum(counts)
    target = ny * nx / accel
    if cum.size == 0 or cum[-1] < target * (1 - TOLERANCE):
        raise ValueError(f"{family}: the support is too small for R={accel:g}")
    k = int(np.argmin(np.abs(cum - target))) + 1
    mask = np.zeros(shape, dtype=bool)
    mask[row_order[:k]] = True
    mask &= support
    _reachable(ny * nx, accel, int(mask.sum()), family, "points")
    return mask


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _centre_rows(ny: int, center_fraction: float) -> np.ndarray:
    """Indices of the round(ny·cf) rows around the DC row (index ny // 2); at least the DC row
    itself whenever cf > 0."""
    n = int(round(ny * center_fraction))
    n = max(n, 1) if center_fraction > 0 else 0
    start = ny // 2 - n // 2
    return np.arange(start, start + n)


def _check_centre(n_centre: int, n_keep: int, family: str, cf: float, accel: float,
                  unit: str) -> None:
    """The fully sampled centre must fit in what R keeps (else the mask could not hold the DC
    and still report R)."""
    if n_centre > n_keep:
        raise ValueError(f"{family}: the fully sampled centre ({n_centre} {unit}, "
                         f"center_fraction={cf:g}) is more than the {n_keep} {unit} R={accel:g} "
                         "keeps; lower the centre fraction or R")


# ---------------------------------------------------------------------------------------------
# priority maps (cached: a slider only re-selects, it never recomputes a map)


@lru_cache(maxsize=32)
def _random_point_order(shape: tuple[int, int], seed: int, center_fraction: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    score = rng.random(shape)
    if center_fraction > 0:
        ny, nx = shape
        cy, cx = ny // 2, nx // 2
        hy = int(round(ny * center_fraction)) // 2
        hx = int(round(nx * center_fraction)) // 2
        score[max(cy - hy, 0):cy + hy + 1, max(cx - hx, 0):cx + hx + 1] -= 1.0
    return _readonly(np.argsort(score, axis=None, kind="stable"))


def _centred_grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    ny, nx = shape
    ky = (np.arange(ny) - ny // 2)[:, None].astype(np.float64)
    kx = (np.arange(nx) - nx // 2)[None, :].astype(np.float64)
    return ky, kx


@lru_cache(maxsize=32)
def _kmax_order(shape: tuple[int, int]) -> np.ndarray:
    ny, nx = shape
    ky, kx = _centred_grid(shape)
    ay, ax = np.abs(ky) / ny, np.abs(kx) / nx
    # box first (Chebyshev), ties broken by the Euclidean radius so a partial ring stays round
    score = np.maximum(ay, ax) + 1e-6 * np.sqrt(ay**2 + ax**2)
    return _readonly(np.argsort(score, axis=None, kind="stable"))


@lru_cache(maxsize=32)
def _elliptical_order(shape: tuple[int, int]) -> np.ndarray:
    ny, nx = shape
    ky, kx = _centred_grid(shape)
    score = (ky / (ny / 2.0)) ** 2 + (kx / (nx / 2.0)) ** 2
    return _readonly(np.argsort(score, axis=None, kind="stable"))


def _first_hit_order(shape: tuple[int, int], iy: np.ndarray, ix: np.ndarray) -> np.ndarray:
    """Flat point order from trajectory samples given in priority order; unvisited points
    follow, nearest the centre first, so every R down to 1 stays reachable."""
    ny, nx = shape
    iy = np.rint(iy).astype(np.int64)
    ix = np.rint(ix).astype(np.int64)
    ok = (iy >= 0) & (iy < ny) & (ix >= 0) & (ix < nx)
    flat = (iy * nx + ix)[ok]
    _, first = np.unique(flat, return_index=True)
    visited = flat[np.sort(first)]
    seen = np.zeros(ny * nx, dtype=bool)
    seen[visited] = True
    ky, kx = _centred_grid(shape)
    radius = np.hypot(ky / ny, kx / nx).ravel()
    rest = np.flatnonzero(~seen)
    rest = rest[np.argsort(radius[rest], kind="stable")]
    return np.concatenate([visited, rest])


@lru_cache(maxsize=16)
def _radial_order(shape: tuple[int, int], seed: int) -> np.ndarray:
    ny, nx = shape
    rng = np.random.default_rng(seed)
    theta0 = rng.uniform(0.0, math.pi)
    rmax = math.hypot(ny / 2.0, nx / 2.0)
    n_spokes = int(math.ceil(1.5 * math.pi * rmax))
    t = np.arange(0.0, rmax + 0.5, 0.5)
    t = np.stack([t, -t], axis=1).ravel()[1:]  # 0, +0.5, -0.5, +1, -1, ...: centre outward
    theta = theta0 + RADIAL_GOLDEN * np.arange(n_spokes)
    iy = ny // 2 + np.sin(theta)[:, None] * t[None, :]
    ix = nx // 2 + np.cos(theta)[:, None] * t[None, :]
    return _readonly(_first_hit_order(shape, iy.ravel(), ix.ravel()))


@lru_cache(maxsize=16)
def _spiral_order(shape: tuple[int, int], seed: int, turns: float,
                  density: float) -> np.ndarray:
    ny, nx = shape
    rng = np.random.default_rng(seed)
    theta0 = rng.uniform(0.0, 2.0 * math.pi)
    rmax = math.hypot(ny / 2.0, nx / 2.0)
    arc = math.pi * rmax * turns * max(1.0, density)  # ≥ the length of one arm
    tau = np.linspace(0.0, 1.0, int(1.6 * arc) + 2)  # ≲ 0.6 px between samples
    n_arms = int(math.ceil(2.0 * density * rmax / turns)) + 1  # the rest: filled by radius
    angle = theta0 + GOLDEN_ANGLE * np.arange(n_arms)[:, None] + 2.0 * math.pi * turns * tau
    radius = rmax * tau**density
    iy = ny // 2 + radius * np.sin(angle)
    ix = nx // 2 + radius * np.cos(angle)
    return _readonly(_first_hit_order(shape, iy.ravel(), ix.ravel()))


# ---------------------------------------------------------------------------------------------
# the ten families


def _default_centre(center_fraction: float | None, default: float, accel: float) -> float:
    """The random families' default centre (`default`, at most a quarter of what R keeps, so
    every R stays reachable); an explicit value, 0 included, is taken as given."""
    if center_fraction is not None:
        return center_fraction
    return min(default, 0.25 / max(float(accel), 1.0))


# Small fully sampled centres by default: without one a random pattern can miss the DC line and
# the image is near-black (9-12 dB at R 8). The head-twin paper's literal patterns have none:
# pass center_fraction=0 (`--center-fraction 0`), as benchmarks/table2.py does.
RANDOM_LINE_CENTRE = 0.04
RANDOM_POINTS_CENTRE = 0.06


def random_line(shape: Shape, accel: float, seed: int = 0, *,
                center_fraction: float | None = None,
                support: np.ndarray | None = None) -> np.ndarray:
    """Random whole ky lines (uniform) with a fully sampled centre band.

    Args:
        shape: (ny, n1) plane; rows are ky lines.
        accel: requested R ≥ 1.
        seed: seed of the line choice.
        center_fraction: fraction of ky lines around the centre always kept (default
            RANDOM_LINE_CENTRE, capped for high R; 0 = none, the paper's literal pattern).
        support: optional bool mask restricting where samples may go.
    Returns:
        bool mask of `shape`.
    """
    ny, nx = _check_shape(shape)
    accel = _check_accel(accel)
    support = _check_support(support, (ny, nx))
    cf = _check_fraction("center_fraction",
                         _default_centre(center_fraction, RANDOM_LINE_CENTRE, accel))
    score = np.random.default_rng(seed).random(ny)
    centre = _centre_rows(ny, cf)
    _check_centre(centre.size, int(round(ny / accel)), "random_line", cf, accel, "ky lines")
    score[centre] -= 1.0
    return _select_rows(np.argsort(score, kind="stable"), (ny, nx), accel, "random_line", support)


def random_points(shape: Shape, accel: float, seed: int = 0, *,
                  center_fraction: float | None = None,
                  support: np.ndarray | None = None) -> np.ndarray:
    """Compressed-sensing random points, uniform over the plane, with a fully sampled centre box
    (default RANDOM_POINTS_CENTRE of each axis, capped for high R; 0 = none, as the paper)."""
    ny, nx = _check_shape(shape)
    accel = _check_accel(accel)
    support = _check_support(support, (ny, nx))
    cf = _check_fraction("center_fraction",
                         _default_centre(center_fraction, RANDOM_POINTS_CENTRE, accel ** 0.5))
    if cf > 0:
        box = (2 * (int(round(ny * cf)) // 2) + 1) * (2 * (int(round(nx * cf)) // 2) + 1)
        _check_centre(box, int(round(ny * nx / accel)), "random_points", cf, accel, "points")
    order = _random_point_order((ny, nx), int(seed), cf)
    return _select_points(order, (ny, nx), accel, "random_points", support)


def cartesian(shape: Shape, accel: float, seed: int = 0, *, sigma: float = 0.15,
              center_fraction: float = 0.04, support: np.ndarray | None = None) -> np.ndarray:
    """Cartesian variable density: ky lines drawn without replacement with a Gaussian density
    of standard deviation ``sigma·ny`` around the centre line (Efraimidis–Spirakis keys), the
    central ``center_fraction`` of lines always kept."""
    ny, nx = _check_shape(shape)
    accel = _check_accel(accel)
    support = _check_support(support, (ny, nx))
    cf = _check_fraction("center_fraction", center_fraction)
    if not sigma > 0:
        raise ValueError(f"cartesian: sigma must be > 0, got {sigma:g}")
    u = np.random.default_rng(seed).random(ny)
    ky = np.arange(ny) - ny // 2
    # key = -log(u) / w with w = exp(-ky²/2s²), compared in the log domain
    log_key = np.log(-np.log1p(-u)) + ky.astype(np.float64) ** 2 / (2.0 * (sigma * ny) ** 2)
    centre = _centre_rows(ny, cf)
    _check_centre(centre.size, int(round(ny / accel)), "cartesian", cf, accel, "ky lines")
    log_key[centre] = -np.inf
    return _select_rows(np.argsort(log_key, kind="stable"), (ny, nx), accel, "cartesian", support)


def upper_half(shape: Shape, accel: float = 2.0, seed: int = 0, *,
               support: np.ndarray | None = None) -> np.ndarray:
    """The upper rows of k-space (ky from −kmax upward); R = 2 is exactly the upper half.

    Alone it cannot exceed R = 2; combine it (as a support) with another family for more.
    """
    ny, nx = _check_shape(shape)
    accel = _check_accel(accel)
    if accel > 2.0 * (1 + TOLERANCE):
        raise ValueError(
            f"upper_half samples at least half of k-space, so R <= 2 (asked {accel:g}); "
            "combine it with another family for a higher R (e.g. --combine-with random_line)"
        )
    support = _check_support(support, (ny, nx))
    return _select_rows(np.arange(ny), (ny, nx), accel, "upper_half", support)


def radial(shape: Shape, accel: float, seed: int = 0, *,
           support: np.ndarray | None = None) -> np.ndarray:
    """Golden-angle radial spokes through the centre; the seed rotates the first spoke."""
    ny, nx = _check_shape(shape)
    accel = _check_accel(accel)
    support = _check_support(support, (ny, nx))
    return _select_points(_radial_order((ny, nx), int(seed)), (ny, nx), accel, "radial", support)


def spiral(shape: Shape, accel: float, seed: int = 0, *, turns: float | None = None,
           density: float = 2.0, support: np.ndarray | None = None) -> np.ndarray:
    """Variable-density spiral interleaves from the centre outward, golden-angle rotated:
    radius ∝ t^density along each arm (density 1: Archimedean, uniform density; 2: the
    turns crowd near the centre, as in compressed-sensing spirals).

    Args:
        turns: turns per interleaf (default max(n)/16, at least 4).
        density: radial exponent >= 1.
    """
    ny, nx = _check_shape(shape)
    accel = _check_accel(accel)
    support = _check_support(support, (ny, nx))
    turns = float(turns) if turns is not None else max(4.0, max(ny, nx) / 16.0)
    if not turns > 0:
        raise ValueError(f"spiral: turns must be > 0, got {turns:g}")
    if not density >= 1:
        raise ValueError(f"spiral: density must be >= 1, got {density:g}")
    order = _spiral_order((ny, nx), int(seed), turns, float(density))
    return _select_points(order, (ny, nx), accel, "spiral", support)


def equispaced(shape: Shape, accel: float, seed: int = 0, *, center_fraction: float = 0.08,
               support: np.ndarray | None = None) -> np.ndarray:
    """fastMRI-style uniform undersampling: a fully sampled centre band of ky lines plus
    equally spaced lines outside it (the seed picks the offset), round(ny/R) lines in all."""
    ny, nx = _check_shape(shape)
    accel = _check_accel(accel)
    support = _check_support(support, (ny, nx))
    cf = _check_fraction("center_fraction", center_fraction)
    centre = _centre_rows(ny, cf)
    allowed: np.ndarray = (np.ones(ny, dtype=bool) if support is None
                           else np.asarray(support.any(axis=1), dtype=bool))
    n_keep = int(round(ny / accel)) if support is None else int(
        round(ny * nx / accel / max(1.0, support.sum() / max(1, allowed.sum())))
    )
    centre = centre[allowed[centre]]
    if n_keep < centre.size:
        raise ValueError(
            f"equispaced: the centre band ({centre.size} lines, center_fraction={cf:g}) alone "
            f"already exceeds the {n_keep} lines of R={accel:g}; lower the centre fraction"
        )
    outer = np.flatnonzero(allowed)
    outer = outer[~np.isin(outer, centre)]
    m = n_keep - centre.size
    if m > outer.size:
        raise ValueError(f"equispaced: R={accel:g} needs more lines than the plane has")
    picks = np.empty(0, dtype=np.int64)
    if m > 0:
        step = outer.size / m
        offset = np.random.default_rng(seed).uniform(0.0, step)
        picks = outer[np.minimum((offset + step * np.arange(m)).astype(np.int64), outer.size - 1)]
    mask = np.zeros((ny, nx), dtype=bool)
    mask[centre] = True
    mask[picks] = True
    if support is not None:
        mask &= support
    _reachable(ny * nx, accel, int(mask.sum()), "equispaced", "points")
    return mask


def kmax(shape: Shape, accel: float, seed: int = 0, *,
         support: np.ndarray | None = None) -> np.ndarray:
    """Low resolution (k_max): a central box of side ≈ n/√R on both plane axes."""
    ny, nx = _check_shape(shape)
    accel = _check_accel(accel)
    support = _check_support(support, (ny, nx))
    return _select_points(_kmax_order((ny, nx)), (ny, nx), accel, "kmax", support)


def partial_fourier(shape: Shape, accel: float, seed: int = 0, *, fraction: float | None = None,
                    both_axes: bool = False, support: np.ndarray | None = None) -> np.ndarray:
    """Partial Fourier: a fraction f = 1/R of the ky lines, from the top edge down past the
    centre (the DC line is always kept: at f = 0.5 the block is shifted to end on it), or with
    `both_axes` a fraction 1/√R of both plane axes (all encoding directions).

    Args:
        fraction: optional f in [0.5, 1]; must agree with R (R = 1/f, or 1/f² with both_axes).
    """
    ny, nx = _check_shape(shape)
    accel = _check_accel(accel)
    support = _check_support(support, (ny, nx))
    limit = 4.0 if both_axes else 2.0
    if fraction is not None:
        f = _check_fraction("partial-Fourier fraction", fraction, 0.5, 1.0)
        implied = 1.0 / (f * f if both_axes else f)
        if abs(implied / accel - 1.0) > TOLERANCE:
            raise ValueError(
                f"partial_fourier: fraction {f:g} means R={implied:.3g}, not R={accel:g}"
            )
    if accel > limit * (1 + TOLERANCE):
        raise ValueError(
            f"partial_fourier keeps a fraction >= 0.5 per axis, so R <= {limit:g} "
            f"(asked {accel:g}); combine it with another family for a higher R "
            "(e.g. --combine-with equispaced)"
        )
    if not both_axes:
        # from the top edge, but never stopping short of the DC line (half Fourier keeps it)
        n_rows = int(round(ny / accel))
        first = max(0, ny // 2 + 1 - n_rows)
        order = np.concatenate([np.arange(first, ny), np.arange(first)])
        return _select_rows(order, (ny, nx), accel, "partial_fourier", support)
    iy = np.arange(ny)[:, None] / ny
    ix = np.arange(nx)[None, :] / nx
    score = np.maximum(iy, ix) + 1e-6 * (iy + ix)
    order = np.argsort(score, axis=None, kind="stable")
    return _select_points(order, (ny, nx), accel, "partial_fourier", support)


def elliptical(shape: Shape, accel: float, seed: int = 0, *,
               support: np.ndarray | None = None) -> np.ndarray:
    """Elliptical sampling: the central ellipse (aspect of the plane) holding N/R points;
    R = 4/π ≈ 1.27 is the inscribed ellipse that drops the corners."""
    ny, nx = _check_shape(shape)
    accel = _check_accel(accel)
    support = _check_support(support, (ny, nx))
    return _select_points(_elliptical_order((ny, nx)), (ny, nx), accel, "elliptical", support)


FAMILIES: dict[str, MaskFamily] = {
    f.name: f
    for f in (
        MaskFamily("random_line", random_line, "rows", True, None,
                   "random whole ky lines"),
        MaskFamily("random_points", random_points, "points", True, None,
                   "compressed-sensing random points"),
        MaskFamily("cartesian", cartesian, "rows", True, None,
                   "ky lines, Gaussian density around the centre line"),
        MaskFamily("upper_half", upper_half, "rows", True, 2.0,
                   "upper half of k-space (R <= 2 alone)"),
        MaskFamily("radial", radial, "points", False, None,
                   "golden-angle radial spokes"),
        MaskFamily("spiral", spiral, "points", False, None,
                   "variable-density spiral interleaves"),
        MaskFamily("equispaced", equispaced, "rows", True, None,
                   "equispaced ky lines with a fully sampled centre (fastMRI)"),
        MaskFamily("kmax", kmax, "points", True, None,
                   "low resolution: central k-space box"),
        MaskFamily("partial_fourier", partial_fourier, "rows", True, 2.0,
                   "partial Fourier: fraction 1/R of ky"),
        MaskFamily("elliptical", elliptical, "points", True, None,
                   "central ellipse of k-space"),
    )
}
FAMILY_NAMES: tuple[str, ...] = tuple(FAMILIES)
# The six families of the head-twin paper's Table 2, in its row order.
PAPER_FAMILIES: tuple[str, ...] = (
    "random_line", "random_points", "cartesian", "upper_half", "radial", "spiral",
)


def get_family(name: str) -> MaskFamily:
    """The registered family `name`; ValueError listing the valid names otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(
            f"unknown mask family '{name}'; choose one of: {', '.join(FAMILY_NAMES)}"
        ) from None


# Families with a ceiling on R, and the family that fills their region beyond it.
DEFAULT_FILL: dict[str, str] = {"upper_half": "random_line", "partial_fourier": "equispaced"}


def make_mask(family: str, shape: Shape, accel: float, seed: int = 0, *,
              pf_fraction: float | None = None, support: np.ndarray | None = None,
              combine_with: str | None = None, strict: bool = True,
              **params: Any) -> np.ndarray:
    """A mask of `family` reaching R overall, optionally inside a partial-Fourier support.

    Args:
        family: a name from `FAMILY_NAMES`.
        shape: the sampling plane, (ky, kx) in 2D or (ky, kz) in 3D.
        accel: requested overall R (points of the plane / points kept).
        seed: seed of the family's randomness.
        pf_fraction: if set (0.5–1), only the first fraction of ky lines may be sampled; the
            family fills the rest of the budget inside them. For ``partial_fourier`` itself it
            is the family's fraction and must agree with R.
        support: an extra bool region the mask must stay inside.
        combine_with: another family that samples *inside* `family`'s own region at its
            ceiling (e.g. upper_half at R=2 × random_line), so capped families reach any R.
        strict: raise on parameters the family does not take (else drop them).
        **params: family parameters (center_fraction, sigma, turns, both_axes, fraction).
    Returns:
        bool mask of `shape`.
    """
    fam = get_family(family)
    shape = _check_shape(shape)
    params = {k: v for k, v in params.items() if v is not None}
    if combine_with is not None:
        if family == "partial_fourier" and pf_fraction is not None:
            region_accel = 1.0 / _check_fraction("partial-Fourier fraction", pf_fraction, 0.5)
        elif family == "partial_fourier":
            region_accel = shape[0] / (shape[0] // 2 + 1)  # half Fourier plus the DC line
        else:
            region_accel = fam.max_accel or _check_accel(accel)
        region = make_mask(family, shape, region_accel, seed, pf_fraction=pf_fraction,
                           support=support)
        return make_mask(combine_with, shape, accel, seed, support=region, strict=strict,
                         **params)
    accepted = inspect.signature(fam.func).parameters
    unknown = sorted(set(params) - set(accepted) - {"shape", "accel", "seed", "support"})
    if unknown and strict:
        raise ValueError(f"{family}: does not take parameter(s) {', '.join(unknown)}")
    params = {k: v for k, v in params.items() if k not in unknown}
    if family == "partial_fourier":
        if pf_fraction is not None:
            params.setdefault("fraction", pf_fraction)
        return fam.func(shape, accel, seed, support=support, **params)
    if pf_fraction is not None:
        f = _check_fraction("partial-Fourier fraction", pf_fraction, 0.5, 1.0)
        pf = np.zeros(shape, dtype=bool)
        pf[: max(1, int(round(shape[0] * f)))] = True
        support = pf if support is None else (_check_support(support, shape) & pf)
    return fam.func(shape, accel, seed, support=support, **params)


def compose(*masks: np.ndarray) -> np.ndarray:
    """Product (logical AND) of masks on the same plane, e.g. elliptical × equispaced."""
    if not masks:
        raise ValueError("compose needs at least one mask")
    out = np.asarray(masks[0], dtype=bool).copy()
    for m in masks[1:]:
        m = np.asarray(m, dtype=bool)
        if m.shape != out.shape:
            raise ValueError(f"cannot compose masks of shapes {out.shape} and {m.shape}")
        out &= m
    return out


def achieved_accel(mask: np.ndarray) -> float:
    """R of a plane mask: points / points kept (inf when nothing is kept)."""
    kept = int(np.count_nonzero(mask))
    return float(mask.size) / kept if kept else math.inf


def plane_shape(image_shape: tuple[int, ...], dims: int) -> tuple[int, int]:
    """The sampling plane of an image in encoding layout: 2D (ky, kx) → (ky, kx);
    3D (ky, kx, kz) → (ky, kz)."""
    if dims == 2 and len(image_shape) == 2:
        return int(image_shape[0]), int(image_shape[1])
    if dims == 3 and len(image_shape) == 3:
        return int(image_shape[0]), int(image_shape[2])
    raise ValueError(f"a {dims}D mask needs a {dims}D image, got shape {tuple(image_shape)}")


def expand_mask(mask: np.ndarray, dims: int) -> np.ndarray:
    """A view of a plane mask that broadcasts over the image in encoding layout:
    2D → (ky, kx) as is; 3D → (ky, 1, kz), the readout kx fully sampled."""
    if dims == 2:
        return mask
    if dims == 3:
        return mask[:, None, :]
    raise ValueError(f"dims must be 2 or 3, got {dims}")
