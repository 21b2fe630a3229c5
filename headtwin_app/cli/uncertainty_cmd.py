"""`headtwin uncertainty`: where the built-in model is unsure of its proposal, per voxel and per
structure (test-time augmentation, `core.seg.uncertainty`), written on the input file's grid."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from headtwin_app.cli.args import int_in
from headtwin_app.cli.output import emit

VOLUME_SUFFIXES = (".nii.gz", ".nii", ".mha", ".nrrd")


def register(sub: argparse._SubParsersAction) -> None:
    u = sub.add_parser("uncertainty",
                       help="per-voxel and per-structure uncertainty of the built-in model")
    u.add_argument("--image", required=True, help="image file (NIfTI, MHA/NRRD, DICOM, ...)")
    u.add_argument("--out", required=True,
                   help="uncertainty map (float32, 0 sure .. 1 unsure) on the image's grid")
    u.add_argument("--labels-out", help="also write the proposed label map here")
    u.add_argument("--tta", type=int_in(1, 2), default=2,
                   help="test-time views: 1 (as is) or 2 (default; also mirrored left-right); "
                        "each costs about one `segment` run")
    u.add_argument("--model", help="built-in model weights (default: shipped)")
    u.add_argument("--no-refine", action="store_true",
                   help="coarse 2 mm stage only (about 6x faster, rougher scores)")
    u.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    u.add_argument("--json", action="store_true", help="print JSON")
    u.set_defaults(func=run_uncertainty)


def _check_suffix(path: str, option: str) -> None:
    if not Path(path).name.endswith(VOLUME_SUFFIXES):
        raise ValueError(f"{option} {path}: write it as {', '.join(VOLUME_SUFFIXES)}")


def run_uncertainty(args: argparse.Namespace) -> int:
    from headtwin_app.core.atomic import check_writable, refuse_inputs
    from headtwin_app.core.io import load_volume, save_volume
    from headtwin_app.core.io.grid import to_source_grid
    from headtwin_app.core.seg.builtin import BuiltinUNetBackend
    from headtwin_app.core.seg.uncertainty import estimate_uncertainty

    _check_suffix(args.out, "--out")
    if args.labels_out:
        _check_suffix(args.labels_out, "--labels-out")
        if Path(args.labels_out).resolve() == Path(args.out).resolve():
            raise ValueError("--labels-out and --out name the same file")
    refuse_inputs([args.out, args.labels_out], [args.image, args.model])
    check_writable(args.out)
    if args.labels_out:
        check_writable(args.labels_out)
    backend = BuiltinUNetBackend(args.model, device=args.device, refine=not args.no_refine)
    backend.load()  # missing weights fail here, before the image is read
    image = load_volume(args.image)
    if min(image.shape) < 2:
        raise ValueError(f"{args.image}: a 2D image (shape {image.shape}); the model needs a "
                         "3D head volume")
    data = image.data
    if not data.max() > data.min():
        raise ValueError(f"{args.image}: the image is constant (every voxel is {data.min():g}); "
                         "there is nothing to segment")
    t0 = time.perf_counter()
    result = estimate_uncertainty(backend, image, views=args.tta, refine=not args.no_refine)
    seconds = time.perf_counter() - t0
    save_volume(to_source_grid(result.uncertainty, image), args.out)
    if args.labels_out:
        save_volume(to_source_grid(result.labels, image), args.labels_out)
    ranked = sorted(result.scores, key=lambda n: -result.scores[n])
    emit({"image": args.image, "out": args.out, "labels_out": args.labels_out,
          "views": result.views, "stages": "2 mm + 1 mm" if result.grid == "fine" else "2 mm",
          "seconds": round(seconds, 2), "shape": list(image.shape),
          "case_score": round(result.case_score, 6),
          "score": "expected 1 - Dice of the proposal under the mean view probabilities",
          "structures": {n: {"score": result.scores[n], "voxels": result.voxels.get(n, 0)}
                         for n in ranked},
          "mean_voxel_uncertainty": round(float(result.uncertainty.data.mean()), 6)},
         args.json)
    return 0
