"""`headtwin cardiac-phantom`: a synthetic short-axis cine with exact myocardial velocities."""

from __future__ import annotations

import argparse
import time

from headtwin_app.cli.args import SEED, float_in, int_in
from headtwin_app.cli.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cardiac-phantom",
        help="generate a synthetic cardiac velocity-mapping cine (magnitude, 3-direction phase, "
             "velocities, LV mask) with analytic ground truth",
        description="Write magnitude.nii.gz (x, y, slice, frame), velocity.nii.gz and "
                    "phase.nii.gz (x, y, slice, frame, 3: in-plane x, y, through-plane), "
                    "lv_mask.nii.gz (1 myocardium, 2 blood pool), tissue_labels.nii.gz and "
                    "case.json (venc, frame times, R-R, the true global velocity curves) into "
                    "DIR. A synthetic subject: no real cardiac data ships with the app.")
    p.add_argument("--seed", type=SEED, required=True, help="subject number (>= 0)")
    p.add_argument("--out", required=True, metavar="DIR", help="output case folder")
    p.add_argument("--frames", type=int_in(8, 200), default=50,
                   help="frames per R-R interval (default 50, as in the paper)")
    p.add_argument("--slices", type=int_in(1, 9), default=3,
                   help="short-axis slices from base to apex (default 3)")
    p.add_argument("--size", type=int_in(64, 512), default=128,
                   help="matrix size at 1.5 mm pixels (default 128)")
    p.add_argument("--snr", type=float_in(0), default=None,
                   help="myocardium signal / noise sigma; 0 = noise-free (default: drawn per "
                        "seed in 15-30)")
    p.add_argument("--ecg", action="store_true",
                   help="take the R-R interval from a beat of the real 12-lead ECG that ships "
                        "with pydicom (waveform_ecg.dcm), chosen by the seed")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_cardiac_phantom)


def run_cardiac_phantom(args: argparse.Namespace) -> int:
    from headtwin_app.core.atomic import check_writable
    from headtwin_app.core.cardiac.phantom import make_case
    from headtwin_app.core.cardiac.store import save_case

    check_writable(args.out, folder=True)
    t0 = time.perf_counter()
    case = make_case(args.seed, frames=args.frames, slices=args.slices, size=args.size,
                     snr=args.snr, ecg=args.ecg)
    paths = save_case(case, args.out)
    info = case.info
    emit({
        "seed": args.seed, "out": args.out, "synthetic": True,
        "shape": list(case.magnitude.shape), "heart_rate_bpm": info["heart_rate_bpm"],
        "rr_ms": info["rr_ms"], "rr_source": info["rr_source"],
        "venc_mm_s": info["venc_mm_s"], "snr": info["snr"],
        "truth_peaks": info["truth"]["peaks"],
        "files": {k: str(v) for k, v in paths.items()},
        "seconds": time.perf_counter() - t0,
    }, args.json)
    return 0
