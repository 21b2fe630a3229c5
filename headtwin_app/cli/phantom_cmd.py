"""`headtwin phantom`: generate a synthetic head (image + label maps) into a case folder."""

from __future__ import annotations

import argparse
import time

from headtwin_app.cli.args import SEED, float_in
from headtwin_app.cli.output import emit
from headtwin_app.core.phantom.sequences import CONTRASTS, KINDS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "phantom",
        help="generate a synthetic head (T1, T2, PD or FLAIR) with craniofacial, CNS and brain "
             "labels",
        description="Write image.nii.gz, labels.nii.gz, brain_tissue/regions/hemispheres.nii.gz, "
                    "tissue_classes.nii.gz and phantom.json into DIR. The same seed always gives "
                    "the same subject; --contrast images it with a pulse sequence from per-tissue "
                    "PD, T1, T2 and T2* (3 T). Presets: t1 = spin echo TR 500/TE 10, t2 = spin "
                    "echo 4000/100, pd = spin echo 6000/30, flair = inversion recovery "
                    "9000/120, TI 2450 (ms).")
    p.add_argument("--seed", type=SEED, required=True, help="subject number (>= 0)")
    p.add_argument("--out", required=True, metavar="DIR", help="output case folder")
    p.add_argument("--spacing", type=float_in(), default=1.0, metavar="MM",
                   help="isotropic voxel size in mm (default 1.0; 0.5 to 4)")
    p.add_argument("--contrast", choices=CONTRASTS, default="pd",
                   help="image contrast preset (default pd)")
    p.add_argument("--sequence", choices=KINDS, default=None,
                   help="override the preset's sequence: se (spin echo), gre (spoiled gradient "
                        "echo), ir (inversion recovery)")
    p.add_argument("--tr", type=float_in(0, lo_open=True), default=None, metavar="MS",
                   help="repetition time")
    p.add_argument("--te", type=float_in(0), default=None, metavar="MS", help="echo time")
    p.add_argument("--ti", type=float_in(0, lo_open=True), default=None, metavar="MS",
                   help="inversion time")
    p.add_argument("--flip", type=float_in(0, 90, lo_open=True), default=None, metavar="DEG",
                   help="flip angle (gradient echo; default 30)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_phantom)


def run_phantom(args: argparse.Namespace) -> int:
    from headtwin_app.core.atomic import check_writable
    from headtwin_app.core.phantom import make_phantom, save_phantom
    from headtwin_app.core.phantom.generate import check_spacing
    from headtwin_app.core.phantom.sequences import sequence_for

    check_spacing(args.spacing)
    seq = sequence_for(args.contrast, tr=args.tr, te=args.te, ti=args.ti, flip=args.flip,
                       kind=args.sequence)
    check_writable(args.out, folder=True)
    t0 = time.perf_counter()
    ph = make_phantom(args.seed, args.spacing, seq)
    t_gen = time.perf_counter() - t0
    paths = save_phantom(ph, args.out)
    emit({
        "seed": ph.seed,
        "out": args.out,
        "files": {k: str(p) for k, p in paths.items()},
        "shape": list(ph.image.shape),
        "spacing_mm": ph.spacing,
        "contrast": args.contrast,
        "sequence": seq.as_dict(),
        "seconds": round(time.perf_counter() - t0, 2),
        "seconds_generate": round(t_gen, 2),
        "volumes_ml": ph.label_volumes_ml(),
    }, args.json)
    return 0
