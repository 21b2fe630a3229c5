"""`headtwin cardiac-synthesize`: three-direction phase images from a magnitude cine (pix2pix)."""

from __future__ import annotations

import argparse
import time

from headtwin_app.cli.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cardiac-synthesize",
        help="synthesise the three phase (velocity) images of a cardiac case from its magnitude "
             "cine (pix2pix, HDL paper)",
        description="Synthesise phase.nii.gz (x, y, slice, frame, 3: in-plane x, y, "
                    "through-plane; radians) from the magnitude frames around t (the model's "
                    "frame offsets; the paper's t-1, t, t+1) with the pix2pix phase model, "
                    "and write DIR3 as a full case folder (case.json, magnitude, "
                    "lv_mask, the synthesised phase). When the case has a phase, the JSON "
                    "compares against it: MSE, MSEW1, MSEW2, PSNR, SSIM on phase/pi (data range "
                    "2) and the correlation of the global velocity curves.")
    p.add_argument("--case", required=True, metavar="DIR", help="cardiac case folder")
    p.add_argument("--out", required=True, metavar="DIR3", help="output case folder")
    p.add_argument("--scheme", choices=("fgbg", "vanilla"), default="fgbg",
                   help="fgbg: tissue from the generator, background noise from a Gaussian "
                        "(the paper's scheme, default); vanilla: the generator for all pixels")
    p.add_argument("--model", metavar="PATH", default=None,
                   help="phase model checkpoint (default: models/cardiac_phase.pt for fgbg, "
                        "models/cardiac_phase_vanilla.pt for vanilla)")
    p.add_argument("--magnitude", metavar="FILE", default=None,
                   help="a magnitude NIfTI (x, y, slice, frame) to use instead of the case's "
                        "(e.g. an interpolated cine); it is written to DIR3")
    p.add_argument("--seed", type=int, default=0, help="seed of the background noise")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_cardiac_synthesize)


def run_cardiac_synthesize(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import nibabel as nib
    import numpy as np

    from headtwin_app.core.atomic import atomic_write_text, check_writable
    from headtwin_app.core.cardiac.phase_net import (
        curve_agreement,
        load_phase,
        phase_metrics,
        synthesize_case,
    )
    from headtwin_app.core.cardiac.store import load_case, write_map
    from headtwin_app.core.errors import UserError

    check_writable(args.out, folder=True)
    case = load_case(args.case)
    magnitude = None
    if args.magnitude is not None:
        mpath = Path(args.magnitude)
        if not mpath.is_file():
            raise UserError(f"magnitude file {mpath} not found")
        magnitude = np.asarray(nib.load(str(mpath)).dataobj, dtype=np.float32)
        if magnitude.shape != case.magnitude.shape:
            raise UserError(f"--magnitude has shape {magnitude.shape}, the case "
                            f"{case.magnitude.shape}")
    model = load_phase(args.model, args.scheme)
    if model.scheme != args.scheme:
        raise UserError(f"{args.model} is a '{model.scheme}' model, not '{args.scheme}'")
    t0 = time.perf_counter()
    phase = synthesize_case(case, args.scheme, magnitude=magnitude, model=model, seed=args.seed)
    seconds = time.perf_counter() - t0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frame_ms = case.info["rr_ms"] / case.info["frames"]
    mag = case.magnitude if magnitude is None else magnitude
    files = {"phase": write_map(phase, case.affine, out / "phase.nii.gz", frame_ms),
             "magnitude": write_map(mag, case.affine, out / "magnitude.nii.gz", frame_ms)}
    if case.lv_mask is not None:
        files["lv_mask"] = write_map(case.lv_mask, case.affine, out / "lv_mask.nii.gz", frame_ms)
    info = dict(case.info)
    info["phase_source"] = {"synthesised": True, "scheme": args.scheme,
                            "model": str(args.model or f"default ({args.scheme})"),
                            "from_case": str(args.case),
                            "magnitude": str(args.magnitude or "the case's")}
    files["json"] = atomic_write_text(out / "case.json", json.dumps(info, indent=1) + "\n")
    result: dict = {"case": args.case, "out": args.out, "scheme": args.scheme,
                    "shape": list(phase.shape), "files": {k: str(v) for k, v in files.items()},
                    "seconds": seconds}
    if case.phase is not None and case.lv_mask is not None:
        result["metrics"] = phase_metrics(case.phase, phase, case.magnitude, case.lv_mask)
        result["metrics_note"] = ("on phase/pi in [-1, 1], data range 2; MSEW1: weight 1 in the "
                                  "myocardium, 0.1 elsewhere; MSEW2: 1 where scaled magnitude "
                                  "> -0.95, 0.1 elsewhere; against the case's phase")
        agree = curve_agreement(case, phase)
        result["curve_r"] = agree["r_vs_true_phase"]
        result["curve_r_vs_analytic"] = agree.get("r_vs_analytic")
        result["peaks"] = {"synthesised": agree["synth_peaks"],
                           "true_phase": agree["true_phase_peaks"]}
    else:
        result["metrics"] = None
        result["metrics_note"] = "the case has no phase (or LV mask) to compare against"
    emit(result, args.json)
    return 0
