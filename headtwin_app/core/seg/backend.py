"""The one interface every segmentation backend implements, and the registry that builds them.

A backend has a `name`, `predict(image) -> label Volume` (same shape and affine as the image), its
generator form `iter_predict(image)` (progress, then the result) and
`train(cases, out)`: a generator yielding `Progress`, so a GUI worker can show progress and cancel
by simply stopping iteration (closing the generator). Backends: "builtin" (small CPU 3D U-Net),
"nnunet" (nnU-Net v2), "atlas" (MNI template registration, brain layers).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from headtwin_app.core.package_data import MODELS_DIR
from headtwin_app.core.volume import Volume

BACKENDS = ("builtin", "nnunet", "atlas")
__all__ = ["BACKENDS", "MODELS_DIR", "Progress", "SegmentationBackend", "TrainingCase",
           "get_backend", "load_training_cases"]


@dataclass(frozen=True)
class Progress:
    """One progress report: what is happening, how far along (0..1), optional numbers."""

    stage: str
    fraction: float
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainingCase:
    """An image with its label map on the same grid (and, for phantoms, the tissue-class map the
    image was made from, which domain-randomised training images in other contrasts)."""

    name: str
    image: Volume
    labels: Volume
    tissue: Volume | None = None

    def __post_init__(self) -> None:
        from headtwin_app.core.labelmap import check_same_grid

        check_same_grid(self.image, self.labels, f"case '{self.name}' image",
                        f"case '{self.name}' labels")
        if self.tissue is not None:
            check_same_grid(self.image, self.tissue, f"case '{self.name}' image",
                            f"case '{self.name}' tissue classes")


@runtime_checkable
class SegmentationBackend(Protocol):
    """What the app, the CLI and the labelling workspace call."""

    name: str

    def predict(self, image: Volume) -> Volume:
        """Label map on the image's grid (same shape, spacing and affine)."""
        ...

    def iter_predict(self, image: Volume) -> Iterator[Progress | Any]:
        """`predict` as a generator: `Progress` items, then the result last (stop iterating
        to cancel between steps). What GUI workers and the labelling CaseEditor call."""
        ...

    def train(self, cases: Sequence[TrainingCase], out: str | os.PathLike[str],
              **options: Any) -> Iterator[Progress]:
        """Train on `cases`, write the model to `out`, yield progress along the way."""
        ...


def load_training_cases(folder: str | os.PathLike[str], layer: str = "labels",
                        ) -> list[TrainingCase]:
    """Read every case folder under `folder` (image.nii.gz + labels.nii.gz, as `headtwin phantom`
    writes; `layer` may name another label file stem, e.g. "brain_tissue"). `folder` may also be
    one case folder."""
    from headtwin_app.core.io import load_volume
    from headtwin_app.core.labelmap import load_label_map

    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder of cases")
    dirs = [root] if (root / "image.nii.gz").exists() else sorted(
        d for d in root.iterdir() if (d / "image.nii.gz").exists())
    cases = []
    for d in dirs:
        lab = d / f"{layer}.nii.gz"
        if not lab.exists():
            raise ValueError(f"{d}: has an image but no {lab.name}")
        tissue = d / "tissue_classes.nii.gz"
        cases.append(TrainingCase(d.name, load_volume(d / "image.nii.gz"), load_label_map(lab),
                                  _tissue_map(tissue) if tissue.exists() else None))
    if not cases:
        raise ValueError(f"{root}: no case folders (image.nii.gz + {layer}.nii.gz) found")
    return cases


def _tissue_map(path: Path) -> Volume:
    """A phantom's tissue_classes.nii.gz (codes of core.phantom.tissues), checked."""
    import numpy as np

    from headtwin_app.core.io import load_volume
    from headtwin_app.core.phantom.tissues import TISSUES

    vol = load_volume(path)
    data = np.asarray(vol.data)
    if data.min(initial=0) < 0 or data.max(initial=0) > len(TISSUES) or not np.all(
            np.equal(np.mod(data, 1), 0)):
        raise ValueError(f"{path}: not a tissue-class map (integer codes 0-{len(TISSUES)})")
    return Volume(data.astype(np.uint8), vol.affine, vol.meta)


def get_backend(name: str, model: str | os.PathLike[str] | None = None,
                device: str | None = None, **options: Any) -> SegmentationBackend:
    """Build a backend by name.

    Args:
        name: "builtin", "nnunet" or "atlas".
        model: weights file (builtin, default `models/seg_builtin.pt`) or a trained nnU-Net model
            folder (nnunet); unused by atlas.
        device: torch device ("cpu", "cuda"); default: CUDA when available, else CPU.
    """
    if name == "builtin":
        from headtwin_app.core.seg.builtin import BuiltinUNetBackend

        return BuiltinUNetBackend(model, device=device, **options)
    if name == "nnunet":
        from headtwin_app.core.seg.nnunet_backend import NnUNetBackend

        return NnUNetBackend(model, device=device, **options)
    if name == "atlas":
        from headtwin_app.core.seg.atlas import AtlasBrainBackend

        return AtlasBrainBackend(**options)
    raise ValueError(f"unknown segmentation backend '{name}' (choose from {', '.join(BACKENDS)})")
