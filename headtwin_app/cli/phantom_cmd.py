"""`headtwin phantom`: generate a synthetic head (image + label maps) into a case folder."""

from __future__ import annotations

import argparse
import time

from headtwin_app.cli.args import SEED, float_in
from headtwin_app.cli.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "phantom",
        help="generate a synthetic PD-weighted head with craniofacial, CNS and brain labels",
        description="Write image.nii.gz, labels.nii.gz, brain_tissue/regions/hemispheres.nii.gz "
                    "and phantom.json into DIR. The same seed always gives the same subject.")
    p.add_argument("--seed", type=SEED, required=True, help="subject number (>= 0)")
    p.add_argument("--out", required=True, metavar="DIR", help="output case folder")
    p.add_argument("--spacing", type=float_in(), default=1.0, metavar="MM",
                   help="isotropic voxel size in mm (default 1.0; 0.5 to 4)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_phantom)


def run_phantom(args: argparse.Namespace) -> int:
    from headtwin_app.core.atomic import check_writable
    from headtwin_app.core.phantom import make_phantom, save_phantom
    from headtwin_app.core.phantom.generate import check_spacing

    check_spacing(args.spacing)
    check_writable(args.out, folder=True)
    t0 = time.perf_counter()
    ph = make_phantom(args.seed, args.spacing)
    t_gen = time.perf_counter() - t0
    paths = save_phantom(ph, args.out)
    emit({
        "seed": ph.seed,
        "out": args.out,
        "files": {k: str(p) for k, p in paths.items()},
        "shape": list(ph.image.shape),
        "spacing_mm": ph.spacing,
        "seconds": round(time.perf_counter() - t0, 2),
        "seconds_generate": round(t_gen, 2),
        "volumes_ml": ph.label_volumes_ml(),
    }, args.json)
    return 0
