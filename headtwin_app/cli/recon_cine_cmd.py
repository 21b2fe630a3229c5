"""`headtwin recon-cine` (a cine under a k-t mask, reconstructed) and `headtwin
train-cine-features` (the encoder of the cine feature loss).

Metrics: the project convention for cines (`core/recon/cine_metrics.CONVENTION`, repeated in
the JSON): magnitude, PSNR/SSIM/HFEN per frame, averaged over frames.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from headtwin_app.cli.args import ACCEL, SEED, float_in, int_in
from headtwin_app.cli.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    from headtwin_app.core.kt_masks import KT_FAMILY_NAMES
    from headtwin_app.core.recon.cine_predict import CINE_METHODS

    p = sub.add_parser(
        "recon-cine", help="undersample a cine with a k-t mask and reconstruct it "
                           "(zero-filled, L+S, 2D cascade per frame, 2D+t cascade)",
        description="Reads a NIfTI cine (x, y, t or x, y, 1, t), applies a k-t mask of FAMILY "
                    "at R, reconstructs it and writes the magnitude sequence with the input's "
                    "affine; reports PSNR/SSIM/HFEN of the method and of zero-filled against "
                    "the input.")
    p.add_argument("--cine", required=True, metavar="FILE",
                   help="NIfTI cine (x, y, t or x, y, 1, t; x, y, s, t with --slice)")
    p.add_argument("--slice", type=int_in(0, 4096), default=None, metavar="K",
                   help="the slice to take from a multi-slice cine (x, y, s, t), e.g. the "
                        "cardiac phantom's magnitude.nii.gz; the output lies on that slice")
    p.add_argument("--mask", required=True, choices=KT_FAMILY_NAMES, help="k-t mask family")
    p.add_argument("--accel", type=ACCEL, default=6.0, help="acceleration R (default 6)")
    p.add_argument("--seed", type=SEED, default=0, help="mask seed (default 0)")
    p.add_argument("--centre-lines", type=int_in(0, 4096), default=None,
                   help="fully sampled centre lines per frame (Cartesian families; default: "
                        "the family's)")
    p.add_argument("--method", choices=CINE_METHODS, default="cascade3d",
                   help="zf, lps (low rank + sparse), cascade2d (the 2D cascade frame by "
                        "frame) or cascade3d (the 2D+t cascade, default)")
    p.add_argument("--model", metavar="PATH", help="weights for cascade2d/cascade3d (default: "
                                                   "the shipped models)")
    p.add_argument("--threads", type=int_in(1, 256), default=1,
                   help="torch CPU threads (default 1)")
    p.add_argument("--out", metavar="FILE", help="write the reconstruction (.nii or .nii.gz)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_recon_cine)

    f = sub.add_parser(
        "train-cine-features",
        help="train the app's own feature encoder for the cine feature loss (a denoising "
             "autoencoder on the training cines' frames)")
    f.add_argument("--out", required=True, metavar="PATH", help="weights to write (.pt)")
    f.add_argument("--minutes", type=float_in(0.0, 600.0, lo_open=True), default=3.0,
                   help="training budget in minutes (default 3)")
    f.add_argument("--seed", type=SEED, default=0)
    f.add_argument("--json", action="store_true", help="print JSON")
    f.set_defaults(func=run_train_features)


def run_recon_cine(args: argparse.Namespace) -> int:
    import torch

    from headtwin_app.core.atomic import check_writable, refuse_inputs
    from headtwin_app.core.recon.cine_data import load_cine, save_cine
    from headtwin_app.core.recon.cine_job import cine_recon_steps
    from headtwin_app.core.recon.cine_metrics import CONVENTION
    from headtwin_app.core.recon.predict import run_to_end

    torch.set_num_threads(args.threads)
    if args.model and args.method not in ("cascade2d", "cascade3d"):
        raise ValueError("--model only applies to --method cascade2d or cascade3d")
    if args.out:
        if not (args.out.endswith(".nii") or args.out.endswith(".nii.gz")):
            raise ValueError(f"--out must be a NIfTI file (.nii or .nii.gz), got {args.out}")
        refuse_inputs([args.out], [args.cine, args.model])
        check_writable(args.out)
    seq, affine = load_cine(args.cine, third_axis_time=True, slice_index=args.slice)
    if not seq.max() > 0:
        raise ValueError(f"{args.cine}: the cine is empty (no voxel above 0)")
    extra = {} if args.centre_lines is None else {"centre_lines": args.centre_lines}
    out = run_to_end(cine_recon_steps(seq, args.mask, args.accel, args.seed, args.method,
                                      args.model, **extra))
    ours, zf = out["metrics"][args.method], out["metrics"]["zf"]
    result = {"cine": args.cine, **({"slice": args.slice} if args.slice is not None else {}),
              "frames": int(seq.shape[0]), "shape": list(seq.shape[1:]),
              "method": args.method, "family": args.mask, "accel": args.accel,
              "accel_achieved": round(out["accel_achieved"], 4), "seed": args.seed,
              **{k: round(float(v), 4) for k, v in ours.items()},
              **{f"{k}_zero_filled": round(float(v), 4) for k, v in zf.items()},
              "metrics": CONVENTION, "seconds": round(out["seconds"], 3),
              "threads": args.threads}
    if args.method in ("cascade2d", "cascade3d"):
        from headtwin_app.core.recon.cine_predict import DEFAULT_CINE_MODEL
        from headtwin_app.core.recon.predict import DEFAULT_MODEL

        default = DEFAULT_CINE_MODEL if args.method == "cascade3d" else DEFAULT_MODEL
        result["model"] = str(args.model or default)
    if args.out:
        result["out"] = str(save_cine(args.out, out["recon"], affine=affine))
    emit(result, args.json)
    return 0


def run_train_features(args: argparse.Namespace) -> int:
    from headtwin_app.core.atomic import check_writable
    from headtwin_app.core.recon.cine_data import SPLIT_NOTE, cine_set
    from headtwin_app.core.recon.cine_features import save_encoder, train_encoder

    out = Path(args.out)
    if out.suffix != ".pt":
        raise ValueError(f"--out must end in .pt, got {out}")
    check_writable(out)
    frames = np.concatenate([s.image for s in cine_set("train")])
    log = None if args.json else (lambda line: print(line, flush=True))
    enc, hist = train_encoder(frames, args.minutes, args.seed, log=log)
    meta = {"trained_on": "training split of the cine data: " + SPLIT_NOTE,
            "frames": int(len(frames)), "steps": hist["steps"],
            "seconds": round(hist["seconds"], 1), "final_loss": float(np.mean(hist["loss"][-50:]))}
    save_encoder(enc, out, meta)
    emit({"out": str(out), **meta}, args.json)
    return 0
