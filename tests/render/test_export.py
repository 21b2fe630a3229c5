"""Mesh export in the formats' conventions, read back by independent readers (trimesh, raw JSON)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh

from headtwin_app.core.labels import default_label_table
from headtwin_app.core.volume import Volume
from headtwin_app.render.export import FORMATS, SIDECAR, export_meshes
from headtwin_app.render.mesh import extract_surfaces

IDS = [1, 5, 9, 12]  # skull, masseter, upper airway (opacity 0.6), spinal cord
NAMES = {1: "skull", 5: "masseter", 9: "upper_airway", 12: "spinal_cord"}


@pytest.fixture
def meshes(twin: Volume):  # type: ignore[no-untyped-def]
    return extract_surfaces(twin, label_ids=IDS)


def _ras_bounds(mesh) -> np.ndarray:  # type: ignore[no-untyped-def]
    b = np.array(mesh.polydata.GetBounds()).reshape(3, 2)
    return b


def _lps(bounds_ras: np.ndarray) -> np.ndarray:
    """(min, max) per axis of the same box in LPS."""
    out = bounds_ras.copy()
    out[:2] = -bounds_ras[:2, ::-1]
    return out


def _load(path: Path) -> trimesh.Trimesh:
    loaded = trimesh.load(str(path), process=False)
    if isinstance(loaded, trimesh.Scene):
        loaded = loaded.to_geometry() if hasattr(loaded, "to_geometry") else loaded.dump(True)
    return loaded


@pytest.mark.parametrize("fmt", ["stl", "ply", "obj", "3mf"])
@pytest.mark.parametrize("space", ["LPS", "RAS"])
def test_millimetre_formats_lie_in_the_stated_space(fmt: str, space: str, meshes,  # type: ignore
                                                    tmp_path: Path) -> None:
    paths = [p for p in export_meshes(meshes, tmp_path, fmt, space=space) if p.suffix != ".mtl"]
    assert [p.name for p in paths] == [f"{i}_{NAMES[i]}.{fmt}" for i in IDS]
    for path, mesh in zip(paths, meshes.values(), strict=True):
        back = _load(path)
        assert len(back.faces) == mesh.triangles
        want = _ras_bounds(mesh) if space == "RAS" else _lps(_ras_bounds(mesh))
        np.testing.assert_allclose(back.bounds.T, want, atol=1e-3)
    first = paths[0]
    text = (first.read_bytes()[:300] if fmt != "3mf"
            else zipfile.ZipFile(first).read("3D/3dmodel.model")[:600])
    assert f"SPACE={space}".encode() in text and b"UNITS=mm" in text


def test_lps_stl_box_matches_the_voxel_box(twin: Volume, meshes, tmp_path: Path) -> None:  # type: ignore
    """The issue's target: an LPS STL's bounding box is the structure's voxel box mapped to LPS
    within 1 mm (the surface lies half a voxel outside the outermost voxel centres)."""
    export_meshes(meshes, tmp_path, "stl")
    for lid in IDS:
        ijk = np.argwhere(twin.data == lid)
        corners = np.array([[a, b, c, 1.0] for a in (ijk[:, 0].min() - 0.5, ijk[:, 0].max() + 0.5)
                            for b in (ijk[:, 1].min() - 0.5, ijk[:, 1].max() + 0.5)
                            for c in (ijk[:, 2].min() - 0.5, ijk[:, 2].max() + 0.5)])
        world = (corners @ twin.affine.T)[:, :3] * np.array([-1, -1, 1])  # → LPS
        stl = _load(tmp_path / f"{lid}_{NAMES[lid]}.stl")
        np.testing.assert_allclose(stl.bounds, [world.min(0), world.max(0)], atol=1.0)


def test_obj_names_groups_and_materials(meshes, tmp_path: Path) -> None:  # type: ignore
    paths = export_meshes(meshes, tmp_path, "obj", single_file=True)
    assert [p.name for p in paths] == ["twin.obj", "twin.mtl"]
    text = paths[0].read_text()
    assert "mtllib twin.mtl" in text
    assert [ln.split()[1] for ln in text.splitlines() if ln.startswith("o ")] == \
        [NAMES[i] for i in IDS]
    mtl = paths[1].read_text()
    assert "newmtl upper_airway" in mtl and "d 0.600" in mtl
    scene = trimesh.load(str(paths[0]), process=False)  # one geometry per material
    assert sorted(scene.geometry) == sorted(NAMES.values())


@pytest.mark.parametrize("fmt", ["gltf", "glb"])
def test_gltf_is_metres_y_up_named(fmt: str, meshes, tmp_path: Path) -> None:  # type: ignore
    (path,) = export_meshes(meshes, tmp_path, fmt, single_file=True)
    if fmt == "gltf":
        doc = json.loads(path.read_text())
    else:
        raw = path.read_bytes()
        assert raw[:4] == b"glTF"
        length = int.from_bytes(raw[12:16], "little")
        doc = json.loads(raw[20:20 + length])
    assert doc["asset"]["version"] == "2.0"
    assert [n["name"] for n in doc["nodes"]] == [NAMES[i] for i in IDS]
    assert [m["name"] for m in doc["materials"]] == [NAMES[i] for i in IDS]
    modes = {m["name"]: m.get("alphaMode", "OPAQUE") for m in doc["materials"]}
    assert modes["upper_airway"] == "BLEND" and modes["skull"] == "OPAQUE"
    # POSITION bounds: y is superior in metres, z anterior, x left
    for lid, node in zip(IDS, doc["nodes"], strict=True):
        acc = doc["accessors"][doc["meshes"][node["mesh"]]["primitives"][0]["attributes"]
                              ["POSITION"]]
        ras = _ras_bounds(meshes[lid])
        np.testing.assert_allclose([acc["min"][1], acc["max"][1]], ras[2] / 1000, atol=1e-6)
        np.testing.assert_allclose([acc["min"][2], acc["max"][2]], ras[1] / 1000, atol=1e-6)
        np.testing.assert_allclose([acc["min"][0], acc["max"][0]], -ras[0, ::-1] / 1000,
                                   atol=1e-6)
    scene = trimesh.load(str(path))
    assert sum(len(g.faces) for g in scene.geometry.values()) == \
        sum(m.triangles for m in meshes.values())


def test_3mf_objects_carry_names_and_colours(meshes, tmp_path: Path) -> None:  # type: ignore
    (path,) = export_meshes(meshes, tmp_path, "3mf", single_file=True)
    model = zipfile.ZipFile(path).read("3D/3dmodel.model").decode()
    table = default_label_table()
    for lid in IDS:
        r, g, b = table[lid].rgb
        assert f'name="{NAMES[lid]}"' in model and f"#{r:02X}{g:02X}{b:02X}" in model
    scene = trimesh.load(str(path))
    assert len(scene.geometry) == len(IDS)


def test_sidecar_states_space_units_source_and_codes(twin: Volume, meshes, tmp_path: Path,  # type: ignore
                                                     ) -> None:
    export_meshes(meshes, tmp_path, "stl", source=twin)
    side = json.loads((tmp_path / SIDECAR).read_text())
    assert side["space"] == "LPS" and side["units"] == "mm"
    assert side["source"]["affine_ras_mm"] == np.asarray(twin.affine).round(6).tolist()
    assert len(side["source"]["sha256"]) == 64
    by_id = {s["id"]: s for s in side["structures"]}
    assert by_id[1]["snomed_ct"]["code"] == "89546000" and by_id[1]["file"] == "1_skull.stl"
    assert by_id[5]["snomed_ct"]["match"].startswith("broader")
    export_meshes(meshes, tmp_path / "g", "glb", single_file=True)
    assert json.loads((tmp_path / "g" / SIDECAR).read_text())["units"] == "m"


def test_every_format_exports(meshes, tmp_path: Path) -> None:  # type: ignore
    for fmt in FORMATS:
        paths = export_meshes(meshes, tmp_path / fmt, fmt, single_file=True)
        assert paths[0].stat().st_size > 0


def test_bad_format_and_space(meshes, tmp_path: Path) -> None:  # type: ignore
    with pytest.raises(ValueError, match="unknown mesh format"):
        export_meshes(meshes, tmp_path, "fbx")
    with pytest.raises(ValueError, match="unknown space"):
        export_meshes(meshes, tmp_path, "stl", space="XYZ")
    with pytest.raises(ValueError, match="nothing to export"):
        export_meshes({}, tmp_path, "stl")
