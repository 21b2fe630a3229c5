"""Score a twin against a reference: Dice, HD95 and mean surface distance per structure.

Which map is scored follows the reference: one holding brain tissue ids (21-23, e.g. a fused
truth twin) is compared with the fused twin; a craniofacial/CNS map (ids 1-12 only, as a
phantom's labels.nii.gz) with the craniofacial labels before fusion, so structures the fusion
rule hands to the brain model are not counted twice. Means are over the reference's structures
(a structure missing from the prediction scores Dice 0 and no distance).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from headtwin_app.core.case import Case
from headtwin_app.core.labels import default_label_table
from headtwin_app.core.metrics_seg import dice_per_label
from headtwin_app.core.surface_metrics import surface_metrics
from headtwin_app.core.volume import Volume

CONVENTION = ("per structure of the reference: Dice; HD95 and ASSD in mm between 6-connected "
              "surfaces (NaN when the structure is missing); means over the reference's "
              "structures, distances over those found")
CRANIOFACIAL_MAX_ID = 12


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return round(float(np.mean(finite)), 4) if finite else math.nan


def score_maps(reference: Volume, prediction: Volume) -> dict[str, Any]:
    """Dice/HD95/ASSD per structure of `reference` (by label name) and their means."""
    from headtwin_app.core.labelmap import check_same_grid

    check_same_grid(reference, prediction, "the reference", "the prediction")
    table = default_label_table()
    ref = np.asarray(reference.data)
    pred = np.asarray(prediction.data)
    ids = [int(i) for i in np.unique(ref) if i > 0]
    dice = dice_per_label(ref, pred, ids)
    dist = surface_metrics(ref, pred, reference.spacing, ids)
    names = {i: table.name_of(i) for i in ids}
    return {
        "dice": {names[i]: round(dice[i], 4) for i in ids},
        "hd95_mm": {names[i]: round(dist[i]["hd95_mm"], 3) for i in ids},
        "assd_mm": {names[i]: round(dist[i]["assd_mm"], 3) for i in ids},
        "mean_dice": _mean([dice[i] for i in ids]),
        "mean_hd95_mm": _mean([dist[i]["hd95_mm"] for i in ids]),
        "mean_assd_mm": _mean([dist[i]["assd_mm"] for i in ids]),
        "convention": CONVENTION,
    }


def is_fused(reference: Volume) -> bool:
    """True when the reference holds brain tissue ids (a fused twin), not only ids 1-12."""
    return bool((np.asarray(reference.data) > CRANIOFACIAL_MAX_ID).any())


def twin_scores(reference: Volume, twin: Volume, craniofacial: Volume) -> dict[str, Any]:
    """Score the fused `twin` or the `craniofacial` map, whichever the reference describes."""
    fused = is_fused(reference)
    scored = score_maps(reference, twin if fused else craniofacial)
    scored["compared"] = "fused twin" if fused else "craniofacial/CNS labels (before fusion)"
    return scored


def case_reference(case: Case) -> tuple[Volume | None, str]:
    """A case's own labels as a reference (its brain layers fused in, as the twin is), and a
    word on what it is; (None, why) for a case without labels."""
    if case.labels is None:
        return None, "no labels on this case: rows are scored against the fully sampled twin"
    if case.brain.get("tissue") is not None:
        from headtwin_app.core.seg.fusion import fuse_twin

        return fuse_twin(case.labels, dict(case.brain)).twin, "the case's labels + brain layers"
    return case.labels, "the case's craniofacial/CNS labels"


def load_reference(path: str | os.PathLike[str]) -> Volume:
    """A reference label map: a file, or a case folder (labels.nii.gz with brain layers beside
    it, as `headtwin phantom` writes), whose truth twin is fused by the same rule as the app's."""
    from headtwin_app.core.labelmap import load_label_map

    p = Path(path)
    if not p.is_dir():
        return load_label_map(p)
    from headtwin_app.core.seg.fusion import fuse_twin, load_brain_dir

    labels = p / "labels.nii.gz"
    if not labels.exists():
        raise ValueError(f"{p}: a reference folder needs labels.nii.gz")
    cf = load_label_map(labels)
    try:
        brain = load_brain_dir(p)
    except ValueError:
        return cf
    return fuse_twin(cf, brain).twin
