"""Error propagation: what an acceleration does to the twin, row by (family, R, method).

Each row undersamples the fully sampled image, reconstructs it, segments and fuses it exactly as
`headtwin pipeline` does, and scores the twin twice: against the reference labels (the truth)
and against the twin built from the fully sampled image (what the acceleration alone changed).
Rows run through `core.cohort.iter_map`, so Dask spreads them over workers when asked.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from headtwin_app.core.pipeline import (
    PipelineConfig,
    brain_volume,
    image_metrics,
    reconstruct_volume,
    segment_volume,
)
from headtwin_app.core.recon.predict import run_to_end
from headtwin_app.core.seg.backend import Progress
from headtwin_app.core.seg.fusion import fuse_twin
from headtwin_app.core.twin_score import is_fused, twin_scores
from headtwin_app.core.volume import Volume

SCORE_KEYS = ("mean_dice", "mean_hd95_mm", "mean_assd_mm")


@dataclass(frozen=True)
class TwinOf:
    """A twin built from one image: craniofacial labels and the fused map."""

    labels: Volume
    twin: Volume


def build_twin(image: Volume, cfg: PipelineConfig) -> TwinOf:
    """Segment and (with cfg.brain) fuse the atlas brain layers: the pipeline's later stages."""
    labels = run_to_end(segment_volume(image, cfg))
    if not cfg.brain:
        return TwinOf(labels, labels)
    return TwinOf(labels, fuse_twin(labels, run_to_end(brain_volume(image))).twin)


@dataclass(frozen=True)
class RowTask:
    """Everything one sweep row needs (shared volumes are read, never written)."""

    image: Volume
    reference: Volume
    full: TwinOf
    cfg: PipelineConfig

    def __str__(self) -> str:
        return f"{self.cfg.family} R {self.cfg.accel:g} {self.cfg.method}"


def _scores(reference: Volume, twin: TwinOf) -> dict[str, Any]:
    s = twin_scores(reference, twin.twin, twin.labels)
    return {**{k: s[k] for k in SCORE_KEYS}, "dice": s["dice"], "hd95_mm": s["hd95_mm"],
            "assd_mm": s["assd_mm"]}


def run_row(task: RowTask) -> dict[str, Any]:
    """One (family, R, method): image metrics, twin scores against truth and fully sampled."""
    from headtwin_app.core.masks import achieved_accel

    t0 = time.perf_counter()
    row: dict[str, Any] = {"family": task.cfg.family, "accel": task.cfg.accel,
                           "method": task.cfg.method}
    try:
        recon, mask = run_to_end(reconstruct_volume(task.image, task.cfg))
        twin = build_twin(recon, task.cfg)
    except ValueError as exc:  # e.g. an R this grid cannot reach within 2 %: say so, go on
        return {**row, "accel_achieved": None, "psnr": None, "ssim": None, "vs_truth": None,
                "vs_full": None, "seconds": round(time.perf_counter() - t0, 2),
                "error": str(exc)}
    return {**row, "accel_achieved": round(achieved_accel(mask), 4),
            **{k: round(v, 4) for k, v in image_metrics(task.image, recon).items()},
            "vs_truth": _scores(task.reference, twin),
            "vs_full": _scores(twin_scores_reference(task.full, task.reference), twin),
            "seconds": round(time.perf_counter() - t0, 2), "error": None}


def twin_scores_reference(full: TwinOf, reference: Volume) -> Volume:
    """The fully sampled twin as a reference of the same kind as the truth (fused or not)."""
    return full.twin if is_fused(reference) else full.labels


def iter_twin_sweep(image: Volume, reference: Volume | None, families: Sequence[str],
                    accels: Sequence[float], methods: Sequence[str],
                    base: PipelineConfig | None = None, scheduler: str | None = None,
                    workers: int = 2) -> Generator[Progress, None, dict[str, Any]]:
    """The fully sampled twin first, then one row per (family, R, method).

    Without a reference (a real scan has no truth) the fully sampled twin stands in for it, and
    the result says so under "reference".
    Returns {"full": scores of the fully sampled twin against the truth, "rows": [...],
    "reference": "truth" | "fully sampled twin"}.
    """
    from headtwin_app.core.cohort import iter_map
    from headtwin_app.core.masks import get_family

    for f in families:
        get_family(f)  # a bad name fails before any work
    base = base or PipelineConfig()
    yield Progress("full", 0.0, "twin from the fully sampled image")
    full = build_twin(image, base)
    against = "truth" if reference is not None else "fully sampled twin"
    if reference is None:
        reference = full.twin
    tasks = [RowTask(image, reference, full, replace(base, family=f, accel=float(r), method=m))
             for f, r, m in itertools.product(families, accels, methods)]
    rows = yield from iter_map(run_row, tasks, scheduler, workers, what="row")
    return {"full": _scores(reference, full), "rows": rows, "reference": against}
