"""Anatomical plausibility of a craniofacial/CNS label map: is this proposal a head at all?

A model trained on synthetic heads can produce a confident label map on a real scan that no
anatomist would sign: two eyes of 0.3 ml, pterygoid muscles at the level of the brain. The
checks here look at the label map alone — no image, no reference — and say in plain words what
is off, so an annotator sees it before trusting the proposal.

Checks (all in RAS millimetres from the affine, so any voxel orientation gives the same verdict):

1. **volume** per structure (both sides together) within adult ranges;
2. **eyes**: two globes of 4-10 ml each, 45-80 mm apart, nothing else labelled eyeball above 1 ml;
3. **symmetry** of paired structures: both sides present (split at the head's mid-sagittal plane,
   found from the midline structures of the label map) and their volumes alike;
4. **order** from superior to inferior: eyes above the jaw, the pterygoids and the neck;
   temporalis above masseter; TMJ discs above the mandible;
5. **brain level**: well above the eyes only skull, eyeballs and temporalis belong.

`check_plausibility(labels)` returns a `PlausibilityReport`: one `PlausibilityFlag` per check and
an overall verdict (`out_of_distribution`) with a message for the annotator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from headtwin_app.core.labels import LabelTable, default_label_table
from headtwin_app.core.volume import Volume

# --- thresholds and their sources -------------------------------------------------------------
# Adult volumes in ml, both sides together. Same ranges as the phantom tests
# (tests/core/test_phantom.py, ADULT_RANGES_ML), whose sources are:
#   skull: CT segmentations of the cranium with facial bones ~400-700 cm3;
#   mandible: CT/CBCT mandible volume ~40-80 cm3;
#   TMJ disc ~20 mm mediolateral x 8-10 mm AP x 1-3 mm: ~0.2-0.5 ml each;
#   MRI morphometry of the masticatory muscles per side: temporalis ~15-40, masseter ~15-35,
#   medial pterygoid ~6-14, lateral pterygoid ~4-10 ml;
#   pharyngeal airway (naso- to laryngopharynx) in CBCT studies ~10-30 ml;
#   C1-C4 ~5-15 ml per vertebra; cervical discs ~1 ml each, 2-4 in the field of view;
#   spinal cord cross-section ~70-90 mm2 over the ~70 mm from the medulla to C4/C5.
# Eyeballs: 4-10 ml per eye (issue 16's target for real heads; an axial length of 22-26 mm gives
# ~6-8 ml), so 8-20 ml for both.
ADULT_VOLUME_ML: dict[str, tuple[float, float]] = {
    "skull": (300.0, 900.0),
    "mandible": (30.0, 110.0),
    "tmj_articular_discs": (0.2, 2.0),
    "temporalis": (25.0, 90.0),
    "masseter": (20.0, 80.0),
    "medial_pterygoid": (8.0, 35.0),
    "lateral_pterygoid": (6.0, 25.0),
    "eyeballs": (8.0, 20.0),
    "upper_airway": (5.0, 45.0),
    "cervical_vertebrae": (15.0, 100.0),
    "cervical_discs": (1.0, 10.0),
    "spinal_cord": (2.0, 10.0),
}
NECK_STRUCTURES = ("upper_airway", "cervical_vertebrae", "cervical_discs", "spinal_cord")
"""How much of these a scan holds depends on how far down the neck it reaches: when one touches
the bottom of the field of view, only the upper bound of its volume is checked."""

EYE_ML = (4.0, 10.0)  # one globe; issue 16 (axial length 22-26 mm: ~6-8 ml)
EYE_DISTANCE_MM = (45.0, 80.0)  # globe centres; issue 16 (interpupillary distance ~54-74 mm)
EYE_STRAY_ML = 1.0  # eyeball label outside the two globes; issue 16

PAIRED = ("temporalis", "masseter", "medial_pterygoid", "lateral_pterygoid",
          "tmj_articular_discs", "eyeballs")
# A side counts as present from this many ml (a TMJ disc is ~0.2-0.5 ml, the rest >= 3 ml).
SIDE_MIN_ML = {"tmj_articular_discs": 0.05}
SIDE_MIN_ML_DEFAULT = 0.5
# Larger side / smaller side. Healthy adults differ little between sides (masseter volume: median
# left-right difference ~5%, CT of 2 sides, Chargi et al. 2021; eye axial lengths differ by
# < 1 mm); the tolerance is wide for partial volume at 1-2 mm voxels, wider for the thin discs.
SIDE_RATIO_MAX = {"tmj_articular_discs": 2.0}
SIDE_RATIO_MAX_DEFAULT = 1.5

MIDLINE_STRUCTURES = ("skull", "mandible", "upper_airway", "cervical_vertebrae", "cervical_discs",
                      "spinal_cord")

# (upper, lower, at least this many mm between their centroids along superior-inferior).
# Typical adult gaps are 2-3x these (the eye centre lies ~45 mm above the masseter's, ~60 mm above
# the mandible's centroid); the margins leave room for head size and field of view.
VERTICAL_ORDER: tuple[tuple[str, str, float], ...] = (
    ("eyeballs", "mandible", 25.0),
    ("eyeballs", "masseter", 15.0),
    ("eyeballs", "medial_pterygoid", 10.0),
    ("eyeballs", "lateral_pterygoid", 5.0),
    ("eyeballs", "cervical_vertebrae", 30.0),
    ("eyeballs", "cervical_discs", 30.0),
    ("eyeballs", "spinal_cord", 20.0),
    ("skull", "cervical_vertebrae", 30.0),
    ("skull", "spinal_cord", 30.0),
    ("temporalis", "masseter", 10.0),
    ("lateral_pterygoid", "medial_pterygoid", 0.0),
    ("tmj_articular_discs", "mandible", 5.0),
)

BRAIN_LEVEL_ALLOWED = ("skull", "eyeballs", "temporalis")
BRAIN_LEVEL_ABOVE_EYES_MM = 25.0
"""The brain level starts this far above the top of the eye globes (the orbit roof lies ~5 mm
above the globe; the frontal sinus reaches ~20 mm above it)."""
BRAIN_LEVEL_BELOW_VERTEX_MM = 60.0
"""Without two plausible eyes the brain level is taken this far below the top of the skull (the
adult vertex lies ~80-95 mm above the orbit roof)."""
BRAIN_LEVEL_MAX_ML = 1.0

OOD_MIN_FAILED = 3
"""A proposal is called out of distribution from this many failed checks, or from one failed
decisive check: a structure out of place (order, brain level) or not two eyes."""
PLACEMENT = ("order", "brain_level")
DECISIVE = ("eye_count",)


@dataclass(frozen=True)
class PlausibilityFlag:
    """One check of one structure: what was measured, what an adult head has, and whether the
    label map passes. `expected` is (min, max); None means no bound on that side."""

    category: str  # volume | eyes | symmetry | order | brain_level
    structure: str
    check: str
    passed: bool
    value: float | None
    expected: tuple[float | None, float | None]
    unit: str
    message: str

    def __post_init__(self) -> None:  # plain Python values (numpy scalars come in)
        object.__setattr__(self, "passed", bool(self.passed))
        if self.value is not None:
            object.__setattr__(self, "value", float(self.value))

    def to_json(self) -> dict[str, Any]:
        return {"category": self.category, "structure": self.structure, "check": self.check,
                "passed": bool(self.passed),
                "value": None if self.value is None else round(float(self.value), 3),
                "expected_min": None if self.expected[0] is None else float(self.expected[0]),
                "expected_max": None if self.expected[1] is None else float(self.expected[1]),
                "unit": self.unit, "message": self.message}


@dataclass(frozen=True)
class PlausibilityReport:
    """All flags of one label map and the overall verdict."""

    flags: tuple[PlausibilityFlag, ...]
    out_of_distribution: bool
    message: str
    midline_x_mm: float | None = None

    @property
    def failed(self) -> list[PlausibilityFlag]:
        return [f for f in self.flags if not f.passed]

    def to_json(self) -> list[dict[str, Any]]:
        """One row per check (JSON-ready)."""
        return [f.to_json() for f in self.flags]

    def verdict(self) -> dict[str, Any]:
        return {"out_of_distribution": self.out_of_distribution, "message": self.message,
                "checks": len(self.flags), "failed": len(self.failed)}

    def warning(self, limit: int = 4) -> str:
        """A short text for a proposal: "" when every check passed."""
        bad = self.failed
        if not bad:
            return ""
        lines = [self.message] + [f"• {f.message}" for f in bad[:limit]]
        if len(bad) > limit:
            lines.append(f"• … and {len(bad) - limit} more")
        return "\n".join(lines)


@dataclass
class _Geometry:
    """World coordinates (RAS mm) of the voxels of each structure present."""

    xyz: dict[str, np.ndarray]  # name -> (3, N)
    voxel_ml: float
    bottom_z: float  # lowest voxel centre of the grid
    tolerance_mm: float


def _fmt(v: float, unit: str = "ml") -> str:
    return f"{v:.1f} {unit}" if abs(v) >= 0.1 or v == 0 else f"{v:.2f} {unit}"


def _range(lo: float | None, hi: float | None, unit: str) -> str:
    if lo is not None and hi is not None:
        return f"{lo:g}–{hi:g} {unit}"
    if lo is not None:
        return f"at least {lo:g} {unit}"
    return f"at most {hi:g} {unit}"


def _title(name: str) -> str:
    return name.replace("_", " ")


def _geometry(labels: Volume, ids: dict[str, int]) -> _Geometry:
    data = np.asarray(labels.data)
    affine = labels.affine
    flat = data.reshape(-1)
    lut = np.zeros(int(max(ids.values(), default=0)) + 1, dtype=bool)
    lut[list(ids.values())] = True
    inside = (flat >= 0) & (flat < lut.size)
    idx = np.flatnonzero(inside)
    idx = idx[lut[flat[idx].astype(np.int64)]]
    values = flat[idx]
    ijk = np.stack(np.unravel_index(idx, data.shape)).astype(np.float64)
    xyz = affine[:3, :3] @ ijk + affine[:3, 3:4]
    per = {}
    for name, lid in ids.items():
        sel = values == lid
        if sel.any():
            per[name] = xyz[:, sel]
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in data.shape], indexing="ij")
                       ).reshape(3, -1).astype(np.float64)
    bottom = float((affine[2, :3] @ corners + affine[2, 3]).min())
    spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    voxel_ml = abs(float(np.linalg.det(affine[:3, :3]))) / 1000.0
    return _Geometry(per, voxel_ml, bottom, float(spacing.max()))


def _midline(geo: _Geometry) -> float | None:
    """x (RAS mm) of the mid-sagittal plane: the centroid of the midline structures present,
    else of every structure."""
    pts = [geo.xyz[n][0] for n in MIDLINE_STRUCTURES if n in geo.xyz]
    if not pts:
        pts = [p[0] for p in geo.xyz.values()]
    if not pts:
        return None
    return float(np.concatenate(pts).mean())


def _volume_flags(geo: _Geometry, names: list[str]) -> list[PlausibilityFlag]:
    flags = []
    for name in names:
        lo, hi = ADULT_VOLUME_ML[name]
        pts = geo.xyz.get(name)
        ml = 0.0 if pts is None else pts.shape[1] * geo.voxel_ml
        cut = (pts is not None and name in NECK_STRUCTURES
               and float(pts[2].min()) <= geo.bottom_z + geo.tolerance_mm)
        low: float | None = None if cut else lo
        passed = ml > 0 and (low is None or ml >= low) and ml <= hi
        t = _title(name)
        if ml == 0:
            msg = f"{t}: missing (an adult head has {_range(lo, hi, 'ml')})"
        elif passed:
            msg = f"{t}: {_fmt(ml)}, within the adult range {_range(lo, hi, 'ml')}"
            if cut and ml < lo:
                msg += (" once the field of view is allowed for (it reaches the bottom of the "
                        "scan)")
        else:
            side = "too small" if low is not None and ml < low else "too large"
            msg = f"{t}: {_fmt(ml)} is {side} (an adult head has {_range(lo, hi, 'ml')})"
        flags.append(PlausibilityFlag("volume", name, "volume", passed, ml, (low, hi), "ml", msg))
    return flags


@dataclass
class _Eyes:
    flags: list[PlausibilityFlag]
    top_z: float | None  # top of the two globes, when they are plausible


def _eye_flags(labels: Volume, eye_id: int, geo: _Geometry, mid: float | None) -> _Eyes:
    pts = geo.xyz.get("eyeballs")
    flags: list[PlausibilityFlag] = []
    comps: list[tuple[float, np.ndarray, float]] = []  # (ml, centroid xyz, top z)
    if pts is not None:
        mask = np.asarray(labels.data) == eye_id
        nz = np.nonzero(mask)
        lo = [int(a.min()) for a in nz]
        hi = [int(a.max()) + 1 for a in nz]
        crop = mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        lab, n = ndimage.label(crop, structure=np.ones((3, 3, 3), bool))
        flat = lab.reshape(-1)
        sel = np.flatnonzero(flat)
        ijk = np.stack(np.unravel_index(sel, crop.shape)).astype(np.float64)
        ijk += np.asarray(lo, dtype=np.float64)[:, None]
        xyz = labels.affine[:3, :3] @ ijk + labels.affine[:3, 3:4]
        comp = flat[sel]
        counts = np.bincount(comp, minlength=n + 1)
        sums = np.stack([np.bincount(comp, weights=xyz[k], minlength=n + 1) for k in range(3)])
        tops = np.full(n + 1, -np.inf)
        np.maximum.at(tops, comp, xyz[2])
        for c in range(1, n + 1):
            comps.append((counts[c] * geo.voxel_ml, sums[:, c] / counts[c], float(tops[c])))
        comps.sort(key=lambda t: -t[0])
    big = sum(1 for globe in comps if globe[0] > EYE_STRAY_ML)
    flags.append(PlausibilityFlag(
        "eyes", "eyeballs", "eye_count", big == 2, float(big), (2.0, 2.0), "globes",
        f"eyeballs: {big} separate globe{'s' if big != 1 else ''} larger than {EYE_STRAY_ML:g} ml"
        + (" (two expected)" if big != 2 else "")))
    globes = comps[:2]
    # name the globes by side (left: smaller RAS x than the midline)
    sides: list[str] = []
    for globe in globes:
        sides.append("left" if mid is None or globe[1][0] < mid else "right")
    if len(globes) == 2 and sides[0] == sides[1]:
        sides = ["left", "right"] if globes[0][1][0] < globes[1][1][0] else ["right", "left"]
    if len(globes) == 1:
        sides.append("right" if sides[0] == "left" else "left")
    if not globes:
        sides = ["left", "right"]
    eyes_ok = True
    for side in ("left", "right"):
        k = sides.index(side)
        ml = globes[k][0] if k < len(globes) else 0.0
        ok = EYE_ML[0] <= ml <= EYE_ML[1]
        eyes_ok &= ok
        what = ("missing" if ml == 0 else f"{_fmt(ml)}" + ("" if ok else (
            " — too small for an eye" if ml < EYE_ML[0] else " — too large for an eye")))
        flags.append(PlausibilityFlag(
            "eyes", f"eyeballs ({side})", "eye_volume", ok, ml, EYE_ML, "ml",
            f"{side} eyeball: {what} (an adult eye is {_range(*EYE_ML, 'ml')})"))
    if len(globes) == 2:
        d = float(np.linalg.norm(globes[0][1] - globes[1][1]))
        ok = EYE_DISTANCE_MM[0] <= d <= EYE_DISTANCE_MM[1]
        eyes_ok &= ok
        flags.append(PlausibilityFlag(
            "eyes", "eyeballs", "eye_distance", ok, d, EYE_DISTANCE_MM, "mm",
            f"eyeballs: centres {d:.0f} mm apart (adults: {_range(*EYE_DISTANCE_MM, 'mm')})"))
    else:
        eyes_ok = False
    stray = float(sum(globe[0] for globe in comps[2:]))
    flags.append(PlausibilityFlag(
        "eyes", "eyeballs", "eye_stray", stray <= EYE_STRAY_ML, stray, (None, EYE_STRAY_ML), "ml",
        f"eyeballs: {_fmt(stray)} labelled eyeball outside the two globes"
        + ("" if stray <= EYE_STRAY_ML else f" (at most {EYE_STRAY_ML:g} ml expected)")))
    top = max(globe[2] for globe in globes) if eyes_ok else None
    return _Eyes(flags, top)


def _symmetry_flags(geo: _Geometry, names: list[str], mid: float | None
                    ) -> list[PlausibilityFlag]:
    flags: list[PlausibilityFlag] = []
    if mid is None:
        return flags
    for name in names:
        pts = geo.xyz.get(name)
        t = _title(name)
        if pts is None:
            left = right = 0.0
        else:
            left = float(np.count_nonzero(pts[0] < mid)) * geo.voxel_ml
            right = float(np.count_nonzero(pts[0] > mid)) * geo.voxel_ml
        need = SIDE_MIN_ML.get(name, SIDE_MIN_ML_DEFAULT)
        small = min(left, right)
        both = small >= need
        missing = [s for s, v in (("left", left), ("right", right)) if v < need]
        flags.append(PlausibilityFlag(
            "symmetry", name, "both_sides", both, small, (need, None), "ml",
            f"{t}: left {_fmt(left)}, right {_fmt(right)}" + (
                "" if both else
                f" — {'both sides are' if len(missing) == 2 else f'the {missing[0]} side is'}"
                f" missing or under {need:g} ml")))
        if both:
            ratio = max(left, right) / small
            limit = SIDE_RATIO_MAX.get(name, SIDE_RATIO_MAX_DEFAULT)
            ok = ratio <= limit
            flags.append(PlausibilityFlag(
                "symmetry", name, "side_ratio", ok, ratio, (1.0, limit), "x",
                f"{t}: the larger side is {ratio:.2f}x the smaller"
                + ("" if ok else f" (at most {limit:g}x expected in a healthy adult)")))
    return flags


def _order_flags(geo: _Geometry) -> list[PlausibilityFlag]:
    flags = []
    z = {n: float(p[2].mean()) for n, p in geo.xyz.items()}
    for upper, lower, gap in VERTICAL_ORDER:
        if upper not in z or lower not in z:
            continue  # a missing structure already fails its volume check
        d = z[upper] - z[lower]
        ok = d >= gap
        where = f"{d:.0f} mm above" if d >= 0 else f"{-d:.0f} mm below"
        flags.append(PlausibilityFlag(
            "order", upper, f"above_{lower}", ok, d, (gap, None), "mm",
            f"{_title(upper)}: centre {where} the centre of the {_title(lower)}"
            + ("" if ok else f" (it should be at least {gap:g} mm above it)")))
    return flags


def _brain_level_flags(geo: _Geometry, names: list[str], eye_top: float | None
                       ) -> list[PlausibilityFlag]:
    if eye_top is not None:
        level = eye_top + BRAIN_LEVEL_ABOVE_EYES_MM
        ref = f"{BRAIN_LEVEL_ABOVE_EYES_MM:g} mm above the eyes"
    elif "skull" in geo.xyz:
        level = float(geo.xyz["skull"][2].max()) - BRAIN_LEVEL_BELOW_VERTEX_MM
        ref = f"{BRAIN_LEVEL_BELOW_VERTEX_MM:g} mm below the top of the skull"
    else:
        return []
    flags = []
    for name in names:
        if name in BRAIN_LEVEL_ALLOWED or name not in geo.xyz:
            continue
        ml = float(np.count_nonzero(geo.xyz[name][2] > level)) * geo.voxel_ml
        ok = ml <= BRAIN_LEVEL_MAX_ML
        flags.append(PlausibilityFlag(
            "brain_level", name, "brain_level", ok, ml, (None, BRAIN_LEVEL_MAX_ML), "ml",
            f"{_title(name)}: {_fmt(ml)} at the level of the brain (higher than {ref})"
            + ("" if ok else " — it does not belong there")))
    return flags


def _verdict(flags: list[PlausibilityFlag]) -> tuple[bool, str]:
    bad = [f for f in flags if not f.passed]
    if not bad:
        return False, f"all {len(flags)} plausibility checks passed"
    ood = len(bad) >= OOD_MIN_FAILED or any(f.category in PLACEMENT or f.check in DECISIVE
                                            for f in bad)
    # the most telling problems first: placement, eyes, symmetry, then volumes
    rank = {"brain_level": 0, "order": 1, "eyes": 2, "symmetry": 3, "volume": 4}
    shown = sorted(bad, key=lambda f: rank.get(f.category, 5))[:3]
    what = "; ".join(f.message for f in shown) + ("; …" if len(bad) > 3 else "")
    if ood:
        return True, (f"this proposal looks implausible ({len(bad)} of {len(flags)} anatomy "
                      f"checks failed): {what} — check it before trusting it")
    return False, (f"{len(bad)} of {len(flags)} anatomy checks failed: {what} — look at "
                   f"{'it' if len(bad) == 1 else 'them'} before accepting")


def check_plausibility(labels: Volume, table: LabelTable | None = None) -> PlausibilityReport:
    """Anatomical plausibility flags of a craniofacial/CNS label map (ids 1-12 of the label table;
    other ids, e.g. fused brain layers, are ignored).

    Args:
        labels: the label map, any voxel orientation (its affine gives RAS millimetres).
        table: the label table naming the ids (default: the shipped one); structures it lacks
            are not checked.

    Returns:
        A `PlausibilityReport` (flags and the out-of-distribution verdict).
    """
    table = table if table is not None else default_label_table()
    data = np.asarray(labels.data)
    if data.dtype.kind not in "iub":
        if data.dtype.kind != "f" or not np.array_equal(data, np.round(data)):
            raise ValueError(f"not a label map: voxels of type {data.dtype} that are not whole "
                             "numbers")
    names = [n for n in ADULT_VOLUME_ML if _has(table, n)]
    if not names:
        raise ValueError("the label table names none of the craniofacial/CNS structures")
    ids = {n: table.by_name(n).id for n in names}
    geo = _geometry(labels, ids)
    mid = _midline(geo)
    flags = _volume_flags(geo, names)
    eye_top = None
    if "eyeballs" in ids:
        eyes = _eye_flags(labels, ids["eyeballs"], geo, mid)
        flags += eyes.flags
        eye_top = eyes.top_z
    flags += _symmetry_flags(geo, [n for n in PAIRED if n in ids], mid)
    flags += _order_flags(geo)
    flags += _brain_level_flags(geo, names, eye_top)
    ood, message = _verdict(flags)
    return PlausibilityReport(tuple(flags), ood, message, mid)


def _has(table: LabelTable, name: str) -> bool:
    try:
        table.by_name(name)
    except KeyError:
        return False
    return True
