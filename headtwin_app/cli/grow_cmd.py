"""`headtwin grow`: Grow from seeds from the command line — scribbles (a label map) grow into a
3D segmentation of the box around them, written on the image's voxel grid."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import numpy as np

from headtwin_app.cli.args import float_in
from headtwin_app.cli.output import emit

if TYPE_CHECKING:
    from headtwin_app.core.volume import Volume

LABEL_SUFFIXES = (".nii.gz", ".nii", ".mha", ".nrrd")


def register(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser("grow", help="grow scribbled seeds into a 3D segmentation (FastGrowCut)")
    g.add_argument("--image", required=True, help="image file (NIfTI, MHA/NRRD, DICOM, ...)")
    g.add_argument("--seeds", required=True,
                   help="label map on the image's voxel grid: 0 no seed, a label id (1-254) a "
                        "seed of that structure, 255 background")
    g.add_argument("--out", required=True, help="label map file (.nii.gz, .nii, .mha, .nrrd), "
                                                "written on the image's grid")
    g.add_argument("--prior", metavar="PROBS",
                   help="class probabilities whose confident voxels (>= 0.95 after a 2-voxel "
                        "erosion) add seeds: .npy (C, X, Y, Z) in the image file's array order, "
                        "or a 4D .nii/.nii.gz (X, Y, Z, C) with the image's affine")
    g.add_argument("--prior-ids", metavar="IDS",
                   help="label id of each prior channel, comma-separated (default: channel c "
                        "is label c, channel 0 background)")
    g.add_argument("--margin", type=float_in(0.0, 500.0), default=10.0, metavar="MM",
                   help="mm around the seeds' bounding box to grow in (default 10)")
    g.add_argument("--smoothing", type=float_in(0.0, 20.0), default=0.0, metavar="MM",
                   help="Gaussian σ in mm applied to the image before growing (default 0)")
    g.add_argument("--allow-unknown-labels", action="store_true",
                   help="accept seed ids that are not in the label table")
    g.add_argument("--json", action="store_true", help="print JSON")
    g.set_defaults(func=run_grow)


def _prior_ids(text: str | None, channels: int) -> tuple[int, ...]:
    if text is None:
        return tuple(range(channels))
    try:
        ids = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise ValueError(f"--prior-ids {text}: give whole-number ids separated by commas") from None
    if len(ids) != channels:
        raise ValueError(f"--prior-ids names {len(ids)} ids but the prior has {channels} "
                         "channels")
    return ids


def _source_box(box: tuple[slice, slice, slice], image: Volume) -> dict[str, list[int]]:
    """The box's first and past-the-end voxel indices in the input file's array order."""
    from headtwin_app.core.io.grid import SOURCE_AFFINE

    lo = np.array([s.start for s in box], float)
    hi = np.array([s.stop - 1 for s in box], float)
    if SOURCE_AFFINE in image.meta:
        to_src = np.linalg.inv(np.asarray(image.meta[SOURCE_AFFINE])) @ image.affine
        lo, hi = (to_src[:3, :3] @ c + to_src[:3, 3] for c in (lo, hi))
    start = np.rint(np.minimum(lo, hi)).astype(int)
    stop = np.rint(np.maximum(lo, hi)).astype(int) + 1
    return {"start": start.tolist(), "stop": stop.tolist()}


def run_grow(args: argparse.Namespace) -> int:
    from headtwin_app.core.atomic import check_writable, refuse_inputs
    from headtwin_app.core.edit.grow import BACKGROUND_SEED, Grower, Prior
    from headtwin_app.core.io import load_volume, save_volume
    from headtwin_app.core.io.grid import to_source_grid
    from headtwin_app.core.io.probabilities import load_probabilities
    from headtwin_app.core.labelmap import as_label_map, check_same_grid
    from headtwin_app.core.labels import default_label_table

    if not args.out.endswith(LABEL_SUFFIXES):
        raise ValueError(f"{args.out}: write the label map as {', '.join(LABEL_SUFFIXES)}")
    refuse_inputs([args.out], [args.image, args.seeds, args.prior])
    check_writable(args.out)
    image = load_volume(args.image)
    if min(image.shape) < 3:
        raise ValueError(f"{args.image}: shape {image.shape}; growing needs a 3D image at least "
                         "3 voxels along each axis")
    seeds = as_label_map(load_volume(args.seeds), args.seeds,
                         allow_unknown=args.allow_unknown_labels, allowed_extra=[BACKGROUND_SEED])
    check_same_grid(image, seeds, f"the image {args.image}", args.seeds)
    if seeds.data.max() > BACKGROUND_SEED:
        raise ValueError(f"{args.seeds}: seed ids must be 1-254 (structures) or 255 "
                         f"(background), found {int(seeds.data.max())}")
    prior = None
    if args.prior:
        prob = load_probabilities(args.prior, image)
        prior = Prior(prob, _prior_ids(args.prior_ids, prob.shape[0]))
    elif args.prior_ids:
        raise ValueError("--prior-ids names the channels of --prior; give --prior too")
    grower = Grower(np.asarray(image.data, np.float32), image.spacing, args.margin, prior,
                    args.smoothing)
    result = grower.grow(seeds.data)
    labels = image.with_data(result.full(image.shape))
    save_volume(to_source_grid(labels, image), args.out)
    table = default_label_table()
    emit({"image": args.image, "seeds": args.seeds, "out": args.out,
          "seconds": round(result.seconds, 3),
          "box": _source_box(result.box, image),
          "structures": [{"id": i, "name": table.name_of(i), "voxels": n}
                         for i, n in sorted(result.voxels.items())],
          "prior": args.prior}, args.json)
    return 0
