"""`make_phantom`: one synthetic subject = canonical anatomy (procedural craniofacial structures
around the real MNI brain, painted as tissue classes) pulled through the subject's pose, size and
smooth random deformation onto the scanner grid, then imaged with a pulse sequence (tissue
physics → contrast), partial volume, texture, bias field and Rician noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from headtwin_app.core.labels import default_label_table
from headtwin_app.core.phantom import body, contrast, head, neck
from headtwin_app.core.phantom.sequences import PRESETS, Sequence, signal_lut
from headtwin_app.core.phantom.shapes import CANON_ORIGIN, Canvas, rotation
from headtwin_app.core.phantom.subject import Subject, draw_subject
from headtwin_app.core.phantom.template import (
    CSF_ID,
    GM_ID,
    LEFT_ID,
    REGION_BASE,
    RIGHT_ID,
    WM_ID,
    template_brain,
)
from headtwin_app.core.phantom.tissues import BRAIN_CODES
from headtwin_app.core.phantom.tissues import CODE as T
from headtwin_app.core.volume import Volume

GENERATOR_VERSION = 2  # 2: tissue classes imaged by a pulse sequence (was fixed PD values)
# Scanner field of view (subject mm, RAS): ear to ear, occiput to nose tip, about C4/C5 to vertex.
FOV_LO = (-96.0, -126.0, -150.0)
FOV_HI = (96.0, 122.0, 100.0)
MAX_SPACING = 4.0
MIN_SPACING = 0.5  # finer grids need more memory than a desktop has (0.5 mm: 8x the 1 mm head)
TWIN_NAMES = ("skull", "mandible", "tmj_articular_discs", "temporalis", "masseter",
              "medial_pterygoid", "lateral_pterygoid", "eyeballs", "upper_airway",
              "cervical_vertebrae", "cervical_discs", "spinal_cord")
IMAGE_SCALE = 1000.0  # the brightest tissue ≈ 1000 in the written image


@dataclass
class Phantom:
    """One synthetic head: the image in one contrast and its label maps, all on the image grid."""

    image: Volume
    labels: Volume  # craniofacial/CNS ids 1-12
    brain_tissue: Volume  # 21 CSF, 22 GM, 23 WM
    brain_regions: Volume  # 100 + Talairach gyrus atlas index
    brain_hemispheres: Volume  # 31 left, 32 right
    seed: int
    spacing: float = 1.0
    tissue_classes: Volume | None = None  # tissue codes of `tissues.CODE` (what the image shows)
    sequence: Sequence = PRESETS["pd"]

    def label_volumes_ml(self) -> dict[str, float]:
        """Volume (ml) of every twin label and brain tissue class, by label name."""
        table = default_label_table()
        voxel_ml = float(np.prod(self.image.spacing)) / 1000.0
        out: dict[str, float] = {}
        for vol in (self.labels, self.brain_tissue):
            counts = np.bincount(vol.data.ravel(), minlength=256)
            for lid in np.nonzero(counts)[0]:
                if lid > 0:
                    out[table.name_of(int(lid))] = round(float(counts[lid]) * voxel_ml, 3)
        return out


def twin_ids() -> dict[str, int]:
    table = default_label_table()
    return {name: table.by_name(name).id for name in TWIN_NAMES}


def build_canonical(a: Subject) -> Canvas:
    """Paint the subject's anatomy on the canonical MNI-aligned 1 mm grid (before warping)."""
    tb = template_brain()
    ids = twin_ids()
    rng = np.random.default_rng([a.seed, 0xB0D1])
    cv = Canvas()
    sd = tb.envelope_sd
    neck.paint_neck_soft(cv, a)
    condyles = {s: head.tmj_centre(a, s, sd, cv) for s in (-1, 1)}
    head.paint_muscles(cv, a, sd, ids, condyles)
    head.paint_calvarium(cv, a, sd, ids["skull"])
    head.paint_face_bones(cv, a, ids["skull"])
    head.paint_cavities(cv, a)
    head.paint_mandible(cv, a, ids, condyles)
    head.paint_eyes(cv, a, ids["eyeballs"])
    neck.paint_airway(cv, a, ids["upper_airway"])
    neck.paint_spine(cv, a, ids)
    _paint_brain(cv, a)
    body.fill_body(cv, a, rng)
    return cv


def _paint_brain(cv: Canvas, a: Subject) -> None:
    """CSF fills the intracranial envelope around the template brain; the brain wins overlaps."""
    tb = template_brain()
    reg = cv.region((-100, -130, head.Z_FORAMEN), (100, 125, 100))
    assert reg is not None
    icv = tb.envelope_sd[reg.slices] <= a.csf_gap
    cv.paint(reg, icv, CSF_ID, T["csf"])
    brain = tb.tissue > 0
    cv.label[brain] = tb.tissue[brain]
    code = np.zeros(256, dtype=np.uint8)
    code[[CSF_ID, GM_ID, WM_ID]] = BRAIN_CODES
    cv.tissue[brain] = code[tb.tissue[brain]]


def canonical_signal(cv: Canvas, seq: Sequence) -> np.ndarray:
    """Noise-free signal of the canonical head under `seq` (brightest tissue = 1): each tissue's
    steady-state signal times its voxel fraction; brain voxels interpolate between CSF, GM and WM
    by the template's tissue mix, so the real brain keeps its partial volume in every contrast."""
    lut = signal_lut(seq)
    sig = lut[cv.tissue]
    sig *= cv.fraction
    tb = template_brain()
    brain = tb.tissue > 0
    sig[brain] = np.interp(tb.mix[brain], [0.0, 1.0, 2.0], lut[list(BRAIN_CODES)])
    return sig


def subject_grid(spacing: float) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and affine of the scanner grid at `spacing` mm."""
    lo, hi = np.asarray(FOV_LO), np.asarray(FOV_HI)
    shape = tuple(int(np.floor((hi[i] - lo[i]) / spacing)) + 1 for i in range(3))
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = lo
    return shape, affine  # type: ignore[return-value]


def _canonical_coords(a: Subject, shape: tuple[int, int, int], spacing: float,
                      rng: np.random.Generator) -> np.ndarray:
    """For every scanner voxel, the canonical-grid index it shows: (3, X, Y, Z) float32."""
    r = rotation(*a.rotation_deg)
    m = np.diag(1.0 / np.asarray(a.scale)) @ r.T
    c = -m @ np.asarray(a.shift_mm) - np.asarray(CANON_ORIGIN, dtype=float)
    axes = [(np.arange(n, dtype=np.float32) * spacing + FOV_LO[i]) for i, n in enumerate(shape)]
    coords = np.empty((3, *shape), dtype=np.float32)
    for k in range(3):
        u = contrast.smooth_noise(shape, rng, 30.0 / spacing, a.warp_mm)
        u += np.float32(c[k])
        u += (np.float32(m[k, 0]) * axes[0]).reshape(-1, 1, 1)
        u += (np.float32(m[k, 1]) * axes[1]).reshape(1, -1, 1)
        u += (np.float32(m[k, 2]) * axes[2]).reshape(1, 1, -1)
        coords[k] = u
    return coords


def check_spacing(spacing: float) -> float:
    """The phantom grid's voxel size, checked: a number in [MIN_SPACING, MAX_SPACING] mm."""
    if (isinstance(spacing, bool) or not isinstance(spacing, (int, float, np.number))
            or not np.isfinite(spacing) or not MIN_SPACING <= spacing <= MAX_SPACING):
        raise ValueError(f"spacing must be in [{MIN_SPACING:g}, {MAX_SPACING:g}] mm, got "
                         f"{spacing!r}")
    return float(spacing)


def make_phantom(seed: int, spacing: float = 1.0, sequence: Sequence | str = "pd") -> Phantom:
    """Generate subject `seed` on an isotropic grid of `spacing` mm (deterministic per seed),
    imaged with `sequence` (a `Sequence` or a preset name: t1, t2, pd, flair). The anatomy, noise
    and bias of a seed are the same in every contrast.

    Raises:
        ValueError: seed negative or not an integer; spacing not in [0.5, 4] mm; unknown preset.
    """
    spacing = check_spacing(spacing)
    seq = _as_sequence(sequence)
    a = draw_subject(seed)
    rng = np.random.default_rng([a.seed, 0x1A6E])
    cv = build_canonical(a)
    shape, affine = subject_grid(spacing)
    coords = _canonical_coords(a, shape, spacing, rng)

    anat = ndimage.map_coordinates(cv.label, coords, order=0, mode="constant", cval=0,
                                   prefilter=False)
    classes = ndimage.map_coordinates(cv.tissue, coords, order=0, mode="constant", cval=T["air"],
                                      prefilter=False).astype(np.uint8)
    blurred = contrast.partial_volume(canonical_signal(cv, seq), spacing)
    del cv
    image = ndimage.map_coordinates(blurred, coords, order=1, mode="constant", cval=0.0,
                                    prefilter=False).astype(np.float32, copy=False)
    del blurred

    labels = np.where(anat <= len(TWIN_NAMES), anat, 0).astype(np.uint8)
    tissue = np.where((anat >= CSF_ID) & (anat <= CSF_ID + 2), anat, 0).astype(np.uint8)
    hemis, regions = _brain_layers(coords, tissue)
    del coords, anat

    image *= contrast.smooth_noise(shape, rng, 4.0 / spacing, a.texture) + np.float32(1.0)
    image *= contrast.bias_field(shape, spacing, rng, a.bias)
    image = contrast.rician_noise(image, a.noise, rng)
    image *= np.float32(IMAGE_SCALE)

    meta = {"source": "headtwin phantom", "seed": a.seed, "generator": GENERATOR_VERSION,
            "sequence": seq.as_dict()}

    def vol(data: np.ndarray, kind: str) -> Volume:
        return Volume(data, affine.copy(), {**meta, "kind": kind})

    return Phantom(vol(image, "image"), vol(labels, "labels"), vol(tissue, "brain_tissue"),
                   vol(regions, "brain_regions"), vol(hemis, "brain_hemispheres"), a.seed, spacing,
                   vol(classes, "tissue_classes"), seq)


def _as_sequence(sequence: Sequence | str) -> Sequence:
    if isinstance(sequence, Sequence):
        return sequence
    if sequence not in PRESETS:
        raise ValueError(f"contrast must be one of {', '.join(PRESETS)}, got {sequence!r}")
    return PRESETS[sequence]


def _brain_layers(coords: np.ndarray, tissue: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hemispheres (sign of the MNI x the voxel shows) and atlas regions inside the brain."""
    tb = template_brain()
    inside = tissue > 0
    pts = coords[:, inside]  # canonical indices of brain voxels
    hemis = np.zeros(tissue.shape, dtype=np.uint8)
    x_mm = pts[0] + np.float32(CANON_ORIGIN[0])
    hemis[inside] = np.where(x_mm < 0, LEFT_ID, RIGHT_ID)
    idx = ndimage.map_coordinates(tb.regions, pts, order=0, mode="constant", cval=0,
                                  prefilter=False)
    regions = np.zeros(tissue.shape, dtype=np.uint8)
    regions[inside] = np.where(idx > 0, idx.astype(np.int32) + REGION_BASE, 0).astype(np.uint8)
    return hemis, regions
