"""`headtwin cardiac-velocity`: myocardial velocity curves and peaks (HDL paper §III-C)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from headtwin_app.cli.args import int_in
from headtwin_app.cli.output import emit


def venc_arg(text: str) -> list[float]:
    """`X,Y,Z` or one value, mm/s, each > 0."""
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not X,Y,Z (mm/s) or one value") from None
    if len(values) not in (1, 3) or any(not v > 0 or v == float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"'{text}': give one venc or three (x, y, "
                                         "through-plane), positive, in mm/s")
    return values * 3 if len(values) == 1 else values


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cardiac-velocity",
        help="assess myocardial velocities of a cardiac cine: radial, circumferential and "
             "longitudinal curves, PSV/TPSV/PDV/TPDV, voxels above the venc",
        description="Global radial (+ inwards), circumferential (+ counterclockwise) and "
                    "longitudinal (+ towards the apex) LV myocardial velocity curves in a "
                    "cylindrical frame about the per-frame, per-slice LV centroid, their peaks "
                    "(PSV, TPSV, PDV, TPDV in frames, mean |v|) and myocardium voxels above the "
                    "venc. CASE is a case folder (headtwin cardiac-phantom), a .npz / .h5 file "
                    "or a phase-contrast DICOM folder (see headtwin_app/core/cardiac/"
                    "loaders.py for the keys). When case.json has a truth (the phantom), the "
                    "errors against it are reported.")
    p.add_argument("--case", required=True, metavar="DIR_OR_FILE",
                   help="case folder, .npz, .h5 or phase-contrast DICOM folder")
    p.add_argument("--phase", metavar="FILE", default=None,
                   help="assess this phase instead (radians, (x, y, slice, frame, 3): "
                        ".nii.gz, .npy, .npz or .h5 with a 'phase' array), e.g. a synthesised "
                        "phase.nii.gz")
    p.add_argument("--venc", type=venc_arg, default=None, metavar="X,Y,Z",
                   help="velocity encoding in mm/s (one value or x, y, through-plane); "
                        "overrides the case's")
    p.add_argument("--mask", metavar="FILE", default=None,
                   help="LV mask (x, y, slice, frame; 1 myocardium, 2 blood pool) when the case "
                        "has none (DICOM): .nii.gz, .npy, .npz or .h5 ('lv_mask')")
    p.add_argument("--through-plane", choices=("base", "apex"), default=None,
                   help="the through-plane velocity's + direction (default: the case's; "
                        "towards the base for the phantom)")
    p.add_argument("--oversample", type=int_in(1, 64), default=4,
                   help="read peaks from the curve interpolated N times finer (band-limited; "
                        "default 4, as the phantom's truth)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_cardiac_velocity)


def run_cardiac_velocity(args: argparse.Namespace) -> int:
    import numpy as np

    from headtwin_app.core.cardiac.loaders import load_array_file, load_cardiac
    from headtwin_app.core.cardiac.velocity import assess_case, compare_with_truth
    from headtwin_app.core.errors import UserError

    t0 = time.perf_counter()
    case = load_cardiac(args.case, venc=args.venc)
    if args.mask is not None:
        mask = load_array_file(args.mask, "lv_mask")
        if mask.shape != case.magnitude.shape:
            raise UserError(f"--mask {args.mask}: shape {mask.shape} does not match the case's "
                            f"(x, y, slice, frame) {case.magnitude.shape}")
        case.lv_mask = np.asarray(mask).astype(np.uint8)
    if case.lv_mask is None:
        raise UserError(f"{args.case}: no LV mask; give one with --mask FILE (1 myocardium, "
                        "2 blood pool)")
    phase = None
    if args.phase is not None:
        phase = load_array_file(args.phase, "phase")
        if phase.shape != case.magnitude.shape + (3,):
            raise UserError(f"--phase {args.phase}: shape {phase.shape} does not match the "
                            f"case's (x, y, slice, frame, 3) {case.magnitude.shape + (3,)}")
        if np.nanmax(np.abs(phase)) > np.pi + 1e-3:
            raise UserError(f"--phase {args.phase}: expected radians in (-pi, pi]")
    ztb = None if args.through_plane is None else args.through_plane == "base"
    try:
        result = assess_case(case, phase=phase, venc=args.venc, oversample=args.oversample,
                             z_towards_base=ztb)
    except UserError:
        raise
    except ValueError as exc:
        raise UserError(f"{args.case}: {exc}") from None
    out: dict[str, Any] = {"case": args.case, "phase_file": args.phase,
                           "synthetic": bool(case.info.get("synthetic", False)), **result}
    truth = case.info.get("truth")
    if truth:
        out["truth"] = compare_with_truth(result, truth)
    out["seconds"] = time.perf_counter() - t0
    if args.json:
        emit(out, True)
    else:
        print_table(out)
    return 0


def print_table(out: dict[str, Any]) -> None:
    venc = out.get("venc_mm_s")
    venc_txt = "/".join(f"{v:g}" for v in venc) if venc else "unknown"
    print(f"case: {out['case']}  source: {out['source']}  frames: {out['frames']}  "
          f"venc: {venc_txt} mm/s")
    head = f"{'direction':<16}{'PSV':>8}{'TPSV':>7}{'PDV':>8}{'TPDV':>7}{'mean':>7}"
    truth = out.get("truth")
    if truth:
        head += f"{'dPSV':>8}{'dTPSV':>7}{'dPDV':>8}{'dTPDV':>7}"
    print(head + "   (mm/s; times in frames)")
    for d, pk in out["peaks"].items():
        line = (f"{d:<16}{pk['psv']:8.2f}{pk['tpsv']:7.2f}{pk['pdv']:8.2f}{pk['tpdv']:7.2f}"
                f"{pk['mean']:7.2f}")
        if truth and d in truth:
            t = truth[d]
            line += (f"{t['psv_error_mm_s']:+8.2f}{t['tpsv_error_frames']:+7.2f}"
                     f"{t['pdv_error_mm_s']:+8.2f}{t['tpdv_error_frames']:+7.2f}")
        print(line)
    flags = out["above_venc"]
    if flags.get("voxels") is None:
        print(f"above venc: {flags['method']}")
    elif flags["voxels"] == 0:
        print(f"above venc ({flags['method']}): none")
    else:
        frames = flags["frames"]
        shown = ", ".join(str(f) for f in frames[:10]) + (" ..." if len(frames) > 10 else "")
        print(f"above venc ({flags['method']}): {flags['voxels']} in frames [{shown}]")
    if truth:
        print("d*: measured - truth (the phantom's analytic curves)")
