"""Export round trips: every format, per structure and as one scene, read back with VTK."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from vtkmodules.vtkIOGeometry import vtkGLTFReader, vtkOBJReader, vtkSTLReader
from vtkmodules.vtkIOPLY import vtkPLYReader

from headtwin_app.core.volume import Volume
from headtwin_app.render.export import FORMATS, export_meshes, write_polydata
from headtwin_app.render.mesh import extract_surfaces


def read_triangles(path: Path) -> tuple[int, tuple[float, ...]]:
    """Triangle count and bounds of a mesh file, read back with VTK's readers."""
    if path.suffix == ".gltf":
        reader = vtkGLTFReader()
        reader.SetFileName(str(path))
        reader.Update()
        it = reader.GetOutput().NewIterator()
        it.InitTraversal()
        total, bounds = 0, []
        while not it.IsDoneWithTraversal():
            block = it.GetCurrentDataObject()
            total += block.GetNumberOfCells()
            bounds.append(block.GetBounds())
            it.GoToNextItem()
        b = np.array(bounds)
        return total, (b[:, 0].min(), b[:, 1].max(), b[:, 2].min(), b[:, 3].max(),
                       b[:, 4].min(), b[:, 5].max())
    reader = {".stl": vtkSTLReader, ".obj": vtkOBJReader, ".ply": vtkPLYReader}[path.suffix]()
    reader.SetFileName(str(path))
    reader.Update()
    return reader.GetOutput().GetNumberOfCells(), reader.GetOutput().GetBounds()


@pytest.fixture
def meshes(twin: Volume):  # type: ignore[no-untyped-def]
    return extract_surfaces(twin, label_ids=[1, 5, 12])


@pytest.mark.parametrize("fmt", FORMATS)
def test_per_structure_round_trip(fmt: str, meshes, tmp_path: Path) -> None:  # type: ignore
    paths = export_meshes(meshes, tmp_path, fmt)
    assert [p.name for p in paths] == [f"1_skull.{fmt}", f"5_masseter.{fmt}",
                                       f"12_spinal_cord.{fmt}"]
    for path, mesh in zip(paths, meshes.values(), strict=True):
        triangles, bounds = read_triangles(path)
        assert triangles == mesh.triangles
        # millimetres, not rescaled
        np.testing.assert_allclose(bounds, mesh.polydata.GetBounds(), atol=1e-3)


@pytest.mark.parametrize("fmt", FORMATS)
def test_single_scene_round_trip(fmt: str, meshes, tmp_path: Path) -> None:  # type: ignore
    (path,) = export_meshes(meshes, tmp_path, fmt, single_file=True)
    assert path.name == f"twin.{fmt}"
    triangles, _ = read_triangles(path)
    assert triangles == sum(m.triangles for m in meshes.values())


def test_gltf_scene_keeps_colour_and_opacity(meshes, tmp_path: Path) -> None:  # type: ignore
    (path,) = export_meshes(meshes, tmp_path, "gltf", single_file=True)
    doc = json.loads(path.read_text())
    colours = [m["pbrMetallicRoughness"]["baseColorFactor"] for m in doc["materials"]]
    assert len(doc["meshes"]) == 3
    assert colours[0][:3] == pytest.approx([241 / 255, 214 / 255, 145 / 255], abs=1e-3)


def test_bad_format(meshes, tmp_path: Path) -> None:  # type: ignore
    with pytest.raises(ValueError, match="unknown mesh format"):
        export_meshes(meshes, tmp_path, "fbx")
    with pytest.raises(ValueError, match="unknown mesh format"):
        write_polydata(meshes[1].polydata, tmp_path / "a.xyz")
    with pytest.raises(ValueError, match="nothing to export"):
        export_meshes({}, tmp_path, "stl")
