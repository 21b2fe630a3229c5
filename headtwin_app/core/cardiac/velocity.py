"""Velocity assessment in the LV's cylindrical frame (HDL paper §III-C).

Conventions (the myocardial velocity-mapping ones): radial is positive towards the LV centre
(systolic contraction), circumferential positive counterclockwise in the image's (x, y) axes,
longitudinal positive towards the apex. A global curve is the mean over all myocardium voxels of
all slices per frame. PSV is the largest positive value in the first 45 % of the cycle, PDV the
magnitude of the most negative value after the systolic peak; their times are in frames (sub-frame
by a parabola through the peak and its neighbours); the mean velocity is the cycle mean of |v|
(the signed mean of a periodic motion is zero).

Phase decodes to velocity as v = φ / π · venc per component (φ in radians, (−π, π]); a velocity
above the venc has wrapped. `assess` works on a velocity array (x, y, slice, frame, 3: in-plane
x, in-plane y, through-plane) and an LV mask (x, y, slice, frame: 1 myocardium, 2 blood pool):
per frame and slice the cylindrical frame is centred on the in-plane centroid of the LV
(myocardium and blood pool), and the myocardium's velocities are projected onto it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from headtwin_app.core.cardiac.phantom import CardiacCase

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


CONVENTIONS = ("radial + towards the LV centre, circumferential + counterclockwise in the "
               "image's (x, y), longitudinal + towards the apex; cylindrical frame about the "
               "per-frame, per-slice centroid of the LV mask (myocardium + blood pool); global "
               "curve = mean over all myocardium voxels of all slices; PSV = max in the first "
               "45 % of the cycle, PDV = |min| after it; times in frames from frame 0; "
               "mean = cycle mean of |v|")


def _venc_vector(venc: float | np.ndarray | list[float] | tuple[float, ...]) -> np.ndarray:
    v = np.asarray(venc, dtype=np.float64).reshape(-1)
    if v.size == 1:
        v = np.repeat(v, 3)
    if v.size != 3 or not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"venc must be one positive value or three (x, y, through-plane) in "
                         f"mm/s, got {np.asarray(venc).tolist()}")
    return v


def velocity_from_phase(phase: np.ndarray, venc: float | np.ndarray | list[float]
                        | tuple[float, ...]) -> np.ndarray:
    """Phase (…, 3) in radians → velocity (…, 3) in mm/s: v = φ / π · venc per component.

    Args:
        phase: radians in (−π, π], last axis the three encoding directions.
        venc: one value for all directions or three (x, y, through-plane), mm/s.
    Returns:
        float32 velocities, same shape as `phase`.
    """
    phase = np.asarray(phase)
    if phase.ndim < 1 or phase.shape[-1] != 3:
        raise ValueError(f"phase needs a last axis of 3 components, got shape {phase.shape}")
    return (phase.astype(np.float32) / np.float32(np.pi)
            * _venc_vector(venc).astype(np.float32)).astype(np.float32)


def upsample_periodic(curve: np.ndarray, factor: int) -> np.ndarray:
    """A periodic curve resampled `factor` times finer by band-limited (Fourier) interpolation;
    sample k·factor of the result equals sample k of the input."""
    curve = np.asarray(curve, dtype=np.float64)
    n = len(curve)
    if factor <= 1 or n < 2:
        return curve.copy()
    spec = np.fft.rfft(curve)
    m = n * factor
    out_spec = np.zeros(m // 2 + 1, dtype=complex)
    out_spec[:len(spec)] = spec
    if n % 2 == 0:  # split the Nyquist bin so the result stays real and interpolating
        out_spec[n // 2] *= 0.5
    return np.fft.irfft(out_spec, m) * factor


def lv_centroids(lv_mask: np.ndarray, spacing_mm: tuple[float, float] = (1.0, 1.0)
                 ) -> np.ndarray:
    """In-plane LV centroid (mm, voxel centres at i · spacing) per slice and frame:
    (slice, frame, 2), NaN where the slice holds no LV in that frame."""
    lv = np.asarray(lv_mask) > 0
    nx, ny = lv.shape[:2]
    ix = (np.arange(nx) * spacing_mm[0])[:, None, None, None]
    iy = (np.arange(ny) * spacing_mm[1])[None, :, None, None]
    count = lv.sum(axis=(0, 1)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = (lv * ix).sum(axis=(0, 1)) / count
        cy = (lv * iy).sum(axis=(0, 1)) / count
    return np.stack([cx, cy], axis=-1)


def _check_shapes(velocity: np.ndarray, lv_mask: np.ndarray) -> None:
    if velocity.ndim != 5 or velocity.shape[-1] != 3:
        raise ValueError("velocity must be (x, y, slice, frame, 3), got shape "
                         f"{velocity.shape}")
    if lv_mask.shape != velocity.shape[:4]:
        raise ValueError(f"lv_mask shape {lv_mask.shape} does not match the velocity's "
                         f"(x, y, slice, frame) {velocity.shape[:4]}")


def global_curves(velocity: np.ndarray, lv_mask: np.ndarray,
                  spacing_mm: tuple[float, float] = (1.0, 1.0), z_towards_base: bool = True
                  ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Global radial / circumferential / longitudinal curves (mm/s per frame) and the number of
    myocardium voxels per frame. A frame without myocardium gives NaN."""
    velocity = np.asarray(velocity)
    lv_mask = np.asarray(lv_mask)
    _check_shapes(velocity, lv_mask)
    nx, ny, ns, nf = lv_mask.shape
    cent = lv_centroids(lv_mask, spacing_mm)
    px_all, py_all = np.meshgrid(np.arange(nx) * spacing_mm[0], np.arange(ny) * spacing_mm[1],
                                 indexing="ij")
    curves = {d: np.full(nf, np.nan) for d in DIRECTIONS}
    counts = np.zeros(nf, dtype=np.int64)
    for f in range(nf):
        sums = np.zeros(3)
        n = 0
        for s in range(ns):
            myo = lv_mask[:, :, s, f] == 1
            if not myo.any():
                continue
            v = velocity[:, :, s, f, :][myo].astype(np.float64)
            parts = cylindrical(v[:, 0], v[:, 1], v[:, 2], px_all[myo], py_all[myo],
                                float(cent[s, f, 0]), float(cent[s, f, 1]), z_towards_base)
            sums += np.array([p.sum() for p in parts])
            n += int(myo.sum())
        counts[f] = n
        if n:
            for d, total in zip(DIRECTIONS, sums, strict=True):
                curves[d][f] = total / n
    return curves, counts


def _frames_list(hit: np.ndarray) -> list[int]:
    return [int(i) for i in np.nonzero(hit)[0]]


def _with_counts(out: dict[str, Any], counts: list[np.ndarray]) -> dict[str, Any]:
    """`out` with per-component flagged-voxel counts (one per frame) summed and their frames."""
    for name, per_frame in zip(("x", "y", "through_plane"), counts, strict=True):
        out["components"][name] = {"voxels": int(per_frame.sum()),
                                   "frames": _frames_list(per_frame > 0)}
    out["voxels"] = int(sum(int(c.sum()) for c in counts))
    out["frames"] = _frames_list(np.sum(counts, axis=0) > 0)
    return out


def above_venc_from_velocity(velocity: np.ndarray, lv_mask: np.ndarray,
                             venc: float | np.ndarray | list[float] | tuple[float, ...]
                             ) -> dict[str, Any]:
    """Myocardium voxels with |v| > venc per component (they would wrap), and their frames."""
    v = _venc_vector(venc)
    myo = np.asarray(lv_mask) == 1
    out: dict[str, Any] = {"method": "|v| > venc in the myocardium", "venc_mm_s": v.tolist(),
                           "myocardium_voxels": int(myo.sum()), "components": {}}
    counts = [((np.abs(np.asarray(velocity)[..., c]) > v[c]) & myo).sum(axis=(0, 1, 2))
              for c in range(3)]
    return _with_counts(out, counts)


def likely_wraps(phase: np.ndarray, lv_mask: np.ndarray) -> dict[str, Any]:
    """Likely phase wraps inside the myocardium: neighbouring myocardium voxels (4-neighbours in
    plane) whose phases differ by more than π. Counts voxel pairs per component and frames."""
    phase = np.asarray(phase, dtype=np.float32)
    myo = np.asarray(lv_mask) == 1
    out: dict[str, Any] = {"method": "in-plane neighbouring phase jumps > pi inside the "
                                     "myocardium", "myocardium_voxels": int(myo.sum()),
                           "components": {}}
    counts = []
    for c in range(3):
        p = phase[..., c]
        per_frame = np.zeros(myo.shape[3], dtype=np.int64)
        for axis in (0, 1):
            a = [slice(None)] * 4
            b = [slice(None)] * 4
            a[axis], b[axis] = slice(None, -1), slice(1, None)
            both = myo[tuple(a)] & myo[tuple(b)]
            jump = np.abs(p[tuple(a)] - p[tuple(b)]) > np.pi
            per_frame += (jump & both).sum(axis=(0, 1, 2))
        counts.append(per_frame)
    return _with_counts(out, counts)


def assess(velocity: np.ndarray, lv_mask: np.ndarray,
           spacing_mm: tuple[float, float] = (1.0, 1.0),
           venc: float | np.ndarray | list[float] | tuple[float, ...] | None = None,
           z_towards_base: bool = True, oversample: int = 1,
           phase: np.ndarray | None = None) -> dict[str, Any]:
    """Myocardial velocity assessment (HDL paper §III-C): global curves, peaks, venc flags.

    Args:
        velocity: (x, y, slice, frame, 3) mm/s: in-plane x, in-plane y, through-plane.
        lv_mask: (x, y, slice, frame): 1 myocardium, 2 blood pool, 0 elsewhere.
        spacing_mm: in-plane voxel size (dx, dy).
        venc: mm/s (one or three values); needed for the above-venc flags.
        z_towards_base: the through-plane component is + towards the base (else the apex).
        oversample: peaks are read from the curve interpolated this many times finer
            (band-limited); the curves themselves stay at the frame rate.
        phase: the phase (radians) the velocity was decoded from; when given, the flags are
            likely wraps in it (the true |v| is unknown), else |v| > venc.
    Returns:
        JSON-ready dict: curves_mm_s, peaks, above_venc, frames, myocardium_voxels_per_frame,
        conventions.
    """
    if oversample < 1:
        raise ValueError(f"oversample must be >= 1, got {oversample}")
    lv_mask = np.asarray(lv_mask)
    curves, counts = global_curves(velocity, lv_mask, spacing_mm, z_towards_base)
    nf = lv_mask.shape[3]
    if not counts.any():
        raise ValueError("the LV mask holds no myocardium (label 1) in any frame")
    pk = {}
    for d in DIRECTIONS:
        c = curves[d]
        if np.isnan(c).any():  # frames without myocardium: fill periodically
            good = ~np.isnan(c)
            idx = np.arange(nf)
            c = np.interp(idx, idx[good], c[good], period=nf)
        pk[d] = peaks(upsample_periodic(c, oversample), float(oversample))
    if phase is not None:
        flags = likely_wraps(phase, lv_mask)
    elif venc is not None:
        flags = above_venc_from_velocity(velocity, lv_mask, venc)
    else:
        flags = {"method": "not checked: no venc given", "voxels": None, "frames": []}
    return {
        "curves_mm_s": {d: [None if np.isnan(x) else float(x) for x in curves[d]]
                        for d in DIRECTIONS},
        "peaks": pk,
        "above_venc": flags,
        "frames": int(nf),
        "myocardium_voxels_per_frame": counts.tolist(),
        "oversample": int(oversample),
        "conventions": CONVENTIONS,
    }


def spacing_of(case: CardiacCase) -> tuple[float, float]:
    """In-plane voxel size (mm) of a case: case.json's spacing_mm, else the affine's columns."""
    sp = case.info.get("spacing_mm")
    if sp is not None:
        vals = np.asarray(sp, dtype=np.float64).reshape(-1)
        if vals.size == 1:
            return float(vals[0]), float(vals[0])
        return float(vals[0]), float(vals[1])
    aff = np.asarray(case.affine, dtype=np.float64)
    return float(np.linalg.norm(aff[:3, 0])), float(np.linalg.norm(aff[:3, 1]))


def assess_case(case: CardiacCase, phase: np.ndarray | None = None,
                venc: float | np.ndarray | list[float] | tuple[float, ...] | None = None,
                oversample: int = 4, z_towards_base: bool | None = None) -> dict[str, Any]:
    """`assess` of a case: its velocity, or its phase decoded with the venc, or a given phase.

    Args:
        case: a CardiacCase with an lv_mask and a velocity or a phase.
        phase: (x, y, slice, frame, 3) radians to assess instead of the case's own data.
        venc: mm/s; default case.info["venc_mm_s"].
        oversample: see `assess` (4 matches the phantom's truth peaks).
        z_towards_base: default case.info.get("z_towards_base", True).
    Returns:
        the `assess` dict plus "source" ("velocity" or "phase") and "venc_mm_s".
    """
    if case.lv_mask is None:
        raise ValueError("the case has no LV mask (1 myocardium, 2 blood pool)")
    venc = venc if venc is not None else case.info.get("venc_mm_s")
    ztb = bool(case.info.get("z_towards_base", True)) if z_towards_base is None \
        else z_towards_base
    spacing = spacing_of(case)
    if phase is None and case.velocity is not None:
        vel, source, ph = np.asarray(case.velocity), "velocity", None
    else:
        ph = case.phase if phase is None else phase
        if ph is None:
            raise ValueError("the case has neither velocity nor phase")
        if venc is None:
            raise ValueError("decoding phase needs the venc (mm/s)")
        ph = np.asarray(ph)
        if ph.shape[:4] != np.asarray(case.lv_mask).shape or ph.shape[-1:] != (3,):
            raise ValueError(f"phase shape {ph.shape} does not match the case "
                             f"{np.asarray(case.lv_mask).shape} + (3,)")
        vel, source = velocity_from_phase(ph, venc), "phase"
    out = assess(vel, np.asarray(case.lv_mask), spacing, venc, ztb, oversample, phase=ph)
    out["source"] = source
    out["venc_mm_s"] = None if venc is None else _venc_vector(venc).tolist()
    return out


def compare_with_truth(result: dict[str, Any], truth: dict[str, Any]) -> dict[str, Any]:
    """Measured peaks and curves against a truth (case.json's "truth": peaks and curves):
    per direction the PSV/PDV errors (mm/s and %, measured − truth), the TPSV/TPDV errors in
    frames and the Pearson r of the curves (when the truth has one per frame)."""
    out: dict[str, Any] = {}
    for d in DIRECTIONS:
        got, want = result["peaks"][d], truth.get("peaks", {}).get(d)
        if want is None:
            continue
        row: dict[str, Any] = {"truth": want}
        for key, tkey in (("psv", "tpsv"), ("pdv", "tpdv")):
            err = got[key] - want[key]
            row[f"{key}_error_mm_s"] = err
            row[f"{key}_error_pct"] = 100.0 * err / want[key] if want[key] else None
            row[f"{tkey}_error_frames"] = got[tkey] - want[tkey]
        curve_t = truth.get("curves_mm_s", {}).get(d)
        curve_m = result["curves_mm_s"][d]
        if curve_t is not None and len(curve_t) == len(curve_m) and None not in curve_m:
            a, b = np.asarray(curve_m, np.float64), np.asarray(curve_t, np.float64)
            row["curve_r"] = (float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0
                              else None)
            row["curve_rmse_mm_s"] = float(np.sqrt(np.mean((a - b) ** 2)))
        out[d] = row
    return out
