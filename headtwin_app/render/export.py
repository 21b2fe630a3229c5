"""Write structure meshes as STL, OBJ, PLY or glTF: one file per structure or one scene file.

Coordinates are written as they are held, in millimetres (world RAS). glTF viewers assume metres,
so a scene opened there looks 1000× too large; scale it there if needed, the numbers stay mm.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from vtkmodules.util import numpy_support as ns
from vtkmodules.vtkCommonDataModel import vtkPolyData
from vtkmodules.vtkFiltersCore import vtkAppendPolyData
from vtkmodules.vtkIOExport import vtkGLTFExporter
from vtkmodules.vtkIOGeometry import vtkOBJWriter, vtkSTLWriter
from vtkmodules.vtkIOPLY import vtkPLYWriter
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer

from headtwin_app.core.atomic import atomic_output, check_writable
from headtwin_app.core.errors import OutputError, stderr_to_log
from headtwin_app.core.labels import LabelTable, default_label_table
from headtwin_app.render.mesh import StructureMesh

FORMATS = ("stl", "obj", "ply", "gltf")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "structure"


def _as_polydata(mesh: StructureMesh | vtkPolyData) -> vtkPolyData:
    return mesh.polydata if isinstance(mesh, StructureMesh) else mesh


def _colour_array(pd: vtkPolyData, rgb: tuple[int, int, int], on_points: bool) -> vtkPolyData:
    """A shallow copy of `pd` carrying a constant RGB array named "RGB"."""
    out = vtkPolyData()
    out.ShallowCopy(pd)
    n = pd.GetNumberOfPoints() if on_points else pd.GetNumberOfCells()
    arr = ns.numpy_to_vtk(np.tile(np.asarray(rgb, np.uint8), (n, 1)), deep=True)
    arr.SetName("RGB")
    (out.GetPointData() if on_points else out.GetCellData()).SetScalars(arr)
    return out


def write_polydata(pd: vtkPolyData, path: str | os.PathLike[str],
                   rgb: tuple[int, int, int] | None = None) -> Path:
    """Write one mesh; the format comes from the suffix (.stl, .obj, .ply, .gltf)."""
    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"{p}: unknown mesh format '{p.suffix}' (use {', '.join(FORMATS)})")
    if fmt == "stl":
        w = vtkSTLWriter()
        w.SetFileTypeToBinary()
        w.SetInputData(pd)
    elif fmt == "obj":
        w = vtkOBJWriter()
        w.SetInputData(pd)
    elif fmt == "ply":
        w = vtkPLYWriter()
        w.SetFileTypeToBinary()
        if rgb is not None:
            pd = _colour_array(pd, rgb, on_points=True)
        if pd.GetPointData().GetArray("RGB") is not None:
            w.SetArrayName("RGB")
            w.SetColorModeToDefault()
        w.SetInputData(pd)
    else:
        return write_gltf({p.stem: pd}, p, colours={p.stem: rgb})
    with atomic_output(p) as tmp:
        w.SetFileName(str(tmp))
        with stderr_to_log():
            written = w.Write() and w.GetErrorCode() == 0
        _check_written(written, tmp, p)
    return p


def _check_written(ok: bool, tmp: Path, p: Path) -> None:
    """VTK writers report a full disk only through their error code; refuse an empty file."""
    if not ok or not tmp.is_file() or tmp.stat().st_size == 0:
        raise OutputError(f"{p}: could not write the mesh (the disk may be full)")


def write_gltf(meshes: Mapping[str, vtkPolyData], path: str | os.PathLike[str],
               colours: Mapping[str, tuple[int, int, int] | None] | None = None,
               opacities: Mapping[str, float] | None = None) -> Path:
    """Write named meshes as one glTF scene: one mesh node per entry, colour and opacity as its
    material, buffers embedded. (vtkGLTFExporter; node names are mesh0, mesh1, ... in order.)"""
    p = Path(path)
    renderer = vtkRenderer()
    for name, pd in meshes.items():
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(pd)
        mapper.ScalarVisibilityOff()
        actor = vtkActor()
        actor.SetMapper(mapper)
        rgb = (colours or {}).get(name) or (200, 200, 200)
        actor.GetProperty().SetColor(*(c / 255.0 for c in rgb))
        actor.GetProperty().SetOpacity(float((opacities or {}).get(name, 1.0)))
        renderer.AddActor(actor)
    write_scene_gltf(renderer, p)
    return p


def write_scene_gltf(renderer: vtkRenderer, path: str | os.PathLike[str]) -> Path:
    """Write the visible actors of a renderer (e.g. a TwinScene's) as one glTF file."""
    from headtwin_app.render.offscreen import new_render_window

    p = Path(path)
    window = new_render_window((16, 16))  # never rendered: the exporter only walks the actors
    window.AddRenderer(renderer)
    exporter = vtkGLTFExporter()
    exporter.SetRenderWindow(window)
    exporter.InlineDataOn()
    exporter.SaveNormalOn()
    try:
        with atomic_output(p) as tmp:
            exporter.SetFileName(str(tmp))
            with stderr_to_log():
                exporter.Write()
            _check_written(True, tmp, p)
            _check_json(tmp, p)
    finally:
        window.RemoveRenderer(renderer)
    return p


def _check_json(tmp: Path, p: Path) -> None:
    """A glTF file is JSON; a short write leaves it unparsable."""
    import json

    try:
        json.loads(tmp.read_bytes())
    except ValueError:
        raise OutputError(f"{p}: could not write the glTF file completely (the disk may be "
                          "full)") from None


def export_meshes(meshes: Mapping[int, StructureMesh | vtkPolyData],
                  out_dir: str | os.PathLike[str], fmt: str = "stl", single_file: bool = False,
                  table: LabelTable | None = None) -> list[Path]:
    """Export structures to `out_dir`: `<id>_<name>.<fmt>` each, or `twin.<fmt>` when
    `single_file` (one glTF node per structure; STL/OBJ/PLY get the meshes appended, PLY keeps
    each structure's colour). Returns the written paths."""
    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"unknown mesh format '{fmt}' (use {', '.join(FORMATS)})")
    if not meshes:
        raise ValueError("nothing to export: no structures were meshed")
    table = table or default_label_table()
    out = Path(out_dir)
    check_writable(out, folder=True)

    def rgb_of(lid: int) -> tuple[int, int, int] | None:
        return table[lid].rgb if lid in table else None

    names = {lid: f"{lid}_{_slug(table.name_of(lid))}" for lid in meshes}
    if not single_file:
        return [write_polydata(_as_polydata(m), out / f"{names[lid]}.{fmt}", rgb_of(lid))
                for lid, m in meshes.items()]
    if fmt == "gltf":
        return [write_gltf({names[lid]: _as_polydata(m) for lid, m in meshes.items()},
                           out / "twin.gltf", {names[lid]: rgb_of(lid) for lid in meshes},
                           {names[lid]: table[lid].opacity for lid in meshes if lid in table})]
    append = vtkAppendPolyData()
    for lid, m in meshes.items():
        rgb = rgb_of(lid) or (200, 200, 200)
        append.AddInputData(_colour_array(_as_polydata(m), rgb, on_points=True))
    append.Update()
    return [write_polydata(append.GetOutput(), out / f"twin.{fmt}")]
