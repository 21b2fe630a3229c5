"""`headtwin simulate` and `headtwin sweep`: k-space undersampling from the command line.

simulate: one mask family at one R on an image → JSON with the mask, requested/achieved R,
PSNR, SSIM, NMSE and the estimated scan time; `--out DIR` writes mask, zero-filled image and
difference map as NIfTI. sweep: every (family, R) pair → JSON list of rows, optional CSV and PNG.
Layout: phase encode (ky) along the image's Y axis, readout (kx) along X, kz along Z (3D).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from headtwin_app.cli.args import ACCEL, FRACTION, NONNEG_INT, SEED, float_in
from headtwin_app.cli.output import dumps, emit

METRIC_CONVENTION = ("magnitude images; PSNR and SSIM with data_range = max(ground truth); "
                     "SSIM = skimage structural_similarity, 7-pixel uniform window "
                     "(whole volume in 3D); NMSE = ||gt-rec||^2/||gt||^2")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image", required=True,
                   help="NIfTI (2D or 3D), DICOM file/folder, MHA/NRRD, .h5 or .npy")
    p.add_argument("--dims", type=int, choices=(2, 3), default=None,
                   help="2: (ky, kx) mask on one axial slice; 3: (ky, kz) mask over the volume "
                        "with kx fully sampled (default: 3 for a volume, 2 for a 2D image)")
    p.add_argument("--slice", type=NONNEG_INT, default=None,
                   help="axial slice for 2D mode on a volume (default: the middle one)")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the mask and the noise")
    p.add_argument("--center-fraction", type=FRACTION, default=None,
                   help="fully sampled centre fraction (line families, random_points)")
    p.add_argument("--pf-fraction", type=float_in(0.5, 1.0), default=None,
                   help="partial-Fourier fraction 0.5-1 of ky lines the mask may use")
    p.add_argument("--noise", type=float_in(0.0, 100.0), default=0.0,
                   help="complex Gaussian k-space noise std, fraction of the image maximum")
    p.add_argument("--tr", type=float_in(0.0, 1e4, lo_open=True), default=None,
                   help="repetition time in seconds for the scan-time model "
                        "(default 0.5 s in 2D, 0.008 s in 3D)")
    p.add_argument("--json", action="store_true", help="print JSON")


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("simulate", help="undersample an image with a k-space mask, zero-fill, "
                                        "report PSNR/SSIM/NMSE and scan time")
    _add_common(s)
    s.add_argument("--mask", required=True, help="mask family (see `headtwin sweep --help`)")
    s.add_argument("--accel", type=ACCEL, required=True, help="acceleration R >= 1")
    s.add_argument("--combine-with", default=None,
                   help="sample inside the family's region with this family (e.g. upper_half "
                        "beyond R=2 with random_line)")
    s.add_argument("--out", default=None,
                   help="folder for mask.nii.gz, zero_filled.nii.gz, difference.nii.gz")
    s.set_defaults(func=run_simulate)

    from headtwin_app.core.masks import FAMILY_NAMES

    w = sub.add_parser("sweep", help="PSNR/SSIM of every mask family at several R "
                                     f"(families: {', '.join(FAMILY_NAMES)})")
    _add_common(w)
    w.add_argument("--accels", default="2,4,8", help="comma-separated R values")
    w.add_argument("--masks", default="all", help="'all' or comma-separated family names")
    w.add_argument("--csv", default=None, help="also write the rows as CSV (.csv)")
    w.add_argument("--plot", default=None,
                   help="also write PSNR/SSIM vs R as a picture (.png, .pdf or .svg)")
    w.set_defaults(func=run_sweep)


def _prepare(args: argparse.Namespace) -> tuple[Any, np.ndarray, int, int | None]:
    """Load the image; return (volume, image in encoding layout, dims, slice index)."""
    from headtwin_app.core.io import load_volume
    from headtwin_app.core.kspace import encoding_image

    vol = load_volume(args.image)
    dims = args.dims or (2 if vol.is_2d else 3)
    if dims == 3 and vol.is_2d:
        raise ValueError(f"{args.image}: a 2D image; 3D mode needs a volume (use --dims 2)")
    if dims == 3 and args.slice is not None:
        raise ValueError("--slice applies to 2D mode only (--dims 2)")
    data = np.asarray(vol.data, dtype=np.float32)
    z = None
    if dims == 2:
        z = vol.shape[2] // 2 if args.slice is None else args.slice
        if not 0 <= z < vol.shape[2]:
            raise ValueError(f"--slice {z} is outside the image's {vol.shape[2]} axial slices "
                             f"(0 to {vol.shape[2] - 1})")
    image = encoding_image(data, dims, z)
    if not np.max(image) > 0:
        raise ValueError(f"{args.image}: the image (slice) is all zeros; nothing to compare")
    return vol, image, dims, z


def _model(args: argparse.Namespace, dims: int):  # type: ignore[no-untyped-def]
    from headtwin_app.core.scantime import ScanTimeModel, default_model

    return default_model(dims) if args.tr is None else ScanTimeModel(tr_s=args.tr)


def _params(args: argparse.Namespace) -> dict[str, float]:
    return {} if args.center_fraction is None else {"center_fraction": args.center_fraction}


OUTPUT_NAMES = ("mask", "zero_filled", "difference")  # simulate --out DIR: <name>.nii.gz


def run_simulate(args: argparse.Namespace) -> int:
    from headtwin_app.core.atomic import check_writable, refuse_inputs
    from headtwin_app.core.kspace import result_row, simulate
    from headtwin_app.core.masks import get_family
    from headtwin_app.core.scantime import describe

    get_family(args.mask)
    if args.combine_with is not None:
        get_family(args.combine_with)
    if args.out:
        check_writable(args.out, folder=True)
        refuse_inputs([Path(args.out) / f"{n}.nii.gz" for n in OUTPUT_NAMES], [args.image])
    vol, image, dims, z = _prepare(args)
    model = _model(args, dims)
    res = simulate(image, args.mask, args.accel, seed=args.seed, dims=dims, noise=args.noise,
                   pf_fraction=args.pf_fraction, combine_with=args.combine_with,
                   scan_model=model, keep_kspace=False, **_params(args))
    out: dict[str, Any] = result_row(res)
    out.update({
        "image": str(args.image),
        "image_shape": list(vol.shape),
        "slice": z,
        "mask_shape": list(res.mask.shape),
        "mask_plane": "ky,kx" if dims == 2 else "ky,kz (kx readout fully sampled)",
        "seed": args.seed,
        "noise": args.noise,
        "center_fraction": args.center_fraction,
        "pf_fraction": args.pf_fraction,
        "scan_time_model": describe(dims, model),
        "metric_convention": METRIC_CONVENTION,
    })
    if args.out:
        out["outputs"] = _write_outputs(Path(args.out), vol, res, dims, z)
    emit(out, args.json)
    return 0


def _write_outputs(folder: Path, vol: Any, res: Any, dims: int, z: int | None) -> dict[str, str]:
    """mask / zero-filled / difference as NIfTI on the image grid (2D: the slice's grid)."""
    from headtwin_app.core.io import save_volume
    from headtwin_app.core.kspace import volume_data
    from headtwin_app.core.masks import expand_mask
    from headtwin_app.core.volume import Volume

    affine = vol.affine.copy()
    if dims == 2 and not vol.is_2d:
        affine[:3, 3] = (vol.affine @ np.array([0.0, 0.0, float(z), 1.0]))[:3]
    full_shape = res.zero_filled.shape
    mask_full = np.broadcast_to(expand_mask(res.mask, dims), full_shape).astype(np.uint8)
    paths = {}
    for name, arr in zip(OUTPUT_NAMES, (mask_full, res.zero_filled, res.difference),
                         strict=True):
        p = save_volume(Volume(volume_data(np.asarray(arr)), affine,
                               {"kind": name}), folder / f"{name}.nii.gz")
        paths[name] = str(p)
    return paths


def _float_list(text: str) -> list[float]:
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"--accels must be comma-separated numbers, got '{text}'") from None
    if not values:
        raise ValueError("--accels is empty")
    for v in values:
        if not v >= 1:
            raise ValueError(f"acceleration R must be a number >= 1, got {v:g}")
    return values


def run_sweep(args: argparse.Namespace) -> int:
    from headtwin_app.core.atomic import check_writable, refuse_inputs
    from headtwin_app.core.kspace import KSpaceSimulator, iter_sweep
    from headtwin_app.core.masks import FAMILY_NAMES, get_family
    from headtwin_app.core.sweep_report import (
        check_csv_suffix,
        check_plot_suffix,
        write_csv,
        write_plot,
    )

    accels = _float_list(args.accels)
    if args.masks.strip().lower() == "all":
        families = list(FAMILY_NAMES)
    else:
        families = [m.strip() for m in args.masks.split(",") if m.strip()]
        if not families:
            raise ValueError(f"--masks names no mask family (got '{args.masks}'); give 'all' "
                             f"or some of: {', '.join(FAMILY_NAMES)}")
        for f in families:
            get_family(f)
    for path, check in ((args.csv, check_csv_suffix), (args.plot, check_plot_suffix)):
        if path:
            check(path)
            refuse_inputs([path], [args.image])
            check_writable(path)
    vol, image, dims, z = _prepare(args)
    model = _model(args, dims)
    sim = KSpaceSimulator(image, dims)
    rows = []
    for row in iter_sweep(image, families, accels, dims=dims, seed=args.seed, noise=args.noise,
                          simulator=sim, pf_fraction=args.pf_fraction, scan_model=model,
                          **_params(args)):
        row["slice"] = z
        rows.append(row)
    if all(r["error"] for r in rows):
        raise ValueError(f"no (mask, R) pair could be simulated; e.g. {rows[0]['mask']} at "
                         f"R={rows[0]['accel_requested']:g}: {rows[0]['error']}")
    if args.csv:
        write_csv(rows, args.csv)
    if args.plot:
        write_plot(rows, args.plot, title=f"{Path(args.image).name}, {dims}D, seed {args.seed}")
    if args.json:
        sys.stdout.write(dumps(rows) + "\n")
    else:
        for r in rows:
            if r["error"]:
                print(f"{r['mask']:>16} R={r['accel_requested']:<5g} error: {r['error']}")
            else:
                print(f"{r['mask']:>16} R={r['accel_requested']:<5g} "
                      f"achieved={r['accel_achieved']:.3f} PSNR={r['psnr']:.2f} dB "
                      f"SSIM={r['ssim']:.4f} time={r['scan_time_s']:.1f} s")
    return 0
