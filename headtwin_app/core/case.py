"""A case: the image being worked on plus what the pipeline has made of it so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from headtwin_app.core.volume import Volume


@dataclass
class Case:
    """The open case. `labels` is the craniofacial/CNS (or fused twin) label map on the image grid;
    `brain` holds optional brain layers by name ("tissue", "regions", "hemispheres")."""

    image: Volume
    name: str = "case"
    labels: Volume | None = None
    brain: dict[str, Volume] = field(default_factory=dict)
    source: Path | None = None


BRAIN_LAYERS = {
    "tissue": "brain_tissue",
    "regions": "brain_regions",
    "hemispheres": "brain_hemispheres",
}


def load_case(path: str | Path) -> Case:
    """Open an image file, a DICOM folder, or a case folder (image.nii.gz with optional
    labels.nii.gz and brain_*.nii.gz beside it, as `headtwin phantom` writes)."""
    from headtwin_app.core.io import load_volume

    p = Path(path)
    image_file = p / "image.nii.gz" if p.is_dir() else None
    if image_file is None or not image_file.exists():
        vol = load_volume(p)
        return Case(vol, name=_case_name(p), source=p)
    from headtwin_app.core.atomic import remove_stale_temporaries

    remove_stale_temporaries(p)  # left by a write into this case folder that was killed
    case = Case(load_volume(image_file), name=p.name, source=p)
    labels_file = p / "labels.nii.gz"
    if labels_file.exists():
        case.labels = _load_on_grid(labels_file, case.image)
    for layer, stem in BRAIN_LAYERS.items():
        f = p / f"{stem}.nii.gz"
        if f.exists():
            case.brain[layer] = _load_on_grid(f, case.image)
    return case


def _load_on_grid(path: Path, image: Volume) -> Volume:
    """A label map of the case, checked (whole known ids) and on the image's grid."""
    from headtwin_app.core.labelmap import check_same_grid, load_label_map

    vol = load_label_map(path)
    check_same_grid(image, vol, "the image", str(path))
    vol.data = vol.data.astype("int16", copy=False)
    return vol


def _case_name(p: Path) -> str:
    name = p.name
    for suffix in (".nii.gz", ".nii", ".mha", ".nrrd", ".h5", ".dcm", ".npy"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name
