"""Interop (issue 13): mesh export conventions and speed, printability, segmentation round trips.

    python benchmarks/bench_export.py [--repeats 3]

On the built-in sample head (synthetic phantom, seed 0, 1 mm): the 72-structure twin (12
craniofacial/CNS + 3 tissues + 55 regions + 2 hemispheres) is meshed once, then
- exported as one `.glb` with decimation 0.5 (median of repeats: seconds, MB) and its height
  along glTF's +Y read back from the file;
- exported as LPS STLs: each file's bounding box against its structure's voxel box mapped to LPS;
- the 12 craniofacial/CNS structures meshed for printing (`--printable`) and exported as STLs,
  checked with trimesh: watertight (every edge in exactly two faces), non-manifold edges,
  volume against the voxel volume — beside the non-manifold edges of the default meshes;
- the craniofacial labels written as `.seg.nrrd` and as DICOM-SEG (over a DICOM series of the
  image) and read back: ids, names and colours compared.
Writes benchmarks/results/export.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from machine_info import machine_info

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "export.json"
LAYERS = ("labels", "brain_tissue", "brain_regions", "brain_hemispheres")


def main() -> None:
    import trimesh

    from headtwin_app.core.io import load_volume, save_volume
    from headtwin_app.core.labels import default_label_table
    from headtwin_app.core.phantom import sample_case_dir
    from headtwin_app.core.segfile import (
        read_dicom_seg,
        read_seg_nrrd,
        write_dicom_seg,
        write_seg_nrrd,
    )
    from headtwin_app.render.export import export_meshes
    from headtwin_app.render.mesh import SurfaceExtractor, extract_printable

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    case = sample_case_dir()
    result: dict = {"machine": machine_info(trimesh=trimesh.__version__),  # type: ignore[type-arg]
                    "data": "synthetic phantom (built-in sample head, seed 0, 1 mm)"}
    vols = {n: load_volume(case / f"{n}.nii.gz") for n in LAYERS}
    meshes: dict = {}  # type: ignore[type-arg]
    t0 = time.perf_counter()
    for vol in vols.values():
        meshes.update(SurfaceExtractor(vol.with_data(vol.data.astype(np.int16))).extract())
    result["meshing_s"] = round(time.perf_counter() - t0, 2)
    result["structures"] = len(meshes)
    result["triangles"] = int(sum(m.triangles for m in meshes.values()))
    labels = vols["labels"].with_data(vols["labels"].data.astype(np.int16))
    table = default_label_table()

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        times, sizes = [], []
        for k in range(args.repeats):
            t0 = time.perf_counter()
            (glb,) = export_meshes(meshes, tmp / f"glb{k}", "glb", single_file=True, reduce=0.5,
                                   source=labels)
            times.append(time.perf_counter() - t0)
            sizes.append(glb.stat().st_size / 1e6)
        raw = glb.read_bytes()
        doc = json.loads(raw[20:20 + int.from_bytes(raw[12:16], "little")])
        y = [(doc["accessors"][doc["meshes"][n["mesh"]]["primitives"][0]["attributes"]
              ["POSITION"]]) for n in doc["nodes"]]
        height = max(a["max"][1] for a in y) - min(a["min"][1] for a in y)
        result["glb_decimate_0.5"] = {
            "seconds_median": round(statistics.median(times), 2),
            "seconds_all": [round(t, 2) for t in times], "mb": round(statistics.median(sizes), 1),
            "height_along_y_m": round(height, 3),
            "nodes_named": all(n.get("name") for n in doc["nodes"]),
            "triangles": int(sum(doc["accessors"][doc["meshes"][n["mesh"]]["primitives"][0]
                                 ["indices"]]["count"] for n in doc["nodes"]) // 3)}

        t0 = time.perf_counter()
        cf = extract_printable(labels, label_ids=range(1, 13))
        result["printable_meshing_s"] = round(time.perf_counter() - t0, 2)
        export_meshes(cf, tmp / "stl", "stl", source=labels)
        rows = []
        for lid, mesh in cf.items():
            path = next((tmp / "stl").glob(f"{lid}_*.stl"))
            m = trimesh.load(str(path))  # STL stores corners per face: merge them
            ijk = np.argwhere(labels.data == lid)
            corners = np.array([[a, b, c, 1.0]
                                for a in (ijk[:, 0].min() - 0.5, ijk[:, 0].max() + 0.5)
                                for b in (ijk[:, 1].min() - 0.5, ijk[:, 1].max() + 0.5)
                                for c in (ijk[:, 2].min() - 0.5, ijk[:, 2].max() + 0.5)])
            lps = (corners @ labels.affine.T)[:, :3] * np.array([-1, -1, 1])
            box = np.array([lps.min(0), lps.max(0)])
            edges = np.sort(m.edges, axis=1)
            _, counts = np.unique(edges, axis=0, return_counts=True)
            rows.append({"id": lid, "name": table.name_of(lid),
                         "bbox_max_error_mm": round(float(np.abs(m.bounds - box).max()), 3),
                         "watertight": bool(m.is_watertight),
                         "nonmanifold_edges": int((counts > 2).sum()),
                         "boundary_edges": int((counts == 1).sum()),
                         "volume_vs_voxels_pct": round(100 * float(abs(m.volume) / 1000
                                                              / mesh.voxel_volume_ml - 1), 2),
                         "default_mesh_nonmanifold_edges":
                             meshes[lid].metrics().nonmanifold_edges})
        result["stl_lps"] = rows

        seg = write_seg_nrrd(labels, tmp / "twin.seg.nrrd")
        back = read_seg_nrrd(seg)
        result["seg_nrrd_round_trip"] = {
            "voxels_equal": bool(np.array_equal(back.data, labels.data)),
            "affine_max_diff": float(np.abs(back.affine - labels.affine).max())}
        series = save_volume(vols["image"] if "image" in vols else load_volume(
            case / "image.nii.gz"), tmp / "series")
        dseg = write_dicom_seg(labels, series, tmp / "seg.dcm")
        back = read_dicom_seg(dseg)
        import highdicom as hd

        ds = hd.seg.segread(str(dseg))
        names_ok = all(table.by_name(str(s.SegmentLabel)).id in np.unique(labels.data)
                       for s in ds.SegmentSequence)
        colours = [np.abs(np.array(hd.color.CIELabColor.from_dicom_value(
            s.RecommendedDisplayCIELabValue).to_rgb()) - table.by_name(str(s.SegmentLabel)).rgb)
            .max() for s in ds.SegmentSequence]
        result["dicom_seg_round_trip"] = {
            "voxels_equal": bool(np.array_equal(back.data, labels.data)),
            "affine_max_diff": float(np.abs(back.affine - labels.affine).max()),
            "segments": len(ds.SegmentSequence), "names_match_ids": bool(names_ok),
            "colour_max_rgb_error_after_cielab": int(max(colours))}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "stl_lps"}, indent=1))
    for r in result["stl_lps"]:
        print(r)


if __name__ == "__main__":
    main()
