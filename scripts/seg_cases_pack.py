"""Pack phantom training cases small enough to travel to a GPU machine, and unpack them there.

`pack SRC DST`: for each case folder of SRC (as `headtwin phantom` writes), its tissue classes,
labels and affine go into DST/<case>.npz.xz (about 0.5 MB against 45 MB for the folder: the
image is left behind). `unpack DST CASES`: writes each back as a case folder the `train-seg`
command reads, the image rendered from the tissue classes in the phantom's PD contrast with
light Rician noise (the shipped model's training images; random contrasts come from the tissue
classes anyway).
"""

from __future__ import annotations

import argparse
import io
import lzma
import sys
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nibabel as nib
import numpy as np


def pack_case(case: Path, dst: Path) -> Path:
    tissue = nib.load(case / "tissue_classes.nii.gz")
    labels = nib.load(case / "labels.nii.gz")
    buf = io.BytesIO()
    np.savez(buf, tissue=np.asarray(tissue.dataobj, dtype=np.uint8),
             labels=np.asarray(labels.dataobj, dtype=np.uint8), affine=tissue.affine)
    out = dst / f"{case.name}.npz.xz"
    out.write_bytes(lzma.compress(buf.getvalue(), preset=6))
    return out


def unpack_case(packed: Path, cases: Path) -> Path:
    from headtwin_app.core.phantom.sequences import PRESETS, signal_lut

    with np.load(io.BytesIO(lzma.decompress(packed.read_bytes()))) as z:
        tissue, labels, affine = z["tissue"], z["labels"], z["affine"]
    rng = np.random.default_rng(zlib.crc32(packed.name.encode()))
    clean = signal_lut(PRESETS["pd"])[tissue]
    sigma = 0.01
    image = np.hypot(clean + rng.normal(0, sigma, clean.shape),
                     rng.normal(0, sigma, clean.shape)).astype(np.float32)
    out = cases / packed.name.removesuffix(".npz.xz")
    out.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(image, affine), out / "image.nii.gz")
    nib.save(nib.Nifti1Image(labels, affine), out / "labels.nii.gz")
    nib.save(nib.Nifti1Image(tissue, affine), out / "tissue_classes.nii.gz")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("verb", choices=("pack", "unpack"))
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args(argv)
    src, dst = Path(args.src), Path(args.dst)
    dst.mkdir(parents=True, exist_ok=True)
    if args.verb == "pack":
        jobs = sorted(d for d in src.iterdir() if (d / "tissue_classes.nii.gz").exists())
        fn = pack_case
    else:
        jobs = sorted(src.glob("*.npz.xz"))
        fn = unpack_case
    if not jobs:
        print(f"{src}: nothing to {args.verb}", file=sys.stderr)
        return 1
    with ProcessPoolExecutor(args.workers) as pool:
        for out in pool.map(fn, jobs, [dst] * len(jobs)):
            print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
