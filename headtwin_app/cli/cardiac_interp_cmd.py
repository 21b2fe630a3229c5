"""`headtwin cardiac-interpolate` (HDL temporal interpolation) and `headtwin train-cardiac`."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from headtwin_app.cli.args import SEED, float_in, int_in
from headtwin_app.cli.output import emit

METRIC_NAMES = {"dice": "Dice", "dice_lv": "Dice_LV", "ssim": "SSIM", "psnr": "PSNR",
                "mse": "MSE", "msew1": "MSEW1", "msew2": "MSEW2"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cardiac-interpolate",
        help="temporally down-sample a cardiac cine K times and interpolate the missing "
             "magnitude frames and LV masks (HDL paper)",
        description="Keep every (K+1)-th frame of the case's magnitude cine and predict the "
                    "others with the multi-head multi-tail R2U-Net (net), linear interpolation "
                    "or Horn-Schunck optical flow (hs); the kept frames' LV masks are used as "
                    "input. Writes magnitude.nii.gz and lv_mask.nii.gz (same layout and affine "
                    "as the case) and case.json with an 'interpolated' section into --out; "
                    "metrics compare the interpolated frames with the case's own frames.")
    p.add_argument("--case", required=True, metavar="DIR",
                   help="case folder (case.json, magnitude.nii.gz, lv_mask.nii.gz)")
    p.add_argument("--k", type=int_in(1, 100), required=True,
                   help="down-sampling factor K: K frames are dropped after each kept one")
    p.add_argument("--out", required=True, metavar="DIR2", help="output case folder")
    p.add_argument("--method", choices=("net", "linear", "hs"), default="net",
                   help="net (default), linear or hs (Horn-Schunck optical flow)")
    p.add_argument("--model", default=None, metavar="PATH",
                   help="interpolation weights (default: the shipped models/cardiac_interp.pt)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_cardiac_interpolate)

    t = sub.add_parser(
        "train-cardiac",
        help="train a cardiac network (interp: temporal interpolation; phase: phase synthesis) "
             "on synthetic phantom subjects",
        description="Train on the case folders inside --cases (each with case.json); without "
                    "--cases, the training phantom subjects (dataset.SEEDS_TRAIN) are generated "
                    "into the cache once and used. Writes the weights to --out and the loss "
                    "curve beside them (<stem>.train.json).")
    t.add_argument("--what", choices=("interp", "phase"), required=True,
                   help="which network to train")
    t.add_argument("--cases", default=None, metavar="DIR",
                   help="folder of case folders (default: generated training subjects)")
    t.add_argument("--val-cases", default=None, metavar="DIR",
                   help="folder of validation case folders (default: the "
                        "validation subjects dataset.SEEDS_VAL, generated once)")
    t.add_argument("--out", required=True, metavar="PATH", help="output weights (.pt)")
    t.add_argument("--minutes", type=float_in(0.0, 24 * 60.0, lo_open=True), default=20.0,
                   help="wall-clock training budget in minutes (default 20)")
    t.add_argument("--seed", type=SEED, default=0, help="random seed (default 0)")
    t.add_argument("--scheme", choices=("fgbg", "vanilla"), default="fgbg",
                   help="phase only: fgbg (the paper's foreground/background scheme, default) "
                        "or vanilla (one generator for every pixel)")
    t.add_argument("--subjects", type=int_in(1, 100), default=None, metavar="N",
                   help="without --cases: generate and train on N phantom subjects "
                        "(seeds 1000…1000+N−1; default 16, dataset.SEEDS_TRAIN)")
    t.add_argument("--myo-weight", type=float_in(1.0, 1000.0), default=1.0, metavar="W",
                   help="phase only: L1 weight of myocardium pixels (default 1, the paper's "
                        "plain L1)")
    t.add_argument("--augment", action="store_true",
                   help="phase only: random 90-degree rotations with the in-plane velocity "
                        "components rotated to match")
    t.add_argument("--frame-offsets", type=int, nargs="+", default=[-1, 0, 1], metavar="O",
                   help="phase only: input frames relative to t, including 0 (default -1 0 1, "
                        "the paper's t-1, t, t+1)")
    t.add_argument("--cycle-maps", action="store_true",
                   help="phase only: add sin/cos of the cycle phase (frame/frames) as two "
                        "input maps")
    t.add_argument("--select", choices=("mse_myo", "curve_r"), default="mse_myo",
                   help="phase only: checkpoint kept: least myocardium MSE on the validation "
                        "subjects (default) or the best worst-direction velocity-curve r there")
    t.add_argument("--batch", type=int_in(1, 1024), default=None, metavar="N",
                   help="phase only: patches per step (default 8)")
    t.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="phase only: torch device (default auto: a GPU when torch sees one); "
                        "interp trains on the CPU")
    t.add_argument("--threads", type=int_in(1, 64), default=None,
                   help="torch threads (default: up to 2)")
    t.add_argument("--json", action="store_true", help="print JSON")
    t.set_defaults(func=run_train_cardiac)


def run_cardiac_interpolate(args: argparse.Namespace) -> int:
    from headtwin_app.core.atomic import atomic_write_text, check_writable
    from headtwin_app.core.cardiac.interp_net import DEFAULT_MODEL, interpolate_case
    from headtwin_app.core.cardiac.store import load_case, write_map
    from headtwin_app.core.errors import UserError

    case_dir = Path(args.case)
    case = load_case(case_dir)
    if case.lv_mask is None:
        raise UserError(f"{case_dir} has no lv_mask.nii.gz: interpolation needs the LV masks "
                        "of the kept frames")
    frames = case.magnitude.shape[3]
    if args.k + 1 >= frames:
        raise UserError(f"--k must be at most {frames - 2} for a {frames}-frame cine, "
                        f"got {args.k}")
    check_writable(args.out, folder=True)
    t0 = time.perf_counter()
    try:
        magnitude, mask, metrics = interpolate_case(case, args.k, args.method, args.model)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frame_ms = case.info.get("rr_ms", float(frames)) / frames
    files = {
        "magnitude": write_map(magnitude, case.affine, out / "magnitude.nii.gz", frame_ms),
        "lv_mask": write_map(mask.astype("uint8"), case.affine, out / "lv_mask.nii.gz",
                             frame_ms),
    }
    info: dict[str, Any] = json.loads((case_dir / "case.json").read_text())
    model = (str(args.model or DEFAULT_MODEL)) if args.method == "net" else None
    info["interpolated"] = {
        "source_case": str(case_dir), "method": args.method, "k": args.k, "model": model,
        "kept_frames": metrics["kept_frames"],
        "interpolated_frames": metrics["interpolated_frames"],
        "note": "magnitude and lv_mask hold the kept frames unchanged and the interpolated "
                "frames in between; velocity and phase files are not carried over",
        "metrics": {k: metrics[k] for k in METRIC_NAMES},
    }
    files["json"] = atomic_write_text(out / "case.json", json.dumps(info, indent=1) + "\n")
    emit({
        "case": str(case_dir), "out": str(out), "method": args.method, "k": args.k,
        "model": model, "kept_frames": metrics["kept_frames"],
        "n_interpolated": metrics["n_frames"],
        "metrics": {str(args.k): {name: metrics[key] for key, name in METRIC_NAMES.items()}},
        "metrics_std": {str(args.k): {name: metrics[key + "_std"]
                                      for key, name in METRIC_NAMES.items()}},
        "metric_convention": "interpolated frames only; magnitude scaled to [-1, 1] per case "
                             "(99.5th percentile -> 1); PSNR/SSIM data_range 2; MSEW1: "
                             "weight 1 in the myocardium, MSEW2: 1 where scaled magnitude > "
                             "-0.95, else 0.1; Dice: myocardium (Dice_LV: whole LV)",
        "files": {k: str(v) for k, v in files.items()},
        "seconds": time.perf_counter() - t0,
    }, args.json)
    return 0


def _case_dirs(folder: str | None, subjects: int | None = None) -> list[Path]:
    from headtwin_app.core.errors import UserError

    if folder is None:
        from headtwin_app.core.cardiac.dataset import SEEDS_TRAIN, ensure_cases, train_seeds

        return ensure_cases(SEEDS_TRAIN if subjects is None else train_seeds(subjects))
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"--cases {root}: not a folder")
    dirs = sorted(d for d in root.iterdir() if (d / "case.json").is_file())
    if (root / "case.json").is_file():
        dirs = [root]
    if not dirs:
        raise UserError(f"--cases {root}: no case folders (with case.json) inside; make them "
                        "with `headtwin cardiac-phantom`")
    return dirs


def run_train_cardiac(args: argparse.Namespace) -> int:
    from headtwin_app.core.atomic import check_writable
    from headtwin_app.core.errors import UserError

    if args.cases is not None and args.subjects is not None:
        raise UserError("--subjects generates the training cases; it cannot be combined with "
                        "--cases")
    dirs = _case_dirs(args.cases, args.subjects)
    check_writable(args.out)
    t0 = time.perf_counter()
    if args.what == "interp":
        from headtwin_app.core.cardiac.interp_net import train_interp

        if (args.device == "cuda" or args.batch is not None or args.select != "mse_myo"
                or args.cycle_maps):
            raise UserError("--device cuda, --batch, --select and --cycle-maps apply to --what "
                            "phase only")
        val = _case_dirs(args.val_cases) if args.val_cases is not None else None
        summary = train_interp(dirs, args.out, args.minutes, seed=args.seed, val_dirs=val,
                               threads=args.threads)
    else:
        from headtwin_app.core.cardiac.phase_net import PhaseConfig, train_phase

        val = _case_dirs(args.val_cases) if args.val_cases is not None else None
        try:
            cfg = PhaseConfig(scheme=args.scheme, myo_weight=args.myo_weight,
                              augment=args.augment, frame_offsets=tuple(args.frame_offsets),
                              select=args.select, cycle_maps=args.cycle_maps,
                              **({} if args.batch is None else {"batch": args.batch}))
        except ValueError as exc:
            raise UserError(f"--frame-offsets: {exc}") from None
        summary = train_phase(dirs, args.out, args.minutes, seed=args.seed, progress=None,
                              cancel=None, scheme=args.scheme, val_dirs=val, config=cfg,
                              threads=args.threads, device=args.device)
    brief = {k: v for k, v in summary.items() if not isinstance(v, (list, dict))}
    emit({"what": args.what, "out": str(args.out), "cases": len(dirs), **brief,
          "wall_seconds": time.perf_counter() - t0}, args.json)
    return 0


__all__ = ["register", "run_cardiac_interpolate", "run_train_cardiac"]
