"""`headtwin segment | fuse | dice | train-seg`: the segmentation engine from the command line."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from headtwin_app.cli.args import POSITIVE_INT, SEED, float_in
from headtwin_app.cli.output import emit

LABEL_SUFFIXES = (".nii.gz", ".nii", ".mha", ".nrrd")


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("segment", help="label an image with a segmentation backend")
    s.add_argument("--image", required=True, help="image file (NIfTI, MHA/NRRD, DICOM, ...)")
    s.add_argument("--out", required=True,
                   help="label map file; for --backend atlas also a folder for the brain layers")
    s.add_argument("--backend", default="builtin", choices=("builtin", "nnunet", "atlas"),
                   help="builtin (default), nnunet or atlas")
    s.add_argument("--model", help="weights (builtin) or trained nnU-Net model folder (nnunet)")
    s.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    s.add_argument("--no-refine", action="store_true",
                   help="builtin: coarse 2 mm stage only (skip MODEL.refine.pt, ~6x faster)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=run_segment)

    f = sub.add_parser("fuse", help="fuse a craniofacial/CNS map and brain layers into one twin")
    f.add_argument("--craniofacial", required=True, help="label map with ids 1-12")
    f.add_argument("--brain-dir", required=True,
                   help="folder with brain_tissue/brain_regions/brain_hemispheres[/brain_mask]"
                        ".nii.gz")
    f.add_argument("--out", required=True, help="twin .nii.gz (layers + .json sidecar beside)")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=run_fuse)

    d = sub.add_parser("dice", help="Dice per label name and the mean over reference labels")
    d.add_argument("--reference", required=True)
    d.add_argument("--prediction", required=True)
    d.add_argument("--allow-unknown-labels", action="store_true",
                   help="score ids that are not in the label table too")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=run_dice)

    t = sub.add_parser("train-seg", help="train a segmentation backend on a folder of cases")
    t.add_argument("--backend", default="builtin", choices=("builtin", "nnunet"),
                   help="builtin (default) or nnunet")
    t.add_argument("--cases", required=True,
                   help="folder of case folders (image.nii.gz + labels.nii.gz each)")
    t.add_argument("--out", required=True,
                   help="weights file (builtin) or nnU-Net project folder (nnunet)")
    t.add_argument("--iterations", type=POSITIVE_INT, help="builtin: training iterations; nnunet: "
                                                  "iterations per epoch")
    t.add_argument("--epochs", type=POSITIVE_INT, help="nnunet: epochs")
    t.add_argument("--minutes", type=float_in(0.0, 1e5, lo_open=True),
                   help="builtin: stop after this many minutes")
    t.add_argument("--seed", type=SEED, default=0)
    t.add_argument("--lr", type=float_in(0.0, 10.0, lo_open=True),
                   help="builtin: peak learning rate; nnunet: initial one")
    t.add_argument("--trainer", default="short",
                   help="nnunet: short (default; AdamW, set --epochs/--iterations), "
                        "nnUNetTrainer (nnU-Net's 1000 epochs) or package.module:ClassName")
    t.add_argument("--fold", default="all", choices=("all", "0", "1", "2", "3", "4"),
                   help="nnunet: all (default) or 0-4")
    t.add_argument("--configuration", default="3d_fullres",
                   help="nnunet: 3d_fullres (default), 2d or 3d_lowres")
    t.add_argument("--init-from", help="builtin: continue from this checkpoint")
    t.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast on CPU (about 3x faster on CPUs with AVX512-BF16; "
                        "nnunet: its short trainer)")
    t.add_argument("--refine", action="store_true",
                   help="builtin: train the 1 mm fine stage behind --model (save it as "
                        "MODEL.refine.pt for `segment` to use it)")
    t.add_argument("--model", help="builtin --refine: the coarse weights (default: shipped)")
    t.add_argument("--spacing", type=float_in(0.25, 8.0),
                   help="builtin: working grid in mm (default 2; with --refine 1)")
    t.add_argument("--randomise", type=float_in(0.0, 1.0), metavar="P",
                   help="builtin: share of training patches (with --refine: of cases) imaged in "
                        "a random contrast from the cases' tissue_classes.nii.gz (domain "
                        "randomisation, default 0)")
    t.add_argument("--strip", type=float_in(0.0, 1.0), metavar="P",
                   help="builtin: share of the random-contrast images made skull-stripped "
                        "(brain and cord only, as brain-masked scans are; default 0)")
    t.add_argument("--renders", type=POSITIVE_INT, metavar="N",
                   help="builtin --refine: images made of each case (default 1)")
    t.add_argument("--focus", type=POSITIVE_INT, metavar="LABEL",
                   help="builtin --refine: centre a share --focus-share of the patches on this "
                        "label (e.g. 3, the thin TMJ discs)")
    t.add_argument("--focus-share", type=float_in(0.0, 1.0), metavar="P", default=0.25,
                   help="builtin --refine --focus: that share (default 0.25)")
    t.add_argument("--batch", type=POSITIVE_INT, help="builtin: patches per step (default 2)")
    t.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=run_train)


def _labels_present(data: np.ndarray) -> dict[str, int]:
    from headtwin_app.core.labels import default_label_table

    table = default_label_table()
    ids, counts = np.unique(np.asarray(data), return_counts=True)
    return {table.name_of(int(i)): int(n) for i, n in zip(ids, counts, strict=True) if i > 0}


def run_segment(args: argparse.Namespace) -> int:
    from headtwin_app.core.atomic import check_writable, refuse_inputs
    from headtwin_app.core.io import load_volume, save_volume
    from headtwin_app.core.io.grid import to_source_grid
    from headtwin_app.core.seg import get_backend

    out = Path(args.out)
    atlas = args.backend == "atlas"
    is_file = out.name.endswith(LABEL_SUFFIXES)
    if not atlas and not is_file:
        raise ValueError(f"{out}: write the label map as {', '.join(LABEL_SUFFIXES)}")
    brain_dir = None
    if atlas:
        from headtwin_app.core.seg.fusion import BRAIN_FILES

        brain_dir = out.with_name(out.name.split(".")[0] + "_brain") if is_file else out
        outputs = [brain_dir / f"{stem}.nii.gz" for stem in BRAIN_FILES.values()]
        refuse_inputs([out if is_file else None, *outputs], [args.image])
        check_writable(brain_dir, folder=True)
    else:
        refuse_inputs([out], [args.image, args.model])
    if is_file:
        check_writable(out)
    extra = {"refine": False} if args.no_refine and args.backend == "builtin" else {}
    backend = get_backend(args.backend, model=args.model, device=args.device, **extra)
    image = load_volume(args.image)
    if min(image.shape) < 2:
        raise ValueError(f"{args.image}: a 2D image (shape {image.shape}); segmentation needs a "
                         "3D head volume")
    data = image.data
    if not data.max() > data.min():
        raise ValueError(f"{args.image}: the image is constant (every voxel is {data.min():g}); "
                         "there is nothing to segment")
    t0 = time.perf_counter()
    result: dict = {"backend": backend.name, "image": args.image}
    if atlas:
        layers = backend.predict_layers(image)  # type: ignore[attr-defined]
        seconds = time.perf_counter() - t0
        for name, vol in layers.as_dict().items():
            save_volume(to_source_grid(vol, image),
                        brain_dir / f"{BRAIN_FILES[name]}.nii.gz")  # type: ignore[operator]
        labels = layers.tissue
        if is_file:
            save_volume(to_source_grid(labels, image), out)
        result["brain_dir"] = str(brain_dir)
    else:
        labels = backend.predict(image)
        seconds = time.perf_counter() - t0
        save_volume(to_source_grid(labels, image), out)
    result.update({"out": str(out), "seconds": round(seconds, 2), "shape": list(labels.shape),
                   "labels": _labels_present(labels.data)})
    if args.json and not atlas:  # the craniofacial/CNS map: does it look like a head?
        from headtwin_app.core.seg.plausibility import check_plausibility

        report = check_plausibility(labels)
        result.update({"plausibility_verdict": report.verdict(),
                       "plausibility": report.to_json()})
    emit(result, args.json)
    return 0


def run_fuse(args: argparse.Namespace) -> int:
    from headtwin_app.core.atomic import check_writable, refuse_inputs
    from headtwin_app.core.io import load_volume
    from headtwin_app.core.io.grid import to_source_grid
    from headtwin_app.core.seg.fusion import (
        BRAIN_FILES,
        FusedTwin,
        fuse_twin,
        load_brain_dir,
        save_twin,
        twin_paths,
    )

    brain_files = [Path(args.brain_dir) / f"{stem}.nii.gz" for stem in BRAIN_FILES.values()]
    planned = twin_paths(args.out, ["regions", "hemispheres"])
    refuse_inputs(planned.values(), [args.craniofacial, *brain_files])
    check_writable(args.out)
    craniofacial = load_volume(args.craniofacial)
    fused = fuse_twin(craniofacial, load_brain_dir(args.brain_dir))
    # fused in RAS, written in the craniofacial file's own grid (overlays it voxel for voxel)
    on_file = FusedTwin(to_source_grid(fused.twin, craniofacial),
                        {name: to_source_grid(vol, craniofacial)
                         for name, vol in fused.layers.items()}, fused.report)
    written = save_twin(on_file, args.out)
    emit({"out": str(written["twin"]), "files": {k: str(v) for k, v in written.items()},
          "labels": _labels_present(fused.twin.data), **fused.report}, args.json)
    return 0


def run_dice(args: argparse.Namespace) -> int:
    from headtwin_app.core.labelmap import check_same_grid, load_label_map
    from headtwin_app.core.seg.evaluate import dice_report

    ref = load_label_map(args.reference, args.allow_unknown_labels)
    pred = load_label_map(args.prediction, args.allow_unknown_labels)
    check_same_grid(ref, pred, f"the reference {args.reference}", args.prediction)
    emit(dice_report(ref.data, pred.data), args.json)
    return 0


def run_train(args: argparse.Namespace) -> int:
    from headtwin_app.core.atomic import check_writable, refuse_inputs
    from headtwin_app.core.seg import get_backend, load_training_cases

    if args.refine and args.backend != "builtin":
        raise ValueError("--refine trains the built-in model's fine stage (use --backend builtin)")
    builtin = args.backend == "builtin"
    if builtin and not args.out.endswith(".pt"):
        raise ValueError(f"--out {args.out}: the built-in model's weights file must end in .pt")
    refuse_inputs([args.out], [args.cases, args.init_from, args.model])
    check_writable(args.out, folder=not builtin)  # before training, not after it
    if builtin and args.init_from:
        from headtwin_app.core.seg.fit import read_checkpoint

        read_checkpoint(Path(args.init_from), "built-in segmentation checkpoint")
    cases = load_training_cases(args.cases)
    extra: dict = {}
    if args.backend == "nnunet":
        extra = {"bf16": bool(args.bf16), "trainer": args.trainer, "fold": args.fold,
                 "configuration": args.configuration}
    model = args.model if args.refine else None
    backend = get_backend(args.backend, model=model, device=args.device, **extra)
    options: dict = {"seed": args.seed}
    if args.iterations:
        options["iterations"] = args.iterations
    if args.backend == "builtin":
        if args.minutes:
            options["time_limit_s"] = 60.0 * args.minutes
        if args.lr:
            options["lr"] = args.lr
        if args.init_from:
            options["init_from"] = args.init_from
        if args.bf16:
            options["bf16"] = True
        if args.spacing:
            options["spacing_mm"] = args.spacing
        if args.randomise:
            if not any(c.tissue is not None for c in cases):
                raise ValueError(f"--randomise needs tissue_classes.nii.gz in the case folders "
                                 f"of {args.cases} (headtwin phantom writes them)")
            options["randomise"] = args.randomise
        if args.strip:
            if not args.randomise:
                raise ValueError("--strip applies to the random-contrast images: set --randomise")
            options["strip"] = args.strip
        if args.renders or args.focus:
            if not args.refine:
                raise ValueError("--renders and --focus are for the fine stage (--refine)")
            if args.renders:
                options["renders"] = args.renders
            if args.focus:
                options["focus"], options["focus_share"] = args.focus, args.focus_share
        if args.batch:
            options["batch"] = args.batch
    elif args.randomise or args.strip or args.renders or args.batch or args.focus:
        raise ValueError("--randomise, --strip, --renders, --focus and --batch are for the "
                         "built-in model (--backend builtin)")
    if args.backend == "nnunet":
        if args.epochs:
            options["epochs"] = args.epochs
        if args.lr:
            options["lr"] = args.lr
    t0 = time.perf_counter()
    last = None
    run = backend.train_refiner if args.refine else backend.train  # type: ignore[attr-defined]
    for p in run(cases, args.out, **options):
        last = p
        extra = " ".join(f"{k}={v:.4g}" for k, v in p.metrics.items())
        print(f"[{p.stage} {100 * p.fraction:5.1f}%] {p.message} {extra}", file=sys.stderr,
              flush=True)
    emit({"backend": args.backend, "out": args.out, "cases": len(cases),
          "seconds": round(time.perf_counter() - t0, 1),
          "final": dict(last.metrics) if last else {}}, args.json)
    return 0
