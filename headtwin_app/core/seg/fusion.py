"""Fuse the craniofacial/CNS label map and the brain model's layers into one head twin.

Overlap rule (documented, and what `FUSION_RULE` says in every sidecar): the brain model owns the
intracranial cavity, i.e. its brain mask (the given mask, else every voxel any brain layer labels).
Inside the cavity the twin takes the brain tissue label (CSF/GM/WM) and any craniofacial/CNS label
there is dropped and counted as a conflict; outside the cavity the craniofacial/CNS labels win and
the brain layers are cleared. Regions and hemispheres stay separate layers on the same grid, since
a voxel is GM, a gyrus and a hemisphere at once.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from headtwin_app.core.atomic import atomic_write_text
from headtwin_app.core.labelmap import check_same_grid, label_array
from headtwin_app.core.labels import LabelTable, default_label_table
from headtwin_app.core.volume import Volume

FUSION_RULE = ("brain model owns the intracranial cavity (its brain mask): inside it the twin "
               "holds brain tissue labels and craniofacial/CNS labels are dropped (counted as "
               "conflicts); outside it craniofacial/CNS labels win and brain layers are cleared")
BRAIN_FILES = {"tissue": "brain_tissue", "regions": "brain_regions",
               "hemispheres": "brain_hemispheres", "mask": "brain_mask"}
BRAIN_LAYERS = {"tissue": "tissue", "regions": "regions", "hemispheres": "hemispheres"}
"""Brain layer → the label-table layer its ids come from (the mask holds 0/1)."""


@dataclass
class FusedTwin:
    """The fused twin map (ids 1-12 and 21-23) plus the other brain layers and the report."""

    twin: Volume
    layers: dict[str, Volume] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)


def fuse_twin(craniofacial: Volume, brain: dict[str, Volume],
              table: LabelTable | None = None) -> FusedTwin:
    """Merge a craniofacial/CNS map with brain layers by the documented rule.

    Args:
        craniofacial: label map with ids of the "twin" layer (1-12).
        brain: any of "tissue" (21-23), "regions" (100+), "hemispheres" (31/32), "mask" (0/1).
        table: label table (default: the shipped one).
    Returns:
        FusedTwin with the twin map, the regions/hemispheres layers clipped to the cavity and a
        report: cavity size, conflict voxels per craniofacial label, the rule.
    """
    table = table or default_label_table()
    unknown = set(brain) - set(BRAIN_FILES)
    if unknown:
        raise ValueError(f"unknown brain layer(s) {sorted(unknown)}; expected {list(BRAIN_FILES)}")
    if not brain:
        raise ValueError("no brain layer given: need at least one of tissue/regions/hemispheres")
    cf = label_array(craniofacial.data, "craniofacial map", table, layers=("twin",))
    brain = dict(brain)
    for name, vol in brain.items():
        what = f"brain {name} layer"
        check_same_grid(craniofacial, vol, "the craniofacial map", what)
        ids_from = () if name == "mask" else (BRAIN_LAYERS[name],)
        brain[name] = vol.with_data(label_array(vol.data, what, table, layers=ids_from,
                                                allowed_extra=(1,) if name == "mask" else ()))
    if "mask" in brain:
        cavity = np.asarray(brain["mask"].data) > 0
    else:
        cavity = np.zeros(cf.shape, bool)
        for vol in brain.values():
            cavity |= np.asarray(vol.data) > 0
    tissue = (np.asarray(brain["tissue"].data).astype(np.int16) if "tissue" in brain
              else np.zeros_like(cf))
    twin = np.where(cavity, np.where(tissue > 0, tissue, 0), cf).astype(np.int16)

    lost = cf[cavity & (cf > 0)]
    counts = np.bincount(lost, minlength=13) if lost.size else np.zeros(13, int)
    conflicts = {table.name_of(i): int(counts[i]) for i in range(1, len(counts)) if counts[i]}
    layers = {}
    for name in ("regions", "hemispheres"):
        if name in brain:
            data = np.where(cavity, np.asarray(brain[name].data), 0).astype(np.int16)
            layers[name] = craniofacial.with_data(data)
    report = {
        "rule": FUSION_RULE,
        "cavity_voxels": int(cavity.sum()),
        "conflict_voxels": int(lost.size),
        "conflicts": conflicts,
        "brain_outside_cavity_voxels": int(((tissue > 0) & ~cavity).sum()),
    }
    return FusedTwin(craniofacial.with_data(twin), layers, report)


def load_brain_dir(folder: str | os.PathLike[str]) -> dict[str, Volume]:
    """Brain layers from a folder holding brain_tissue/brain_regions/brain_hemispheres/brain_mask
    .nii.gz (any subset, at least one), as a phantom case or `headtwin segment --backend atlas`
    writes them."""
    from headtwin_app.core.io import load_volume

    d = Path(folder)
    if not d.is_dir():
        raise ValueError(f"{d}: brain folder not found")
    layers = {name: load_volume(d / f"{stem}.nii.gz") for name, stem in BRAIN_FILES.items()
              if (d / f"{stem}.nii.gz").exists()}
    if not layers:
        raise ValueError(f"{d}: no brain_tissue/brain_regions/brain_hemispheres .nii.gz files")
    return layers


def _stem(p: Path) -> str:
    name = p.name
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    raise ValueError(f"{p}: the fused twin is written as NIfTI (.nii or .nii.gz)")


def twin_paths(path: str | os.PathLike[str], layers: list[str]) -> dict[str, Path]:
    """Where `save_twin` writes: {"twin": path, layer: <stem>_<layer>.nii.gz, "sidecar": json}."""
    p = Path(path)
    stem = _stem(p)
    return {"twin": p, **{name: p.with_name(f"{stem}_{name}.nii.gz") for name in layers},
            "sidecar": p.with_name(f"{stem}.json")}


def save_twin(fused: FusedTwin, path: str | os.PathLike[str],
              table: LabelTable | None = None) -> dict[str, Path]:
    """Write the twin map to `path` (NIfTI), each extra layer beside it as `<stem>_<layer>.nii.gz`
    and a JSON sidecar `<stem>.json` naming every label in every file plus the fusion report.
    Returns {"twin"|layer|"sidecar": path}."""
    from headtwin_app.core.io import save_volume

    table = table or default_label_table()
    paths = twin_paths(path, list(fused.layers))
    written = {"twin": save_volume(fused.twin, paths["twin"])}
    for name, vol in fused.layers.items():
        written[name] = save_volume(vol, paths[name])
    files = {}
    for name, fp in written.items():
        vol = fused.twin if name == "twin" else fused.layers[name]
        ids = [int(i) for i in np.unique(vol.data) if i > 0]
        files[name] = {"file": fp.name,
                       "labels": {str(i): table.name_of(i) for i in ids}}
    written["sidecar"] = atomic_write_text(
        paths["sidecar"], json.dumps({"files": files, "fusion": fused.report}, indent=1))
    return written
