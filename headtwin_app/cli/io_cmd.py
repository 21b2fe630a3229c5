"""`headtwin info` and `headtwin convert`: inspect and convert images between formats."""

from __future__ import annotations

import argparse

from headtwin_app.cli.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe an image (shape, spacing, format, range)")
    p.add_argument("--image", required=True, help="NIfTI, MHA/NRRD, DICOM file/folder, .h5, .npy")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_info)

    c = sub.add_parser("convert", help="convert an image to another format (by suffix)")
    c.add_argument("--image", required=True)
    c.add_argument("--out", required=True, help=".nii.gz, .mha, .nrrd, .h5, or a folder (DICOM)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=run_convert)


def run_info(args: argparse.Namespace) -> int:
    from headtwin_app.core.io import load_volume

    vol = load_volume(args.image)
    emit({
        "path": args.image,
        "format": vol.meta.get("format"),
        "shape": list(vol.shape),
        "spacing_mm": [round(s, 4) for s in vol.spacing],
        "dtype": str(vol.data.dtype),
        "min": float(vol.data.min()),
        "max": float(vol.data.max()),
        "has_kspace": vol.kspace is not None,
    }, args.json)
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from headtwin_app.core.atomic import refuse_inputs
    from headtwin_app.core.io import check_save_suffix, load_volume, save_volume

    check_save_suffix(args.out)
    refuse_inputs([args.out], [args.image])
    vol = load_volume(args.image)
    out = save_volume(vol, args.out)
    emit({"in": args.image, "out": str(out), "shape": list(vol.shape)}, args.json)
    return 0
