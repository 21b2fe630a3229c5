"""`headtwin pipeline` and `headtwin twin-sweep`: undersampled k-space to the twin in one command.

Both run `core.pipeline`'s stages (the GUI runs the same ones); meshes come from the render
layer. Progress goes to stderr as `[stage  42.0%] message`, results to stdout (`--json`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from headtwin_app.cli.args import ACCEL, SEED, int_in
from headtwin_app.cli.output import dumps, emit

METHODS = ("zf", "cs", "cascade")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="cascade weights (default: the shipped model)")
    p.add_argument("--seg-model", help="built-in segmentation weights (default: shipped)")
    p.add_argument("--no-refine", action="store_true",
                   help="built-in model's coarse 2 mm stage only (skip the 1 mm fine stage)")
    p.add_argument("--no-brain", action="store_true",
                   help="skip the atlas brain layers (the twin is the craniofacial/CNS map)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="torch device for the cascade and the segmentation (default auto: the "
                        "GPU when there is one)")
    p.add_argument("--scheduler", help="Dask scheduler address (tcp://host:8786) for a running "
                                       "cluster; 'serial' runs in this process; default: an "
                                       "in-process local cluster")
    p.add_argument("--workers", type=int_in(1, 64), default=2,
                   help="local cluster workers (default 2)")
    p.add_argument("--json", action="store_true", help="print JSON")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pipeline", help="undersample → reconstruct → segment → fuse → meshes")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--image", help="fully sampled image to undersample")
    src.add_argument("--kspace", help="fastMRI-style single-coil HDF5 k-space")
    src.add_argument("--cases", help="folder of case folders (image.nii.gz each; their own "
                                     "labels.nii.gz and brain layers are the reference)")
    p.add_argument("--mask", help="mask family (needed with --image/--cases; with --kspace "
                                  "applied on top of the acquired pattern)")
    p.add_argument("--accel", type=ACCEL, default=4.0, help="acceleration R (default 4)")
    p.add_argument("--seed", type=SEED, default=0, help="mask seed (default 0)")
    p.add_argument("--method", choices=METHODS, default="cascade",
                   help="reconstruction: zf (zero-filled), cs (sigpy L1-wavelet) or cascade "
                        "(default)")
    p.add_argument("--reference", help="truth label map, or a case folder (labels + brain "
                                       "layers, fused as the app fuses)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--mesh-format", default="stl", choices=("stl", "obj", "ply", "glb", "none"),
                   help="meshes/ format (default stl, LPS mm as 3D Slicer reads it)")
    _common(p)
    p.set_defaults(func=run_pipeline)

    w = sub.add_parser("twin-sweep", help="what each acceleration does to the twin")
    w.add_argument("--image", required=True, help="fully sampled image")
    w.add_argument("--reference", required=True, help="truth label map or case folder")
    w.add_argument("--masks", default="cartesian,radial,random_line",
                   help="comma-separated families (default cartesian,radial,random_line)")
    w.add_argument("--accels", default="2,4,8", help="comma-separated R (default 2,4,8)")
    w.add_argument("--methods", default="zf,cs,cascade", help="comma-separated methods")
    w.add_argument("--seed", type=SEED, default=0)
    w.add_argument("--out", required=True, help="folder for sweep.json, sweep.csv and plots")
    _common(w)
    w.set_defaults(func=run_twin_sweep)


def _progress(gen: Any) -> Any:
    """Drive a stage generator, printing its progress to stderr (a line repeated word for word,
    such as a cohort's heartbeat while items run, once); return its value."""
    last = ""
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        line = f"[{p.stage:<8} {100 * p.fraction:5.1f}%] {p.message}"
        if line != last:
            print(line, file=sys.stderr, flush=True)
        last = line


def _config(args: argparse.Namespace, **extra: Any) -> Any:
    from headtwin_app.core.device import resolve_device
    from headtwin_app.core.pipeline import PipelineConfig

    return PipelineConfig(model=args.model, seg_model=args.seg_model, refine=not args.no_refine,
                          brain=not args.no_brain, device=str(resolve_device(args.device)),
                          seed=args.seed, **extra)


def _mesher(out: Path, fmt: str) -> Any:
    """Surfaces of the twin into out/meshes (render layer), reported as files + seconds."""
    if fmt == "none":
        return None

    def mesh(twin: Any) -> dict[str, Any]:
        from headtwin_app.render.export import export_meshes
        from headtwin_app.render.mesh import SurfaceExtractor

        meshes = SurfaceExtractor(twin).extract()
        files = export_meshes(meshes, out / "meshes", fmt, source=twin)
        return {"folder": str(out / "meshes"), "format": fmt, "files": len(files)}

    return mesh


def _pipeline_one(job: tuple[Path, Path | None, Path, Any, str]) -> dict[str, Any]:
    """Run and save one case: (image or k-space file, reference, out folder, config, format)."""
    from headtwin_app.core.atomic import atomic_write_text, check_writable
    from headtwin_app.core.io import load_volume
    from headtwin_app.core.pipeline import iter_pipeline, save_result
    from headtwin_app.core.twin_score import load_reference

    source_file, ref_file, out, cfg, fmt = job
    check_writable(out, folder=True)
    source = load_volume(source_file)
    reference = load_reference(ref_file) if ref_file else None
    if reference is not None:
        from headtwin_app.core.labelmap import check_same_grid

        check_same_grid(source, reference, str(source_file), f"the reference {ref_file}")
    result = _progress(iter_pipeline(source, cfg, reference, _mesher(out, fmt)))
    files = save_result(result, out, source)
    report = {"input": str(source_file), "reference": str(ref_file) if ref_file else None,
              **result.report, "files": {k: p.name for k, p in files.items()}}
    atomic_write_text(out / "report.json", dumps(report) + "\n")
    return report


def run_pipeline(args: argparse.Namespace) -> int:
    from headtwin_app.core.atomic import check_writable, refuse_inputs
    from headtwin_app.core.masks import get_family

    if (args.image or args.cases) and not args.mask:
        raise ValueError("--mask FAMILY is needed with --image or --cases")
    if args.mask:
        get_family(args.mask)
    if args.method != "cascade" and args.model:
        raise ValueError("--model only applies to --method cascade")
    out = Path(args.out)
    refuse_inputs([out], [args.image, args.kspace, args.cases, args.reference])
    check_writable(out, folder=True)
    cfg = _config(args, family=args.mask, accel=args.accel, method=args.method)
    if not args.cases:
        source = Path(args.image or args.kspace)
        ref = Path(args.reference) if args.reference else None
        report = _pipeline_one((source, ref, out, cfg, args.mesh_format))
        emit(report if args.json else _summary(report, out), args.json)
        return 0
    return _pipeline_cohort(args, cfg, out)


def _pipeline_cohort(args: argparse.Namespace, cfg: Any, out: Path) -> int:
    from headtwin_app.core.atomic import atomic_write_text
    from headtwin_app.core.cohort import iter_map

    folder = Path(args.cases)
    if not folder.is_dir():
        raise ValueError(f"--cases {folder}: not a folder")
    cases = sorted(d for d in folder.iterdir() if (d / "image.nii.gz").is_file())
    if not cases:
        raise ValueError(f"--cases {folder}: no case folders with an image.nii.gz")
    jobs = [(d / "image.nii.gz", d if (d / "labels.nii.gz").exists() else None, out / d.name,
             cfg, args.mesh_format) for d in cases]
    reports = _progress(iter_map(_pipeline_one, jobs, args.scheduler, args.workers, "case"))
    summary = {"cases": [{"case": d.name, "out": str(out / d.name),
                          "seconds": r["seconds"]["total"],
                          "mean_dice": (r.get("twin") or {}).get("mean_dice")}
                         for d, r in zip(cases, reports, strict=True)],
               "scheduler": args.scheduler or "local dask cluster"}
    atomic_write_text(out / "cohort.json", json.dumps(summary, indent=1) + "\n")
    emit(summary, args.json)
    return 0


def _summary(report: dict[str, Any], out: Path) -> dict[str, Any]:
    s = {"out": str(out), "report": str(out / "report.json"),
         "seconds": report["seconds"]["total"], "accel_achieved": report["accel_achieved"]}
    if "image" in report:
        s.update(psnr=report["image"]["psnr"], ssim=report["image"]["ssim"])
    if "twin" in report:
        s.update({k: report["twin"][k] for k in ("mean_dice", "mean_hd95_mm", "mean_assd_mm")})
    return s


def _list(text: str, what: str, kind: Any = str) -> list[Any]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ValueError(f"--{what} names nothing (got '{text}')")
    try:
        return [kind(t) for t in items]
    except ValueError:
        raise ValueError(f"--{what} {text}: not a comma-separated list of numbers") from None


def _accel(text: str) -> float:
    try:
        return float(ACCEL(text))
    except argparse.ArgumentTypeError as exc:
        raise ValueError(f"--accels: {exc}") from None


def run_twin_sweep(args: argparse.Namespace) -> int:
    from headtwin_app.core.atomic import atomic_write_text, check_writable, refuse_inputs
    from headtwin_app.core.io import load_volume
    from headtwin_app.core.labelmap import check_same_grid
    from headtwin_app.core.twin_score import load_reference
    from headtwin_app.core.twin_sweep import iter_twin_sweep
    from headtwin_app.core.twin_sweep_report import plot_dice, plot_heatmap, write_csv

    families = _list(args.masks, "masks")
    accels = [_accel(a) for a in _list(args.accels, "accels")]
    methods = _list(args.methods, "methods")
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"--methods: unknown {', '.join(bad)} (choose from {', '.join(METHODS)})")
    out = Path(args.out)
    refuse_inputs([out], [args.image, args.reference])
    check_writable(out, folder=True)
    image = load_volume(args.image)
    reference = load_reference(args.reference)
    check_same_grid(image, reference, args.image, f"the reference {args.reference}")
    result = _progress(iter_twin_sweep(image, reference, families, accels, methods,
                                       _config(args), args.scheduler, args.workers))
    result.update(image=args.image, reference=args.reference, seed=args.seed)
    atomic_write_text(out / "sweep.json", dumps(result) + "\n")
    write_csv(result["rows"], out / "sweep.csv")
    plot_dice(result, out / "dice_vs_r.png")
    plot_heatmap(result, out / "structure_heatmap.png")
    if args.json:
        emit(result, True)
    else:
        print(f"fully sampled twin: mean Dice {result['full']['mean_dice']}")
        for r in result["rows"]:
            if r["error"]:
                print(f"{r['family']:<12} R {r['accel']:>4g} {r['method']:<8} {r['error']}")
                continue
            t = r["vs_truth"]
            print(f"{r['family']:<12} R {r['accel']:>4g} {r['method']:<8} PSNR {r['psnr']:6.2f} "
                  f"Dice {t['mean_dice']:.4f} HD95 {t['mean_hd95_mm']:.2f} mm "
                  f"(vs full {r['vs_full']['mean_dice']:.4f})")
        print(f"files: {out / 'sweep.csv'}, {out / 'dice_vs_r.png'}, "
              f"{out / 'structure_heatmap.png'}")
    return 0
