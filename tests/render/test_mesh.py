"""Meshing: volumes against voxel counts, watertightness, physical placement, options."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_maps import ball, oblique_flipped_affine
from vtkmodules.util import numpy_support as ns

from headtwin_app.core.volume import Volume
from headtwin_app.render.mesh import (
    MeshOptions,
    SurfaceExtractor,
    extract_surfaces,
    label_counts,
    mesh_metrics,
)


def signed_volume_and_centroid(pd) -> tuple[float, np.ndarray]:  # type: ignore[no-untyped-def]
    """Signed enclosed volume (mm³; > 0 when normals point outwards) and volume centroid."""
    p = ns.vtk_to_numpy(pd.GetPoints().GetData()).astype(float)
    t = ns.vtk_to_numpy(pd.GetPolys().GetConnectivityArray()).reshape(-1, 3)
    a, b, c = p[t[:, 0]], p[t[:, 1]], p[t[:, 2]]
    v = np.einsum("ij,ij->i", a, np.cross(b, c)) / 6.0
    return float(v.sum()), (v[:, None] * (a + b + c) / 4.0).sum(0) / v.sum()


def test_label_counts(label_map: np.ndarray) -> None:
    counts = label_counts(label_map)
    assert sorted(counts) == [1, 4, 5, 9, 10, 12, 22]
    assert counts[5] == 9 * 8 * 8


def test_volumes_within_5_percent_after_smoothing(twin: Volume) -> None:
    meshes = extract_surfaces(twin, MeshOptions(smooth_iterations=20, decimate=0.0))
    assert set(meshes) == {1, 4, 5, 9, 10, 12, 22}
    for lid, mesh in meshes.items():
        m = mesh.metrics()
        assert m.triangles > 0
        assert m.volume_ml == pytest.approx(mesh.voxel_volume_ml, rel=0.05), lid


def test_unsmoothed_volume_is_exact(twin: Volume) -> None:
    meshes = extract_surfaces(twin, MeshOptions(smooth_iterations=0))
    for mesh in meshes.values():
        assert mesh.metrics().volume_ml == pytest.approx(mesh.voxel_volume_ml, rel=1e-6)


def test_watertight_and_outward(twin: Volume) -> None:
    meshes = extract_surfaces(twin)
    for lid, mesh in meshes.items():
        # every structure, including the one at the border (the map is padded), is closed
        assert mesh.metrics().boundary_edges == 0, lid
        vol, _ = signed_volume_and_centroid(mesh.polydata)
        assert vol > 0, f"label {lid}: normals point inwards"


def test_shared_boundary_closes_both_sides(twin: Volume) -> None:
    """A shell (4) around a core (22): both meshes are closed; the shell encloses shell + core."""
    meshes = extract_surfaces(twin, MeshOptions(smooth_iterations=0))
    shell, core = meshes[4].metrics(), meshes[22].metrics()
    assert shell.watertight and core.watertight
    assert shell.volume_ml == pytest.approx(meshes[4].voxel_volume_ml, rel=1e-6)


@pytest.mark.parametrize("kind", ["axis_aligned", "flipped", "oblique_flipped"])
def test_sphere_lands_at_its_physical_position(kind: str) -> None:
    shape = (30, 34, 28)
    centre_ijk = np.array([12.0, 19.0, 13.0])
    lab = ball(shape, tuple(centre_ijk), 7).astype(np.uint8) * 3
    if kind == "axis_aligned":
        affine = np.diag([0.7, 0.8, 1.4, 1.0])
        affine[:3, 3] = [-10.0, 20.0, 5.0]
    elif kind == "flipped":
        affine = np.diag([-1.0, 0.9, -1.2, 1.0])
        affine[:3, 3] = [40.0, -5.0, 60.0]
    else:
        affine = oblique_flipped_affine()
    vol = Volume(lab, affine)
    mesh = extract_surfaces(vol)[3]
    expected = affine[:3, :3] @ centre_ijk + affine[:3, 3]
    signed, centroid = signed_volume_and_centroid(mesh.polydata)
    assert signed > 0  # orientation fixed for negative determinants
    np.testing.assert_allclose(centroid, expected, atol=0.05)
    voxel_ml = (lab > 0).sum() * abs(np.linalg.det(affine[:3, :3])) / 1000
    assert mesh.metrics().volume_ml == pytest.approx(voxel_ml, rel=0.05)
    # every point lies on the sphere's surface in mm (within a voxel)
    pts = ns.vtk_to_numpy(mesh.polydata.GetPoints().GetData())
    ijk = np.linalg.solve(affine[:3, :3], (pts - affine[:3, 3]).T).T
    r = np.linalg.norm(ijk - centre_ijk, axis=1)
    assert np.all(np.abs(r - 7) < 1.0)


def test_fortran_and_c_order_give_the_same_mesh(label_map: np.ndarray) -> None:
    affine = oblique_flipped_affine()
    a = extract_surfaces(Volume(np.ascontiguousarray(label_map), affine), label_ids=[5])[5]
    b = extract_surfaces(Volume(np.asfortranarray(label_map), affine), label_ids=[5])[5]
    assert a.triangles == b.triangles
    assert a.metrics().volume_ml == pytest.approx(b.metrics().volume_ml, rel=1e-6)


def test_cache_and_progress(twin: Volume) -> None:
    extractor = SurfaceExtractor(twin)
    steps: list[tuple[int, int]] = []
    first = extractor.extract([1, 5], progress=lambda d, t, _: steps.append((d, t)))
    assert steps[-1] == (3, 3)
    assert extractor.mesh(1) is first[1]  # cached: no re-extraction
    assert extractor.cached(4) is None
    extractor.mesh(4)
    assert extractor.cached(4) is not None
    extractor.set_options(MeshOptions(smooth_iterations=5))
    assert extractor.cached(1) is None


def test_decimation_reduces_triangles(twin: Volume) -> None:
    full = extract_surfaces(twin, label_ids=[4])[4]
    half = extract_surfaces(twin, MeshOptions(decimate=0.5), label_ids=[4])[4]
    assert half.triangles < 0.6 * full.triangles
    assert half.metrics().volume_ml == pytest.approx(full.metrics().volume_ml, rel=0.05)


def test_normals_present(twin: Volume) -> None:
    mesh = extract_surfaces(twin, label_ids=[1])[1]
    assert mesh.polydata.GetPointData().GetNormals() is not None
    assert mesh_metrics(mesh.polydata).triangles == mesh.triangles


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="integers"):
        SurfaceExtractor(Volume(np.zeros((4, 4, 4), np.float32)))
    with pytest.raises(ValueError, match="not in the label map"):
        SurfaceExtractor(Volume(np.ones((4, 4, 4), np.uint8))).extract([7])
    with pytest.raises(ValueError, match="decimate"):
        MeshOptions(decimate=1.0)


def test_edge_contact_stays_watertight() -> None:
    """Two cubes of one label touching only along a voxel edge (SurfaceNets duplicates the
    shared points there): the smoothed mesh has no boundary edges."""
    lab = np.zeros((16, 16, 12), np.uint8)
    lab[3:8, 3:8, 3:9] = 2
    lab[8:13, 8:13, 3:9] = 2  # meets the first cube along one edge
    lab[8:10, 3:5, 3:5] = 2  # and a corner contact
    mesh = extract_surfaces(Volume(lab), MeshOptions(smooth_iterations=20))[2]
    metrics = mesh.metrics()
    assert metrics.boundary_edges == 0
    assert metrics.nonmanifold_edges > 0  # the edge contact is kept, as non-manifold edges
    assert metrics.volume_ml == pytest.approx(mesh.voxel_volume_ml, rel=0.05)


def test_thin_structure_keeps_its_volume() -> None:
    """A disc two voxels thick (like a TMJ disc at 1.5 mm) still encloses its voxel volume."""
    lab = np.zeros((24, 24, 12), np.uint8)
    i, j = np.ogrid[:24, :24]
    lab[:, :, 5:7] = (((i - 12) ** 2 + (j - 12) ** 2) < 25)[:, :, None] * 3
    mesh = extract_surfaces(Volume.from_spacing(lab, (1.5, 1.5, 1.5)))[3]
    assert mesh.metrics().volume_ml == pytest.approx(mesh.voxel_volume_ml, rel=0.02)
    assert mesh.metrics().boundary_edges == 0


def test_printable_meshes_are_closed_2_manifolds(twin, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Every structure of the synthetic map — including the shell, the rod and the thin slab —
    meshed for printing: 0 non-manifold and 0 open edges, read back watertight by trimesh,
    enclosed volume within 5 % of the voxels."""
    import trimesh

    from headtwin_app.render.export import export_meshes
    from headtwin_app.render.mesh import extract_printable

    meshes = extract_printable(twin)
    for sm in meshes.values():
        m = sm.metrics()
        assert m.nonmanifold_edges == 0 and m.boundary_edges == 0, sm.label_id
        assert abs(m.volume_ml / sm.voxel_volume_ml - 1) < 0.05, sm.label_id
    for path in export_meshes(meshes, tmp_path, "stl"):
        assert trimesh.load(str(path)).is_watertight, path.name
