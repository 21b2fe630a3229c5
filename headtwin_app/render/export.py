"""Export structure meshes: one file per structure or one scene file, in the formats' own
conventions (`mesh_formats`), every file written atomically, plus a sidecar JSON.

STL/OBJ/PLY/3MF are in millimetres in LPS by default (what 3D Slicer and ITK assume for untagged
files) or RAS on request, the space written into each file; glTF/GLB are in glTF's own frame
(metres, +Y superior). The sidecar `headtwin_export.json` beside the files states space, units,
the source label map's affine and SHA-256, and per structure its id, name, colour, opacity,
SNOMED CT code and file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from vtkmodules.util import numpy_support as ns
from vtkmodules.vtkCommonDataModel import vtkPolyData

from headtwin_app.core.atomic import atomic_output, atomic_write_text, check_writable
from headtwin_app.core.codes import snomed_code
from headtwin_app.core.labels import LabelTable, default_label_table
from headtwin_app.core.volume import Volume
from headtwin_app.render import mesh_formats as mf
from headtwin_app.render.mesh import StructureMesh, decimate, with_normals

FORMATS = ("stl", "obj", "ply", "gltf", "glb", "3mf")
SPACES = mf.SPACES
SIDECAR = "headtwin_export.json"
_LPS_FRAME = "LPS: x right→left, y anterior→posterior, z inferior→superior"
_RAS_FRAME = "RAS: x left→right, y posterior→anterior, z inferior→superior"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "structure"


def part_of(mesh: StructureMesh | vtkPolyData, label_id: int, name: str,
            rgb: tuple[int, int, int], opacity: float) -> mf.Part:
    """A mesh as numpy arrays (RAS mm) with its display properties."""
    pd = mesh.polydata if isinstance(mesh, StructureMesh) else mesh
    pts = ns.vtk_to_numpy(pd.GetPoints().GetData()).astype(np.float64) \
        if pd.GetNumberOfPoints() else np.zeros((0, 3))
    tris = ns.vtk_to_numpy(pd.GetPolys().GetConnectivityArray()).reshape(-1, 3).astype(np.int64)
    normals = pd.GetPointData().GetNormals()
    nrm = ns.vtk_to_numpy(normals).astype(np.float64) if normals is not None else None
    return mf.Part(name, label_id, rgb, float(opacity), pts, tris, nrm)


def _writer(fmt: str, space: str, target: Path) -> Callable[[Path, list[mf.Part]], None]:
    return {
        "stl": lambda p, parts: mf.write_stl(p, parts, space),
        "ply": lambda p, parts: mf.write_ply(p, parts, space),
        "3mf": lambda p, parts: mf.write_3mf(p, parts, space),
        "gltf": lambda p, parts: mf.write_gltf(p, parts, binary=False),
        "glb": lambda p, parts: mf.write_gltf(p, parts, binary=True),
        "obj": lambda p, parts: mf.write_obj(p, parts, space, target.with_suffix(".mtl").name),
    }[fmt]


def write_parts(parts: list[mf.Part], path: Path, fmt: str, space: str) -> list[Path]:
    """One file holding `parts` (and the .mtl of an OBJ), each written atomically."""
    with atomic_output(path) as tmp:
        _writer(fmt, space, path)(tmp, parts)
    if fmt != "obj":
        return [path]
    mtl = path.with_suffix(".mtl")
    with atomic_output(mtl) as tmp:
        mf.write_mtl(tmp, parts, space)
    return [path, mtl]


def source_hash(volume: Volume) -> str:
    """SHA-256 of a label map's voxels (C order) and affine: the same for the same map,
    whatever file format it was read from."""
    h = hashlib.sha256(np.ascontiguousarray(volume.data).tobytes())
    h.update(np.asarray(volume.affine, np.float64).tobytes())
    return h.hexdigest()


def export_meshes(meshes: Mapping[int, StructureMesh | vtkPolyData],
                  out_dir: str | os.PathLike[str], fmt: str = "stl", single_file: bool = False,
                  table: LabelTable | None = None, space: str = "LPS",
                  source: Volume | None = None, options: dict[str, Any] | None = None,
                  reduce: float = 0.0) -> list[Path]:
    """Export structures to `out_dir`: `<id>_<name>.<fmt>` each, or `twin.<fmt>` when
    `single_file` (named objects/nodes per structure), plus the sidecar JSON. `reduce` removes
    that fraction of each mesh's triangles first (the export dialog's decimation). Returns the
    mesh files written (an OBJ's .mtl included)."""
    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"unknown mesh format '{fmt}' (use {', '.join(FORMATS)})")
    if space not in SPACES:
        raise ValueError(f"unknown space '{space}' (use LPS or RAS)")
    if not meshes:
        raise ValueError("nothing to export: no structures were meshed")
    table = table or default_label_table()
    out = Path(out_dir)
    check_writable(out, folder=True)
    parts = []
    for lid, mesh in meshes.items():
        lab = table[lid] if lid in table else None
        pd = mesh.polydata if isinstance(mesh, StructureMesh) else mesh
        if reduce > 0:
            pd = with_normals(decimate(pd, reduce))
        parts.append(part_of(pd, int(lid), lab.name if lab else f"label_{lid}",
                             lab.rgb if lab else (200, 200, 200), lab.opacity if lab else 1.0))
    if reduce > 0:
        options = {**(options or {}), "export_decimate": reduce}
    files: dict[int, str] = {}
    written: list[Path] = []
    if single_file:
        written = write_parts(parts, out / f"twin.{fmt}", fmt, space)
        files = {p.label_id: written[0].name for p in parts}
    else:
        for part in parts:
            paths = write_parts([part], out / f"{part.label_id}_{_slug(part.name)}.{fmt}", fmt,
                                space)
            files[part.label_id] = paths[0].name
            written += paths
    atomic_write_text(out / SIDECAR, json.dumps(
        sidecar(parts, files, fmt, space, source, options), indent=1))
    return written


def sidecar(parts: list[mf.Part], files: dict[int, str], fmt: str, space: str,
            source: Volume | None, options: dict[str, Any] | None) -> dict[str, Any]:
    """What a reader needs to place and name the meshes without guessing."""
    gltf = fmt in ("gltf", "glb")
    structures = []
    for p in parts:
        code = snomed_code(p.label_id)
        structures.append({"id": p.label_id, "name": p.name, "file": files[p.label_id],
                           "rgb": list(p.rgb), "opacity": p.opacity,
                           "triangles": int(len(p.triangles)),
                           "snomed_ct": None if code is None else code.as_dict()})
    src: dict[str, Any] | None = None
    if source is not None:
        src = {"file": source.meta.get("path"), "shape": list(source.shape),
               "affine_ras_mm": np.asarray(source.affine).round(6).tolist(),
               "sha256": source_hash(source),
               "sha256_of": "label map voxels (C order) + affine (float64)"}
    return {"generator": "HeadTwin Studio", "format": fmt,
            "space": "glTF" if gltf else space, "units": "m" if gltf else "mm",
            "frame": mf.GLTF_FRAME if gltf else (_LPS_FRAME if space == "LPS" else _RAS_FRAME),
            "source": src, "options": options or {}, "structures": structures}
