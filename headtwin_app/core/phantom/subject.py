"""Per-seed subject parameters: size, pose, deformation and per-structure variation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Subject:
    """Everything random about one phantom subject, drawn from its seed."""

    seed: int
    scale: tuple[float, float, float]  # head size relative to MNI152 along x, y, z
    rotation_deg: tuple[float, float, float]  # small pose rotation about x, y, z
    shift_mm: tuple[float, float, float]
    warp_mm: float  # std of the smooth random displacement
    csf_gap: float  # mm of CSF between the brain envelope and the inner table
    skull: float  # calvarial thickness, mm
    scalp: float  # skin + subcutaneous fat over the skull, mm
    fat: float  # subcutaneous fat fraction of the soft covering
    eye_radius: float
    jaw: float  # mandible size factor
    muscle: dict[str, float]  # volume-ish factor per masticatory muscle
    airway: float  # airway radius factor
    neck: float  # neck girth factor
    jitter: dict[str, np.ndarray]  # landmark offsets (mm)
    noise: float  # Rician sigma relative to CSF
    bias: float  # bias field strength
    texture: float  # tissue texture amplitude


LANDMARKS = ("eye", "tmj", "gonion", "menton", "maxilla", "arch", "airway", "canal", "pterygoid",
             "tongue", "mastoid")


def draw_subject(seed: int) -> Subject:
    """Draw a subject; the same seed always gives the same subject."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng([int(seed), 0x4E4D])
    g = rng.uniform(0.82, 0.94)  # MNI152 2009 is larger than an average adult head
    scale = tuple(float(g * (1.0 + rng.normal(0.0, 0.025))) for _ in range(3))
    rot = tuple(float(v) for v in rng.uniform(-4.0, 4.0, 3))
    shift = tuple(float(v) for v in rng.uniform(-3.0, 3.0, 3))
    muscles = {m: float(rng.uniform(0.85, 1.15)) for m in
               ("temporalis", "masseter", "medial_pterygoid", "lateral_pterygoid")}
    jitter = {k: rng.normal(0.0, 1.5, 3) for k in LANDMARKS}
    return Subject(
        seed=int(seed), scale=scale, rotation_deg=rot, shift_mm=shift,  # type: ignore[arg-type]
        warp_mm=float(rng.uniform(1.8, 3.2)), csf_gap=float(rng.uniform(0.5, 1.8)),
        skull=float(rng.uniform(5.5, 8.0)), scalp=float(rng.uniform(4.5, 7.5)),
        fat=float(rng.uniform(0.35, 0.65)), eye_radius=float(rng.uniform(11.3, 12.2)),
        jaw=float(rng.uniform(0.93, 1.07)), muscle=muscles, airway=float(rng.uniform(0.75, 1.2)),
        neck=float(rng.uniform(0.9, 1.1)), jitter=jitter, noise=float(rng.uniform(0.012, 0.03)),
        bias=float(rng.uniform(0.08, 0.22)), texture=float(rng.uniform(0.025, 0.05)),
    )
