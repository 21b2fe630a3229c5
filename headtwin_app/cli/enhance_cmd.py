"""`headtwin enhance` (all-in-one enhancement at a chosen noise reduction factor; DICOM in →
derived DICOM series out) and `headtwin train-enhance` (train a Context-Enhanced U-Net)."""

from __future__ import annotations

import argparse
from pathlib import Path

from headtwin_app.cli.args import float_in, int_in
from headtwin_app.cli.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "enhance", help="all-in-one enhancement (denoising at a chosen noise reduction factor, "
                        "k-space truncation and partial-Fourier blur) of an image or DICOM series",
        description="PATH may be NIfTI (or another volume format), a DICOM file or a DICOM "
                    "series folder. With DICOM the context (phase direction, sampling, 2D/3D) "
                    "comes from the tags and the output is a derived DICOM series in the folder "
                    "--out (new UIDs, DERIVED\\SECONDARY, geometry and rescale kept); otherwise "
                    "the output is an image in the input's voxel grid.")
    p.add_argument("--image", required=True, metavar="PATH", help="image, DICOM file or folder")
    p.add_argument("--nrf", type=float_in(1.0, 10.0), required=True,
                   help="noise reduction factor: input noise / output noise (1 = keep the noise)")
    p.add_argument("--context", default="auto", metavar="auto|FILE.json",
                   help="auto (from DICOM tags; defaults for other formats) or a JSON file of "
                        "context fields (phase_kmax, freq_kmax, slice_kmax, phase_pf, slice_pf, "
                        "uniform_r, random_r, elliptical, is_3d)")
    p.add_argument("--model", metavar="PATH", help="network weights (default: the shipped "
                                                   "2D or 7-slice model by acquisition type)")
    p.add_argument("--threads", type=int_in(1, 256), default=2, help="torch threads (default 2)")
    p.add_argument("--out", required=True, metavar="PATH",
                   help="output image (non-DICOM input) or a new folder (DICOM input)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_enhance)

    t = sub.add_parser("train-enhance", help="train the all-in-one Context-Enhanced U-Net on "
                                             "simulated degradations of real MR slices")
    t.add_argument("--config", metavar="FILE", help="JSON with training config fields")
    t.add_argument("--out", required=True, metavar="PATH", help="weights to write (.pt)")
    t.add_argument("--max-minutes", type=float_in(0.0, 1e5, lo_open=True),
                   help="override the time budget")
    t.add_argument("--json", action="store_true", help="print JSON")
    t.set_defaults(func=run_train_enhance)

    c = sub.add_parser("calibrate-enhance", help="measure which context NRF delivers each "
                                                 "requested noise reduction and store the table "
                                                 "in the model file")
    c.add_argument("--model", required=True, metavar="PATH", help="2D CE or FiLM weights (.pt), "
                                                                  "rewritten in place")
    c.add_argument("--images", type=int_in(1, 64), default=6,
                   help="validation slices to measure on (default 6)")
    c.add_argument("--seed", type=int_in(0, 2**31 - 1), default=0, help="noise seed")
    c.add_argument("--threads", type=int_in(1, 256), default=2, help="torch threads (default 2)")
    c.add_argument("--json", action="store_true", help="print JSON")
    c.set_defaults(func=run_calibrate_enhance)


def run_enhance(args: argparse.Namespace) -> int:
    import torch

    from headtwin_app.core.atomic import check_writable, refuse_inputs
    from headtwin_app.core.enhance.job import enhance_steps, is_dicom
    from headtwin_app.core.recon.predict import run_to_end

    torch.set_num_threads(args.threads)
    src, out = Path(args.image), Path(args.out)
    if not src.exists():
        raise ValueError(f"{src}: no such file or folder")
    context = None if args.context == "auto" else args.context
    if is_dicom(src):
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ValueError(f"--out {out}: a DICOM input writes a derived series into a new or "
                             "empty folder")
    else:
        from headtwin_app.core.io import check_save_suffix

        check_save_suffix(out)
        refuse_inputs([out], [args.image, args.model, context])
        check_writable(out)
    report = run_to_end(enhance_steps(src, args.nrf, out, context, args.model))
    report["threads"] = args.threads
    emit(report, args.json)
    return 0


def run_train_enhance(args: argparse.Namespace) -> int:
    import json
    from dataclasses import replace

    from headtwin_app.core.atomic import check_writable, refuse_inputs
    from headtwin_app.core.enhance.train import EnhanceTrainConfig, train_enhance

    out = Path(args.out)
    if out.suffix != ".pt":
        raise ValueError(f"--out must end in .pt, got {out}")
    data: dict = {}
    if args.config:
        try:
            data = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read {args.config}: {exc}") from None
    cfg = EnhanceTrainConfig.from_dict(data, args.config or "config")
    if args.max_minutes is not None:
        cfg = replace(cfg, max_minutes=args.max_minutes)
    refuse_inputs([out, out.with_suffix(".train.json")], [args.config])
    check_writable(out)
    log = None if args.json else (lambda line: print(line, flush=True))
    hist = train_enhance(cfg, out, log=log)
    emit({"out": str(out), **{k: hist[k] for k in ("steps", "seconds", "best_val_loss",
                                                    "best_step") if k in hist}}, args.json)
    return 0


def run_calibrate_enhance(args: argparse.Namespace) -> int:
    import torch

    from headtwin_app.core.atomic import check_writable
    from headtwin_app.core.enhance.calibrate import calibrate_file
    from headtwin_app.core.recon.predict import run_to_end

    torch.set_num_threads(args.threads)
    path = Path(args.model)
    check_writable(path)
    log = None if args.json else (lambda p: print(p.message, flush=True))
    table = run_to_end(calibrate_file(path, args.images, args.seed), log)
    emit({"model": str(path), **table}, args.json)
    return 0
