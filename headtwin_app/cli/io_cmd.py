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
    register_export_seg(sub)


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


def register_export_seg(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("export-seg", help="write a label map as a 3D Slicer segmentation "
                                          "(.seg.nrrd) or a DICOM-SEG, with names and colours")
    e.add_argument("--labels", required=True, help="label map (NIfTI, NRRD, MHA, ...)")
    e.add_argument("--out", required=True,
                   help="FILE.seg.nrrd, or a folder for --format dicom-seg")
    e.add_argument("--format", default="seg-nrrd", choices=("seg-nrrd", "dicom-seg"))
    e.add_argument("--image", help="dicom-seg: the source DICOM series folder it refers to; "
                                   "seg-nrrd: the image the labels belong to (the segmentation "
                                   "takes its geometry; default: the label file's own)")
    e.add_argument("--colour-table", metavar="FILE.ctbl",
                   help="also write the label table as a 3D Slicer colour table")
    e.add_argument("--allow-unknown-labels", action="store_true")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=run_export_seg)


def run_export_seg(args: argparse.Namespace) -> int:
    from pathlib import Path

    from headtwin_app.core.atomic import check_writable, refuse_inputs
    from headtwin_app.core.io import load_volume
    from headtwin_app.core.io.grid import to_source_grid
    from headtwin_app.core.labelmap import check_same_grid, load_label_map
    from headtwin_app.core.labels import default_label_table, write_slicer_colour_table
    from headtwin_app.core.segfile import SEG_NRRD, write_dicom_seg, write_seg_nrrd

    dicom_seg = args.format == "dicom-seg"
    out = Path(args.out) / "segmentation.dcm" if dicom_seg else Path(args.out)
    if dicom_seg and not args.image:
        raise ValueError("--format dicom-seg needs --image: the source DICOM series folder")
    if not dicom_seg and not out.name.lower().endswith(SEG_NRRD):
        raise ValueError(f"{out}: a Slicer segmentation file ends in {SEG_NRRD}")
    if args.colour_table and not args.colour_table.lower().endswith((".ctbl", ".txt")):
        raise ValueError(f"{args.colour_table}: a Slicer colour table ends in .ctbl")
    refuse_inputs([out, args.colour_table], [args.labels, args.image])
    check_writable(out)
    labels = load_label_map(args.labels, args.allow_unknown_labels)
    if dicom_seg:
        write_dicom_seg(labels, args.image, out)
    else:
        # loaded in RAS; written in the array order and geometry of the file it belongs to
        grid = labels
        if args.image:
            grid = load_volume(args.image)
            check_same_grid(grid, labels, f"the image {args.image}", f"the labels {args.labels}")
        write_seg_nrrd(to_source_grid(grid.with_data(labels.data), grid), out)
    result = {"labels": args.labels, "out": str(out), "format": args.format}
    if args.colour_table:
        write_slicer_colour_table(default_label_table(), args.colour_table)
        result["colour_table"] = args.colour_table
    emit(result, args.json)
    return 0
