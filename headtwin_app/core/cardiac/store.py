"""Cardiac case folders: the phantom's NIfTI maps and case.json, written and read back.

Layout: magnitude / lv_mask / tissue_labels (x, y, slice, frame), velocity and phase
(x, y, slice, frame, 3: x, y, through-plane). NIfTI's 4th axis is time (ms per frame in pixdim)
and its 5th the vector components (intent "vector" for velocity), as the format defines them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from headtwin_app.core.atomic import atomic_write, atomic_write_text
from headtwin_app.core.cardiac.phantom import CardiacCase
from headtwin_app.core.errors import UserError

CASE_FILES = ("magnitude", "phase", "velocity", "lv_mask", "tissue_labels")
_FIELDS = {"tissue_labels": "tissues"}


def write_map(arr: np.ndarray, affine: np.ndarray, path: str | os.PathLike[str],
              frame_ms: float | None = None, vector: bool = False) -> Path:
    """One 4D/5D map as NIfTI: mm and ms units, the frame duration in pixdim[4]."""
    img = nib.Nifti1Image(np.asarray(arr), affine)
    hdr = img.header
    hdr.set_xyzt_units("mm", "msec")
    if frame_ms is not None:
        zooms = list(hdr.get_zooms())
        zooms[3] = frame_ms
        hdr.set_zooms(zooms)
    if vector:
        hdr.set_intent("vector")
    return atomic_write(path, lambda tmp: nib.save(img, str(tmp)))


def save_case(case: CardiacCase, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame_ms = case.info["rr_ms"] / case.info["frames"]
    paths = {}
    for name in CASE_FILES:
        arr = getattr(case, _FIELDS.get(name, name))
        if arr is None:
            continue
        paths[name] = write_map(arr, case.affine, out / f"{name}.nii.gz", frame_ms,
                                vector=name == "velocity")
    paths["json"] = atomic_write_text(out / "case.json", json.dumps(case.info, indent=1) + "\n")
    return paths


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    img: Any = nib.load(str(path))
    return np.asarray(img.dataobj), img.affine


def load_case(folder: str | os.PathLike[str]) -> CardiacCase:
    """A case folder written by `save_case` (velocity, phase and tissues may be missing)."""
    d = Path(folder)
    if not (d / "case.json").is_file() or not (d / "magnitude.nii.gz").is_file():
        raise UserError(f"{d} is not a cardiac case folder (needs case.json and "
                        "magnitude.nii.gz; make one with `headtwin cardiac-phantom`)")
    info = json.loads((d / "case.json").read_text())
    arrays: dict[str, np.ndarray | None] = {}
    affine = np.eye(4)
    for name in CASE_FILES:
        p = d / f"{name}.nii.gz"
        if p.is_file():
            arr, affine_n = _read(p)
            arrays[_FIELDS.get(name, name)] = arr
            if name == "magnitude":
                affine = affine_n
        else:
            arrays[_FIELDS.get(name, name)] = None
    mag = arrays["magnitude"]
    assert mag is not None
    return CardiacCase(magnitude=mag.astype(np.float32), phase=arrays["phase"],
                       velocity=arrays["velocity"], lv_mask=arrays["lv_mask"],
                       tissues=arrays["tissues"], affine=affine, info=info)
