"""The data engine's retrain step: train the built-in model on a project's accepted cases.

Called by the labelling workspace ("Retrain on accepted cases"): a generator yielding `Progress`
(stop iterating to cancel: nothing is saved) that returns the retrained backend, so the next
proposals come from the new model. By default it continues from the shipped weights, and the
shipped 1 mm fine stage stays behind the retrained coarse model.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

from headtwin_app.core.project import Project
from headtwin_app.core.seg.backend import MODELS_DIR, Progress, TrainingCase, get_backend
from headtwin_app.core.seg.builtin import refine_path

SHIPPED = MODELS_DIR / "seg_builtin.pt"
RETRAINED_NAME = "seg_builtin_retrained.pt"


def accepted_cases(project: Project) -> list[TrainingCase]:
    """Every case whose labels exist and whose structures are all accepted or edited."""
    cases = []
    for name in project.case_names():
        if project.is_accepted(name):
            opened = project.open_case(name)
            cases.append(TrainingCase(name, opened.image, opened.labels))
    return cases


def retrain_project(project: Project, out: str | os.PathLike[str] | None = None,
                    init_from: str | os.PathLike[str] | None = SHIPPED,
                    **train_options: Any) -> Generator[Progress, None, Any]:
    """Fine-tune the built-in U-Net on `project`'s accepted cases; returns the new backend.

    Args:
        out: where the weights go (default: `<project>/models/seg_builtin_retrained.pt`).
        init_from: weights to continue from (same labels and architecture), or None to train
            from scratch.
        train_options: `TrainConfig` fields (iterations, lr, time_limit_s, ...).
    """
    cases = accepted_cases(project)
    if not cases:
        raise ValueError("no accepted cases to train on: accept every structure of at least "
                         "one case in the Review tab first")
    target = Path(out) if out is not None else project.root / "models" / RETRAINED_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    options = {"iterations": 200, "lr": 1e-3, "time_limit_s": 15 * 60.0, **train_options}
    if init_from is not None and Path(init_from).exists():
        options.setdefault("init_from", str(init_from))
    yield Progress("prepare", 0.0, f"retraining on {len(cases)} accepted case(s)")
    backend = get_backend("builtin")
    yield from backend.train(cases, target, **options)
    yield Progress("done", 1.0, f"saved {target}")
    # the fine stage learned to correct the model this one continued from; it keeps doing so
    fine = refine_path(init_from) if init_from is not None else None
    if fine is not None and fine.exists():
        return get_backend("builtin", model=target, refine=fine)
    return get_backend("builtin", model=target)
