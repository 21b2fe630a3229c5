"""Print-readiness of structure meshes: closed 2-manifold, enclosed volume against the voxels,
wall thickness against the printer's resolution (`headtwin mesh --check`, the twin workspace)."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from headtwin_app.core.labels import LabelTable, default_label_table
from headtwin_app.core.thickness import wall_thickness
from headtwin_app.core.volume import Volume
from headtwin_app.render.mesh import StructureMesh

VOLUME_TOLERANCE_PCT = 5.0


def print_report(labels: Volume, meshes: Mapping[int, StructureMesh], resolution_mm: float,
                 table: LabelTable | None = None) -> list[dict[str, Any]]:
    """One row per structure: manifold (non-manifold edges), watertight (boundary edges),
    enclosed vs voxel volume, wall thickness, and whether all of it passes."""
    if not resolution_mm > 0:
        raise ValueError(f"the printer resolution must be > 0 mm, got {resolution_mm}")
    table = table or default_label_table()
    rows = []
    for lid, mesh in meshes.items():
        m = mesh.metrics()
        error = 100.0 * (m.volume_ml / mesh.voxel_volume_ml - 1.0) if mesh.voxel_volume_ml else 0.0
        wall = wall_thickness(labels.data == lid, labels.spacing)
        problems = []
        if m.nonmanifold_edges:
            problems.append(f"{m.nonmanifold_edges} non-manifold edges")
        if m.boundary_edges:
            problems.append(f"{m.boundary_edges} open edges")
        if abs(error) > VOLUME_TOLERANCE_PCT:
            problems.append(f"volume off by {error:+.1f} %")
        if wall["p5_mm"] < resolution_mm:
            problems.append(f"walls down to {wall['min_mm']} mm (printer {resolution_mm} mm)")
        rows.append({"id": lid, "name": table.name_of(lid), "triangles": m.triangles,
                     "nonmanifold_edges": m.nonmanifold_edges,
                     "boundary_edges": m.boundary_edges, "watertight": m.watertight,
                     "volume_ml": round(m.volume_ml, 3),
                     "voxel_volume_ml": round(mesh.voxel_volume_ml, 3),
                     "volume_error_pct": round(error, 2), "wall_thickness": wall,
                     "printable": not problems, "problems": problems})
    return rows


def iter_print_check(volumes: list[Volume], label_ids: list[int], resolution_mm: float,
                     options: Any = None, table: LabelTable | None = None,
                     ) -> Generator[tuple[int, int], None, list[dict[str, Any]]]:
    """The print check of `label_ids` over the label volumes that hold them, each structure
    meshed for printing first; yields (structures done, total) so a worker can show progress
    and stop between structures; returns the report rows."""
    from headtwin_app.render.mesh import extract_printable, label_counts

    jobs = []
    for vol in volumes:
        present = set(label_counts(vol.data))
        jobs += [(vol, lid) for lid in label_ids if lid in present]
    rows: list[dict[str, Any]] = []
    yield 0, len(jobs)
    for n, (vol, lid) in enumerate(jobs):
        mesh = extract_printable(vol, options, [lid])
        rows += print_report(vol, mesh, resolution_mm, table)
        yield n + 1, len(jobs)
    return rows
