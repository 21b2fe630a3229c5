"""The cardiac phantom: a multi-slice short-axis cine with exact myocardial velocities.

Each seed is a different synthetic subject (LV size and wall, heart rate, torsion, velocity
amplitudes, SNR). The LV myocardium moves by the analytic incompressible field of `motion`; the
blood pools carry a schematic through-plane flow (fast enough to wrap at the venc, as real blood
does); the RV scales about its centre; chest wall, liver, lung and mediastinum are still.
Magnitude is a bright-blood cine (2 × 2 supersampled partial volume, a smooth coil shading,
complex Gaussian noise); phase encodes velocity as φ = π v / venc, wrapped, and is pure noise
where there is no signal (lung, air). Nothing here was measured on a real heart.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from headtwin_app.core.cardiac.motion import LVMotion, Waveform
from headtwin_app.core.cardiac.velocity import DIRECTIONS, cylindrical, peaks

GENERATOR_VERSION = 1
SPACING_MM = 1.5
SLICE_THICKNESS_MM = 8.0
VENC_MM_S = (200.0, 200.0, 300.0)  # in-plane x, y and through-plane (the paper's 20 / 30 cm/s)
# The paper's certain Table II values (real volunteers, 50 frames per R-R): the calibration aims.
PAPER_TARGETS = {"radial": (27.01, 6.27, 46.69, 22.36), "longitudinal": (33.83, 3.00, 61.16, 22.91)}

# Tissue codes of tissue_labels.nii.gz and their bright-blood signal.
TISSUES = {0: ("air", 0.0), 1: ("lv_myocardium", 0.30), 2: ("lv_blood", 0.90),
           3: ("rv_wall", 0.30), 4: ("rv_blood", 0.85), 5: ("chest_muscle", 0.35),
           6: ("fat", 0.80), 7: ("liver", 0.42), 8: ("lung", 0.03), 9: ("mediastinum", 0.22)}
SIGNAL = np.array([v[1] for v in TISSUES.values()], dtype=np.float32)


@dataclass(frozen=True)
class Subject:
    seed: int
    motion: LVMotion
    heart_rate: float  # beats per minute
    centre: tuple[float, float]  # LV axis in mm from the grid origin (x, y)
    snr: float  # myocardium signal / noise σ; 0 = noise-free
    slice_z: tuple[float, ...]  # slice positions along the LV axis, mm (base first)
    size: int
    frames: int
    rv_scale: float  # RV cavity scale change at peak contraction
    blood_peak: float  # peak E-wave inflow, mm/s (towards the apex)


@dataclass
class CardiacCase:
    """One generated (or loaded) cine. Arrays are (x, y, slice, frame[, component])."""

    magnitude: np.ndarray
    phase: np.ndarray | None  # radians in (−π, π]
    velocity: np.ndarray | None  # mm/s: in-plane x, in-plane y, through-plane (+ to the base)
    lv_mask: np.ndarray | None  # 1 myocardium, 2 blood pool
    tissues: np.ndarray | None
    affine: np.ndarray
    info: dict


def draw_subject(seed: int, frames: int = 50, slices: int = 3, size: int = 128,
                 snr: float | None = None, rr_ms: float | None = None) -> Subject:
    """Seeded subject parameters; velocity amplitudes are calibrated later (`calibrate`).
    `rr_ms` replaces the drawn heart rate (e.g. a beat of a real ECG)."""
    rng = np.random.default_rng(seed)
    length = rng.uniform(82, 98)
    r_endo = rng.uniform(21, 27)
    wall = rng.uniform(8, 12)
    j = lambda s: rng.uniform(-s, s)  # noqa: E731 - a jitter in R-R fractions
    motion = LVMotion(
        length=length, r_endo=r_endo, r_epi=r_endo + wall, apex_wall=wall * rng.uniform(0.8, 1.1),
        twist_apex=rng.uniform(0.10, 0.20), twist_base=-rng.uniform(0.04, 0.10),
        radial=Waveform(0.125 + j(0.012), 0.075, 0.447 + j(0.015), 0.035, 0.8),
        longitudinal=Waveform(0.06 + j(0.01), 0.07, 0.458 + j(0.015), 0.035, 0.8),
        twist=Waveform(0.16 + j(0.02), 0.06, 0.45 + j(0.02), 0.05, 0.85),
        rr_s=60.0 / rng.uniform(55, 85))
    if rr_ms is not None:
        motion = replace(motion, rr_s=rr_ms / 1000.0)
    fov = size * SPACING_MM
    centre = (fov / 2 + rng.uniform(-6, 6), fov / 2 + rng.uniform(-6, 6))
    frac = np.linspace(0.72, 0.28, slices) if slices > 1 else np.array([0.5])
    drawn_snr = rng.uniform(15, 30)
    return Subject(seed=seed, motion=motion, heart_rate=60.0 / motion.rr_s, centre=centre,
                   snr=drawn_snr if snr is None else float(snr),
                   slice_z=tuple(float(f * length) for f in frac), size=size, frames=frames,
                   rv_scale=rng.uniform(0.10, 0.18), blood_peak=rng.uniform(550, 800))


def _grid(sub: Subject, supersample: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Sample positions (mm) of the in-plane grid; voxel centres at (i + 0.5) · spacing."""
    n = sub.size * supersample
    c = (np.arange(n) + 0.5) * SPACING_MM / supersample
    return np.meshgrid(c, c, indexing="ij")


def _in_ellipse(x: np.ndarray, y: np.ndarray, cx: float, cy: float, ax: float, ay: float
                ) -> np.ndarray:
    return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1.0


def _rv_geometry(sub: Subject) -> tuple[float, float, float, float]:
    m = sub.motion
    cx, cy = sub.centre
    return cx - 1.05 * m.r_epi, cy, 0.8 * m.r_epi, 1.35 * m.r_epi


def _rv_scale(sub: Subject, t: float) -> tuple[float, float]:
    """RV scale s(t) and ds/dt (1/s)."""
    m = sub.motion
    c, dc = m.contraction(np.array([t]))
    k = sub.rv_scale / m.eps
    return float(1 - k * (1 - c[0])), float(k * dc[0])


def _blood_vz(sub: Subject, t: float) -> float:
    """Schematic through-plane blood velocity (mm/s, +z towards the base): systolic ejection,
    then E and A inflow towards the apex."""
    m = sub.motion
    ej = 0.6 * np.exp(-0.5 * ((t - m.radial.t_sys - 0.03) / 0.06) ** 2)
    e = np.exp(-0.5 * ((t - m.radial.t_e) / 0.035) ** 2)
    a = 0.55 * np.exp(-0.5 * ((t - m.radial.t_a) / 0.03) ** 2)
    return float(sub.blood_peak * (ej - e - a))


def lv_part(sub: Subject, t: float, z: float, x: np.ndarray, y: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LV cavity and myocardium at points (x, y) (mm) of the plane z, and the analytic
    Cartesian velocity (n_myo, 3) of the myocardium points."""
    m = sub.motion
    cx, cy = sub.centre
    r = np.hypot(x - cx, y - cy)
    th = np.arctan2(y - cy, x - cx)
    zz = np.full(r.shape, z)
    cav = m.is_cavity(t, r, th, zz)
    myo = m.is_myocardium(t, r, th, zz)
    vr, vt, vz = m.velocity(t, r[myo], th[myo], zz[myo])
    c, s = np.cos(th[myo]), np.sin(th[myo])
    return cav, myo, np.stack([vr * c - vt * s, vr * s + vt * c, vz], axis=-1)


def render_frame(sub: Subject, t: float, z: float, supersample: int = 1
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Tissue codes and velocity (…, 3) of one slice at R-R fraction t, at position z (mm)."""
    m = sub.motion
    x, y = _grid(sub, supersample)
    cx, cy = sub.centre
    lab = np.full(x.shape, 9, dtype=np.uint8)  # mediastinum
    vel = np.zeros(x.shape + (3,), dtype=np.float32)
    fov = sub.size * SPACING_MM
    # Body outline with fat and chest-wall muscle anteriorly (−y), lungs, liver towards the apex.
    bx, by, ax_, ay_ = cx, cy + 55, 170.0, 150.0
    body = _in_ellipse(x, y, bx, by, ax_, ay_)
    lab[~body] = 0
    lab[body & ~_in_ellipse(x, y, bx, by, ax_ - 8, ay_ - 8)] = 6
    inner = _in_ellipse(x, y, bx, by, ax_ - 8, ay_ - 8)
    lab[inner & ~_in_ellipse(x, y, bx, by, ax_ - 22, ay_ - 22)] = 5
    lab[_in_ellipse(x, y, cx + 62, cy + 8, 30, 60)] = 8
    lab[_in_ellipse(x, y, cx - 72, cy - 5, 26, 55)] = 8
    if z < 0.55 * m.length:
        reach = 30 + 40 * (0.55 - z / m.length)
        lab[_in_ellipse(x, y, cx - 40, min(fov + 10, cy + 95), 70, reach)] = 7
    # RV: an ellipse beside the LV scaling about its centre.
    rx, ry, rax, ray = _rv_geometry(sub)
    s, ds = _rv_scale(sub, t)
    rv_out = _in_ellipse(x, y, rx, ry, rax * s, ray * s)
    rv_in = _in_ellipse(x, y, rx, ry, (rax - 4) * s, (ray - 4) * s)
    lab[rv_out] = 3
    lab[rv_in] = 4
    rv = rv_out
    vel[rv, 0] = (x[rv] - rx) * ds / s
    vel[rv, 1] = (y[rv] - ry) * ds / s
    vel[rv_in, 2] = 0.6 * _blood_vz(sub, t)
    # LV: cavity and myocardium from the inverse motion; the myocardium's velocity is analytic.
    near = np.hypot(x - cx, y - cy) < 1.6 * m.r_epi
    cav, myo, v_myo = lv_part(sub, t, z, x[near], y[near])
    lab[near] = np.where(cav, 2, np.where(myo, 1, np.where(cav | myo, 9, lab[near])))
    v_near = vel[near]
    v_near[cav] = (0.0, 0.0, _blood_vz(sub, t))
    v_near[myo] = v_myo
    vel[near] = v_near
    return lab, vel


def global_truth(sub: Subject, oversample: int = 1) -> dict[str, np.ndarray]:
    """The analytic global curves (mm/s) at `frames · oversample` times: mean over the
    myocardium voxels of all slices, in the cylindrical frame about the true LV axis."""
    n = sub.frames * oversample
    x, y = _grid(sub)
    near = np.hypot(x - sub.centre[0], y - sub.centre[1]) < 1.6 * sub.motion.r_epi
    x, y = x[near], y[near]
    out = {d: np.zeros(n) for d in DIRECTIONS}
    for k in range(n):
        sums = np.zeros(3)
        count = 0
        for z in sub.slice_z:
            _, my, v = lv_part(sub, k / n, z, x, y)
            parts = cylindrical(v[:, 0], v[:, 1], v[:, 2], x[my], y[my], *sub.centre)
            sums += np.array([p.sum() for p in parts])
            count += int(my.sum())
        for d, total in zip(DIRECTIONS, sums, strict=True):
            out[d][k] = total / max(count, 1)
    return out


def calibrate(sub: Subject, rounds: int = 3) -> Subject:
    """Scale the radial and longitudinal amplitudes so the subject's global PSV/PDV land on its
    targets: the paper's real values × a per-seed factor in [0.85, 1.15]."""
    rng = np.random.default_rng(10_000 + sub.seed)
    aim = {d: (v[0] * rng.uniform(0.85, 1.15), v[2] * rng.uniform(0.85, 1.15))
           for d, v in PAPER_TARGETS.items()}
    m = sub.motion
    for _ in range(rounds):
        curves = global_truth(replace(sub, motion=m, frames=25), oversample=2)
        got = {d: peaks(curves[d], 2.0) for d in aim}
        m = m.scaled(
            eps=float(np.clip(m.eps * aim["radial"][0] / max(got["radial"]["psv"], 1e-3),
                              0.05, 0.5)),
            shortening=float(np.clip(m.shortening * aim["longitudinal"][0]
                                     / max(got["longitudinal"]["psv"], 1e-3), 0.02, 0.3)),
            e_radial=float(np.clip(m.radial.e_frac * (aim["radial"][1] / got["radial"]["psv"])
                                   / (got["radial"]["pdv"] / got["radial"]["psv"]), 0.3, 0.95)),
            e_long=float(np.clip(m.longitudinal.e_frac
                                 * (aim["longitudinal"][1] / got["longitudinal"]["psv"])
                                 / (got["longitudinal"]["pdv"] / got["longitudinal"]["psv"]),
                                 0.3, 0.95)))
    return replace(sub, motion=m)


def _shading(sub: Subject) -> np.ndarray:
    """A smooth receive-coil shading, brighter anteriorly (an anterior cardiac array)."""
    x, y = _grid(sub)
    fov = sub.size * SPACING_MM
    return (1.15 - 0.35 * (y / fov) + 0.1 * np.cos(2 * np.pi * x / fov / 1.5)).astype(np.float32)


def wrap(phi: np.ndarray) -> np.ndarray:
    """Phase wrapped into (−π, π]."""
    return (np.pi - np.mod(np.pi - phi, 2 * np.pi)).astype(np.float32)


def affine_of(sub: Subject) -> np.ndarray:
    """Voxel → mm in the LV frame (x, y in-plane, z along the long axis towards the base);
    the slice axis runs from base to apex."""
    dz = sub.slice_z[0] - sub.slice_z[1] if len(sub.slice_z) > 1 else SLICE_THICKNESS_MM
    aff = np.diag([SPACING_MM, SPACING_MM, -dz, 1.0])
    aff[:3, 3] = (0.5 * SPACING_MM, 0.5 * SPACING_MM, sub.slice_z[0])
    return aff


def make_case(seed: int, frames: int = 50, slices: int = 3, size: int = 128,
              snr: float | None = None, ecg: bool = False) -> CardiacCase:
    """Generate one subject's cine: magnitude, phase, velocity, LV mask and the truth.
    `ecg`: the R-R interval is a beat of pydicom's real 12-lead ECG (`ecg.rr_for_seed`)."""
    rr = None
    if ecg:
        from headtwin_app.core.cardiac.ecg import rr_for_seed

        rr = rr_for_seed(seed)
    sub = calibrate(draw_subject(seed, frames, slices, size, snr, rr_ms=rr))
    rng = np.random.default_rng([seed, 7])
    shape = (size, size, slices, frames)
    mag = np.zeros(shape, np.float32)
    vel = np.zeros(shape + (3,), np.float32)
    labels = np.zeros(shape, np.uint8)
    shade = _shading(sub)
    for f in range(frames):
        t = f / frames
        for s, z in enumerate(sub.slice_z):
            fine, _ = render_frame(sub, t, z, supersample=2)
            sig = SIGNAL[fine].reshape(size, 2, size, 2).mean(axis=(1, 3))
            mag[..., s, f] = sig * shade
            labels[..., s, f], vel[..., s, f, :] = render_frame(sub, t, z)
    venc = np.array(VENC_MM_S, np.float32)
    true_phase = np.pi * vel / venc
    sigma = SIGNAL[1] / sub.snr if sub.snr > 0 else 0.0
    if sigma > 0:
        noise = rng.normal(0, sigma, shape + (4, 2)).astype(np.float32)
        clean = mag[..., None] * np.exp(1j * true_phase)
        phase = np.angle(clean + noise[..., 1:, 0] + 1j * noise[..., 1:, 1]).astype(np.float32)
        magnitude = np.abs(mag + noise[..., 0, 0] + 1j * noise[..., 0, 1]).astype(np.float32)
    else:
        phase = wrap(true_phase)
        no_signal = mag < 0.05
        phase[no_signal] = rng.uniform(-np.pi, np.pi, (int(no_signal.sum()), 3))
        magnitude = mag
    lv = np.where(labels == 1, 1, np.where(labels == 2, 2, 0)).astype(np.uint8)
    truth_fine = global_truth(sub, oversample=4)
    truth = global_truth(sub)
    rr_ms = 1000.0 * sub.motion.rr_s
    m = sub.motion
    info = {
        "synthetic": True,
        "note": "HeadTwin cardiac phantom: a synthetic subject with analytic velocities, not "
                "a real heart. Radial +: towards the LV centre; circumferential +: "
                "counterclockwise in (x, y); longitudinal +: towards the apex (−through-plane).",
        "generator_version": GENERATOR_VERSION,
        "seed": seed, "frames": frames, "slices": slices, "size": size,
        "spacing_mm": SPACING_MM, "slice_thickness_mm": SLICE_THICKNESS_MM,
        "slice_positions_mm": list(sub.slice_z),
        "heart_rate_bpm": sub.heart_rate, "rr_ms": rr_ms,
        "rr_source": "pydicom waveform_ecg.dcm, lead II" if ecg else "drawn per seed (55-85 bpm)",
        "frame_times_ms": [rr_ms * f / frames for f in range(frames)],
        "venc_mm_s": list(VENC_MM_S),
        "phase": "radians in (-pi, pi]: phi = pi * v / venc, wrapped; noise where no signal",
        "velocity_axes": ["x", "y", "through-plane, + towards the base"],
        "snr": sub.snr, "snr_definition": "myocardium signal / noise sigma (complex Gaussian); "
                                          "0 = noise-free",
        "lv_centre_mm": list(sub.centre),
        "lv_mask": {"1": "myocardium", "2": "blood pool"},
        "tissues": {str(k): v[0] for k, v in TISSUES.items()},
        "subject": {"lv_length_mm": m.length, "endo_radius_mm": m.r_endo,
                    "epi_radius_mm": m.r_epi, "endo_shortening": m.eps,
                    "longitudinal_shortening": m.shortening, "twist_apex_rad": m.twist_apex,
                    "twist_base_rad": m.twist_base},
        "truth": {
            "curves_mm_s": {d: truth[d].tolist() for d in DIRECTIONS},
            "peaks": {d: peaks(truth_fine[d], 4.0) for d in DIRECTIONS},
            "peaks_note": "from the analytic curve at 4x the frame rate; times in frames",
        },
    }
    return CardiacCase(magnitude=magnitude, phase=phase, velocity=vel, lv_mask=lv,
                       tissues=labels, affine=affine_of(sub), info=info)
