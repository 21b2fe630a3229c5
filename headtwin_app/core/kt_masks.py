"""k-t (cine) undersampling masks: a registry of four seeded families over time and k-space.

Conventions. A k-t mask is a bool array of shape (nt, ny, nx): axis 0 the time frames, axis 1 ky
(phase encode), axis 2 kx (readout). Cartesian families keep whole ky rows (all of kx) in every
frame. Acceleration R = points of the whole sequence / points kept. Every frame keeps exactly
``round(N/R)`` of its N units (ky lines for the Cartesian families, (ky, kx) points for radial),
so each frame and the whole sequence reach the requested R within `masks.TOLERANCE` (2 %);
where that is impossible a `ValueError` says why (e.g. R = 6 on 64 ky lines: 11 lines give 5.82,
10 give 6.4).

Why a separate registry: `masks.FAMILIES` is enumerated by the mask sweeps and by training,
which work on one 2D/3D sampling plane; a k-t family needs a time axis, so `KT_FAMILIES` keeps
it out of their way. The 2D helpers (validation, centre rows, golden-angle spokes, exact point
selection) are imported from `masks`, not copied.

`xf_psf` gives the x-f point-spread function (Tsao's k-t BLAST picture) and `psf_peak_sidelobe`
its coherence: a sheared lattice folds into R equal replicas (ratio 1), random and variable-
density patterns spread the aliasing incoherently (ratio well below 1).
"""

from __future__ import annotations

import inspect
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .fft import fftnc, ifftnc
from .masks import (
    RADIAL_GOLDEN,
    RANDOM_LINE_CENTRE,
    _centre_rows,
    _check_accel,
    _check_shape,
    _first_hit_order,
    _reachable,
    _select_points,
    achieved_accel,
)

KtShape = tuple[int, int, int]

# kt_vd_cartesian's Gaussian pdf over ky: standard deviation KT_VD_SIGMA·ny (Schlemper's ny/10),
# plus a uniform floor 1/(2R) so outer lines keep a chance at every R (as his cartesian_mask).
KT_VD_SIGMA = 0.1


@dataclass(frozen=True)
class KtFamily:
    """One registered k-t family: its function and what a user needs to know about it."""

    name: str
    func: Callable[..., np.ndarray]
    cartesian: bool  # whole ky lines per frame (for the scan-time model)
    description: str


# ---------------------------------------------------------------------------------------------
# validation


def _check_kt_shape(shape: Sequence[int]) -> KtShape:
    """(nt, ny, nx) as ints; ValueError unless three positive integers (ny >= 2, as a plane)."""
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(f"a k-t mask shape is (nt, ny, nx), got {shape!r}") from None
    if len(dims) != 3:
        raise ValueError(f"a k-t mask shape is (nt, ny, nx), got {dims}")
    out: list[int] = []
    for d in dims:
        if isinstance(d, bool | np.bool_):
            raise ValueError(f"k-t mask shape {dims} must hold integers")
        try:
            out.append(operator.index(d))
        except TypeError:
            raise ValueError(f"k-t mask shape {dims} must hold integers") from None
    nt, ny, nx = out
    if min(out) < 1:
        raise ValueError(f"k-t mask shape {dims} must hold positive sizes")
    _check_shape((ny, nx))  # the plane rule of masks.py: at least two ky lines
    return nt, ny, nx


def _check_kt_mask(mask: np.ndarray) -> np.ndarray:
    """The mask as a bool (nt, ny, nx) array; ValueError for any other rank."""
    m = np.asarray(mask)
    if m.ndim != 3 or m.size == 0:
        raise ValueError(f"a k-t mask is a non-empty (nt, ny, nx) array, got shape {m.shape}")
    return m != 0


def _lines_per_frame(ny: int, accel: float, family: str) -> int:
    """round(ny/R) ky lines, or a ValueError when no whole number of lines gives R within 2 %."""
    n_keep = int(round(ny / accel))
    _reachable(ny, accel, n_keep, family, "ky lines per frame")
    return n_keep


def _centre_block(ny: int, n_keep: int, accel: float, centre_lines: int | None,
                  family: str) -> np.ndarray:
    """The fully sampled ky rows around the DC row. Default (None): max(2, round(0.04·ny))
    lines (masks.RANDOM_LINE_CENTRE), capped at half the lines a frame keeps so every R stays
    reachable; an explicit count, 0 included, is taken as given."""
    if centre_lines is None:
        n = min(max(2, int(round(ny * RANDOM_LINE_CENTRE))), max(1, n_keep // 2))
    else:
        if isinstance(centre_lines, bool | np.bool_):
            raise ValueError(f"{family}: centre_lines must be an integer, got {centre_lines!r}")
        try:
            n = operator.index(centre_lines)
        except TypeError:
            raise ValueError(
                f"{family}: centre_lines must be an integer, got {centre_lines!r}"
            ) from None
        if n < 0:
            raise ValueError(f"{family}: centre_lines must be >= 0, got {n}")
        if n > n_keep:
            raise ValueError(
                f"{family}: {n} centre lines are more than the {n_keep} ky lines a frame keeps "
                f"at R={accel:g}; lower centre_lines or R"
            )
    return _centre_rows(ny, n / ny)


def _lines_by_weight(shape: KtShape, n_keep: int, weights: np.ndarray, centre: np.ndarray,
                     seed: int) -> np.ndarray:
    """Per frame, the centre rows plus further ky lines drawn without replacement with
    probability ∝ `weights` (Efraimidis–Spirakis keys, as masks.cartesian), a fresh draw each
    frame; whole rows."""
    nt, ny, nx = shape
    u = np.random.default_rng(seed).random((nt, ny))
    log_key = np.log(-np.log1p(-u)) - np.log(weights)[None, :]
    log_key[:, centre] = -np.inf
    rows = np.argsort(log_key, axis=1, kind="stable")[:, :n_keep]
    lines = np.zeros((nt, ny), dtype=bool)
    np.put_along_axis(lines, rows, True, axis=1)
    return np.repeat(lines[:, :, None], nx, axis=2)


# ---------------------------------------------------------------------------------------------
# the four families


def kt_vd_cartesian(shape: Sequence[int], accel: float, seed: int = 0, *,
                    centre_lines: int | None = None, sigma: float | None = None) -> np.ndarray:
    """Variable-density Cartesian k-t mask (Schlemper's cartesian_mask): per frame a fully
    sampled centre block plus ky lines drawn from a Gaussian pdf, a different draw each frame.

    Args:
        shape: (nt, ny, nx).
        accel: requested R >= 1; each frame keeps round(ny/R) whole ky lines.
        seed: seed of the line draws.
        centre_lines: fully sampled ky lines around the DC row in every frame (default
            max(2, round(0.04·ny)), capped at half the lines a frame keeps; 0 = none).
        sigma: standard deviation of the Gaussian pdf as a fraction of ny (default
            KT_VD_SIGMA = 0.1); a uniform floor 1/(2R) is added, as Schlemper does.
    Returns:
        bool mask of `shape`.
    """
    nt, ny, nx = _check_kt_shape(shape)
    accel = _check_accel(accel)
    s = KT_VD_SIGMA if sigma is None else float(sigma)
    if not (math.isfinite(s) and s > 0):
        raise ValueError(f"kt_vd_cartesian: sigma must be > 0, got {s:g}")
    n_keep = _lines_per_frame(ny, accel, "kt_vd_cartesian")
    centre = _centre_block(ny, n_keep, accel, centre_lines, "kt_vd_cartesian")
    ky = (np.arange(ny) - ny // 2).astype(np.float64)
    weights = np.exp(-(ky**2) / (2.0 * (s * ny) ** 2)) + 1.0 / (2.0 * accel)
    return _lines_by_weight((nt, ny, nx), n_keep, weights, centre, int(seed))


def kt_random(shape: Sequence[int], accel: float, seed: int = 0, *,
              centre_lines: int | None = None) -> np.ndarray:
    """Uniform random ky lines, a fresh draw each frame, plus a fully sampled centre block
    (default as kt_vd_cartesian); each frame keeps round(ny/R) whole lines."""
    nt, ny, nx = _check_kt_shape(shape)
    accel = _check_accel(accel)
    n_keep = _lines_per_frame(ny, accel, "kt_random")
    centre = _centre_block(ny, n_keep, accel, centre_lines, "kt_random")
    return _lines_by_weight((nt, ny, nx), n_keep, np.ones(ny), centre, int(seed))


def kt_lattice(shape: Sequence[int], accel: float, seed: int = 0, *,
               centre_lines: int | None = 0) -> np.ndarray:
    """Sheared lattice (k-t BLAST/SENSE sampling): equispaced ky lines shifted by one line per
    frame, so the x-f PSF folds into R coherent replicas.

    Frame t keeps ky ≡ (t + offset) mod R when R is an integer dividing ny; otherwise
    round(ny/R) lines equally spaced (step ny/round(ny/R)), still shifted one line per frame
    (cyclically), so frame t+1 is always frame t rolled by one ky line. The seed picks the
    offset. With `centre_lines` > 0 those rows are kept in every frame and the lattice runs over
    the remaining rows, the total per frame still round(ny/R).
    """
    nt, ny, nx = _check_kt_shape(shape)
    accel = _check_accel(accel)
    n_keep = _lines_per_frame(ny, accel, "kt_lattice")
    centre = _centre_block(ny, n_keep, accel, 0 if centre_lines is None else centre_lines,
                           "kt_lattice")
    candidates = np.setdiff1d(np.arange(ny), centre)
    m = n_keep - centre.size
    lines = np.zeros((nt, ny), dtype=bool)
    lines[:, centre] = True
    if m > 0:
        step = candidates.size / m
        offset = np.random.default_rng(int(seed)).uniform(0.0, step)
        base = np.floor(offset + step * np.arange(m)).astype(np.int64)
        idx = (base[None, :] + np.arange(nt)[:, None]) % candidates.size
        np.put_along_axis(lines, candidates[idx], True, axis=1)
    return np.repeat(lines[:, :, None], nx, axis=2)


def _spoke_samples(plane: tuple[int, int], theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(iy, ix) samples, (spokes, samples), each spoke from the centre outward (0, ±½, ±1, …)
    across the whole plane; spoke-major, as masks' radial order."""
    ny, nx = plane
    rmax = math.hypot(ny / 2.0, nx / 2.0)
    r = np.arange(0.0, rmax + 0.5, 0.5)
    r = np.stack([r, -r], axis=1).ravel()[1:]
    iy = ny // 2 + np.sin(theta)[:, None] * r[None, :]
    ix = nx // 2 + np.cos(theta)[:, None] * r[None, :]
    return iy, ix


def _spokes_per_frame(plane: tuple[int, int], n_keep: int, theta0: float) -> int:
    """The number of golden-angle spokes whose rasterised points first reach `n_keep`."""
    ny, nx = plane
    n_max = int(math.ceil(1.5 * math.pi * math.hypot(ny / 2.0, nx / 2.0)))
    iy, ix = _spoke_samples(plane, theta0 + RADIAL_GOLDEN * np.arange(n_max))
    iy, ix = np.rint(iy).astype(np.int64), np.rint(ix).astype(np.int64)
    inside = (iy >= 0) & (iy < ny) & (ix >= 0) & (ix < nx)
    flat = np.where(inside, iy * nx + ix, -1).ravel()
    spoke = np.repeat(np.arange(n_max), iy.shape[1])
    _, first = np.unique(flat, return_index=True)
    first = first[flat[first] >= 0]
    new = np.cumsum(np.bincount(spoke[first], minlength=n_max))
    return min(int(np.searchsorted(new, n_keep)) + 1, n_max)


def kt_golden_radial(shape: Sequence[int], accel: float, seed: int = 0) -> np.ndarray:
    """Golden-angle radial k-t mask: each frame takes the next S spokes of one golden-angle
    (masks.RADIAL_GOLDEN) sequence, rasterised on (ky, kx), so successive frames interleave.

    S is the number of spokes that first reaches round(ny·nx/R) points; in each frame the last
    spoke is cut (from its ends inward) or unvisited points nearest the centre are added, as
    masks.radial does, so every frame keeps exactly round(ny·nx/R) points and holds the k-space
    centre. The seed rotates the first spoke.
    """
    nt, ny, nx = _check_kt_shape(shape)
    accel = _check_accel(accel)
    n_keep = int(round(ny * nx / accel))
    _reachable(ny * nx, accel, n_keep, "kt_golden_radial", "points per frame")
    theta0 = float(np.random.default_rng(int(seed)).uniform(0.0, math.pi))
    n_spokes = _spokes_per_frame((ny, nx), n_keep, theta0)
    mask = np.zeros((nt, ny, nx), dtype=bool)
    for t in range(nt):
        theta = theta0 + RADIAL_GOLDEN * (t * n_spokes + np.arange(n_spokes))
        iy, ix = _spoke_samples((ny, nx), theta)
        order = _first_hit_order((ny, nx), iy.ravel(), ix.ravel())
        mask[t] = _select_points(order, (ny, nx), accel, "kt_golden_radial", None)
    return mask


KT_FAMILIES: dict[str, KtFamily] = {
    f.name: f
    for f in (
        KtFamily("kt_vd_cartesian", kt_vd_cartesian, True,
                 "ky lines per frame from a Gaussian pdf, centre block kept (Schlemper)"),
        KtFamily("kt_lattice", kt_lattice, True,
                 "sheared equispaced ky lines, shifted one line per frame (k-t BLAST)"),
        KtFamily("kt_random", kt_random, True,
                 "uniform random ky lines per frame, centre block kept"),
        KtFamily("kt_golden_radial", kt_golden_radial, False,
                 "golden-angle radial spokes continuing across frames"),
    )
}
KT_FAMILY_NAMES: tuple[str, ...] = (
    "kt_vd_cartesian", "kt_lattice", "kt_random", "kt_golden_radial",
)


def make_kt_mask(family: str, shape: tuple[int, int, int], accel: float, seed: int = 0, *,
                 centre_lines: int | None = None, **params: Any) -> np.ndarray:
    """A k-t mask of `family` reaching R per frame and over the sequence.

    Args:
        family: a name from `KT_FAMILY_NAMES`.
        shape: (nt, ny, nx).
        accel: requested R (points of the sequence / points kept).
        seed: seed of the family's randomness.
        centre_lines: fully sampled centre ky lines (Cartesian families; None = the family's
            default).
        **params: further family parameters (sigma for kt_vd_cartesian); None values dropped.
    Returns:
        bool mask of `shape`.
    """
    try:
        fam = KT_FAMILIES[family]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown k-t mask family {family!r}; choose one of: {', '.join(KT_FAMILY_NAMES)}"
        ) from None
    kwargs = {k: v for k, v in params.items() if v is not None}
    if centre_lines is not None:
        kwargs["centre_lines"] = centre_lines
    accepted = set(inspect.signature(fam.func).parameters) - {"shape", "accel", "seed"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        takes = ", ".join(sorted(accepted)) or "no parameters"
        raise ValueError(f"{family}: does not take {', '.join(unknown)} (takes: {takes})")
    return fam.func(shape, accel, seed, **kwargs)


# ---------------------------------------------------------------------------------------------
# acceleration and the x-f point-spread function


def achieved_accel_kt(mask: np.ndarray) -> float:
    """R of the whole sequence: points / points kept (inf when nothing is kept)."""
    return achieved_accel(_check_kt_mask(mask))


def per_frame_accel(mask: np.ndarray) -> np.ndarray:
    """R of each frame, float64 (nt,): ny·nx / points kept in that frame (inf when none)."""
    m = _check_kt_mask(mask)
    kept = m.reshape(m.shape[0], -1).sum(axis=1).astype(np.float64)
    plane = float(m.shape[1] * m.shape[2])
    return np.divide(plane, kept, out=np.full(kept.shape, np.inf), where=kept > 0)


def xf_psf(mask: np.ndarray) -> np.ndarray:
    """The x-f point-spread function of a k-t mask (Tsao's k-t BLAST picture), to see where
    undersampling folds a pixel: |FFT over t → f, inverse FFT over ky → y| at x = 0.

    Centred orthonormal transforms (core.fft). For a Cartesian mask this is the transform of
    any kx column; in general it is the x = 0 slice of the 3D PSF, i.e. the transform of the
    mask summed over kx.

    Returns:
        float32 (nf, ny) with nf = nt: axis 0 the temporal frequency f (f = 0 at index nt // 2),
        axis 1 y (y = 0 at index ny // 2); normalised so the main-lobe peak at (f=0, y=0),
        always the maximum, is 1.
    """
    m = _check_kt_mask(mask)
    nt, ny, _ = m.shape
    plane = m.sum(axis=2, dtype=np.float64)
    psf = np.abs(ifftnc(fftnc(plane, (0,)), (1,)))
    peak = psf[nt // 2, ny // 2]
    if not peak > 0:
        raise ValueError("xf_psf: the mask keeps no samples")
    return (psf / peak).astype(np.float32)


def _lobe(profile: np.ndarray, c: int, eps: float) -> tuple[int, int]:
    """Index range of the main lobe on a 1D profile through the peak at `c`: outward while the
    values keep falling (by more than `eps`)."""
    lo = c
    while lo > 0 and profile[lo - 1] < profile[lo] - eps:
        lo -= 1
    hi = c
    while hi < profile.size - 1 and profile[hi + 1] < profile[hi] - eps:
        hi += 1
    return lo, hi


def psf_peak_sidelobe(psf: np.ndarray) -> float:
    """Peak sidelobe ratio of an x-f PSF (as `xf_psf` returns): the largest value outside the
    main lobe / the main-lobe peak; lower = more incoherent aliasing, 1 = a coherent replica.

    The main lobe is the peak at (nf // 2, ny // 2) and its shoulders along f and along y, out
    to where the values stop falling on each side (a variable-density mask has a wide one).
    """
    p = np.asarray(psf, dtype=np.float64)
    if p.ndim != 2 or p.size == 0:
        raise ValueError(f"an x-f PSF is a non-empty 2D (nf, ny) array, got shape {p.shape}")
    cf, cy = p.shape[0] // 2, p.shape[1] // 2
    peak = p[cf, cy]
    if not peak > 0:
        raise ValueError("psf_peak_sidelobe: the PSF has no main lobe at (f=0, y=0)")
    eps = 1e-6 * peak  # float32 round-off of a zero is not a slope
    f0, f1 = _lobe(p[:, cy], cf, eps)
    y0, y1 = _lobe(p[cf, :], cy, eps)
    outside = np.ones(p.shape, dtype=bool)
    outside[f0:f1 + 1, y0:y1 + 1] = False
    return float(p[outside].max() / peak) if outside.any() else 0.0
