"""`headtwin mesh` and `headtwin render`: label map → structure meshes / an offscreen PNG."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from headtwin_app.cli.args import float_in, int_in
from headtwin_app.cli.output import emit

MIN_SIZE, MAX_SIZE = 16, 8192  # pixels per side of a rendered picture

VIEW_CHOICES = ("anterior", "lateral", "superior", "posterior", "right", "inferior")


def register(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser("mesh", help="mesh every structure of a label map and export the meshes")
    m.add_argument("--labels", required=True, help="label map (NIfTI, MHA/NRRD, .npy ...)")
    m.add_argument("--out", required=True, help="output folder")
    m.add_argument("--format", default="stl", choices=("stl", "obj", "ply", "gltf", "glb", "3mf"),
                   help="stl/obj/ply/3mf: millimetres in --space; gltf/glb: glTF 2.0 as the "
                        "format defines it (metres, +Y superior)")
    m.add_argument("--space", default="LPS", choices=("LPS", "RAS"),
                   help="coordinate system of stl/obj/ply/3mf, written into the file (default "
                        "LPS, as 3D Slicer and ITK read untagged meshes)")
    m.add_argument("--smooth", type=int_in(0, 1000), default=None, metavar="N",
                   help="windowed-sinc smoothing iterations (0: none; default 25)")
    m.add_argument("--decimate", type=float_in(0.0, 0.99), default=0.0, metavar="F",
                   help="fraction of triangles to remove, 0 to 0.99 (default 0)")
    m.add_argument("--single-file", action="store_true",
                   help="one scene file (twin.<format>) instead of one file per structure")
    m.add_argument("--allow-unknown-labels", action="store_true",
                   help="mesh ids that are not in the label table too")
    m.add_argument("--printable", action="store_true",
                   help="mesh each structure on its own as a closed 2-manifold (for 3D "
                        "printing; neighbours no longer share a surface)")
    m.add_argument("--check", action="store_true",
                   help="print-readiness report per structure: manifold, watertight, volume "
                        "vs voxels, wall thickness vs --printer-resolution")
    m.add_argument("--printer-resolution", type=float_in(0.0, 10.0, lo_open=True),
                   default=0.4, metavar="MM", help="smallest printable wall (default 0.4 mm)")
    m.add_argument("--json", action="store_true", help="print JSON")
    m.set_defaults(func=run_mesh)

    r = sub.add_parser("render", help="render the head twin of a label map to a PNG (offscreen)")
    r.add_argument("--labels", required=True, help="label map")
    r.add_argument("--out", required=True, help="picture file: .png or .jpg")
    r.add_argument("--view", default="anterior", choices=VIEW_CHOICES)
    r.add_argument("--image", help="image on the same grid: adds the three slice planes")
    r.add_argument("--size", type=int_in(MIN_SIZE, MAX_SIZE), nargs=2, default=(900, 900),
                   metavar=("W", "H"), help=f"picture size in pixels ({MIN_SIZE} to {MAX_SIZE})")
    r.add_argument("--allow-unknown-labels", action="store_true",
                   help="render ids that are not in the label table too")
    r.add_argument("--json", action="store_true", help="print JSON")
    r.set_defaults(func=run_render)


def run_mesh(args: argparse.Namespace) -> int:
    from headtwin_app.core.atomic import check_writable
    from headtwin_app.core.labelmap import load_label_map
    from headtwin_app.core.labels import default_label_table
    from headtwin_app.render.export import SIDECAR, export_meshes
    from headtwin_app.render.mesh import MeshOptions, SurfaceExtractor, extract_printable

    labels = load_label_map(args.labels, args.allow_unknown_labels)
    check_writable(args.out, folder=True)
    options = MeshOptions(decimate=args.decimate) if args.smooth is None else MeshOptions(
        smooth_iterations=args.smooth, decimate=args.decimate)
    extractor = SurfaceExtractor(labels, options)
    if not extractor.label_ids:
        raise ValueError(f"{args.labels}: the label map has no structures (all voxels are 0)")
    t0 = time.perf_counter()
    meshes = extract_printable(labels, options) if args.printable else extractor.extract()
    mesh_seconds = time.perf_counter() - t0
    paths = export_meshes(meshes, args.out, args.format, args.single_file, space=args.space,
                          source=labels, options={"smooth_iterations": options.smooth_iterations,
                                                  "decimate": options.decimate})
    table = default_label_table()
    structures = []
    for lid, sm in meshes.items():
        metrics = sm.metrics()
        structures.append({
            "id": lid,
            "name": table.name_of(lid),
            "triangles": metrics.triangles,
            "area_mm2": round(metrics.area_mm2, 2),
            "volume_ml": round(metrics.volume_ml, 4),
            "voxel_volume_ml": round(sm.voxel_volume_ml, 4),
            "boundary_edges": metrics.boundary_edges,
            "seconds": round(sm.seconds, 4),
        })
    result: dict = {
        "labels": args.labels,
        "format": args.format,
        "space": "glTF (metres, +Y superior)" if args.format in ("gltf", "glb") else args.space,
        "files": [str(p) for p in paths],
        "sidecar": str(Path(args.out) / SIDECAR),
        "mesh_seconds": round(mesh_seconds, 4),
        "structures": structures,
    }
    if args.check:
        from headtwin_app.render.print_check import print_report

        result["print_check"] = print_report(labels, meshes, args.printer_resolution)
    if args.json:
        emit(result, True)
    else:
        emit({k: v for k, v in result.items() if k not in ("structures", "print_check")},
             False)
        for s in structures:
            print(f"{s['id']:4d} {s['name']:<28} {s['triangles']:8d} tri "
                  f"{s['area_mm2']:10.1f} mm² {s['volume_ml']:9.3f} ml")
        for row in result.get("print_check", []):
            verdict = "printable" if row["printable"] else "; ".join(row["problems"])
            print(f"{row['id']:4d} {row['name']:<28} walls ≥ {row['wall_thickness']['min_mm']} "
                  f"mm, volume {row['volume_error_pct']:+.2f} %: {verdict}")
    return 0


def run_render(args: argparse.Namespace) -> int:
    from headtwin_app.core.atomic import check_writable, refuse_inputs
    from headtwin_app.core.io import load_volume
    from headtwin_app.core.labelmap import check_same_grid, load_label_map
    from headtwin_app.render.mesh import SurfaceExtractor
    from headtwin_app.render.offscreen import (
        check_picture_suffix,
        render_to_array,
        save_picture,
        window_class_name,
    )
    from headtwin_app.render.scene import TwinScene

    check_picture_suffix(args.out)
    refuse_inputs([args.out], [args.labels, args.image])
    labels = load_label_map(args.labels, args.allow_unknown_labels)
    image = load_volume(args.image) if args.image else None
    if image is not None:
        check_same_grid(labels, image, f"the label map {args.labels}", args.image)
    check_writable(args.out)
    extractor = SurfaceExtractor(labels)
    if not extractor.label_ids:
        raise ValueError(f"{args.labels}: the label map has no structures (all voxels are 0)")
    scene = TwinScene()
    scene.add_meshes(extractor.extract())
    if image is not None:
        scene.set_image(image)
        scene.show_slices(True)
    scene.set_view(args.view)
    t0 = time.perf_counter()
    rgb = render_to_array(scene.renderers(), tuple(args.size))  # type: ignore[arg-type]
    seconds = time.perf_counter() - t0
    out = save_picture(rgb, args.out)
    emit({"out": str(out), "view": args.view, "size": list(rgb.shape[1::-1]),
          "structures": len(scene.label_ids()), "render_seconds": round(seconds, 3),
          "window": window_class_name()}, args.json)
    return 0
