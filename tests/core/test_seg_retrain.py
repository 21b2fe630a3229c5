"""The retrain loop: train the built-in model on a project's accepted cases, use it next."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from headtwin_app.core.project import Project
from headtwin_app.core.seg.backend import Progress
from headtwin_app.core.seg.retrain import accepted_cases, retrain_project
from headtwin_app.core.volume import Volume

TINY = {"base": 4, "depth": 2, "patch": 16, "batch": 1, "iterations": 3, "spacing_mm": 2.0,
        "threads": 1}


def head(seed: int) -> tuple[Volume, np.ndarray]:
    rng = np.random.default_rng(seed)
    img = rng.normal(100, 5, (32, 32, 32)).astype(np.float32)
    lab = np.zeros(img.shape, np.int16)
    lab[8:16, 8:20, 8:16] = 5
    lab[18:26, 10:22, 14:24] = 12
    img[lab == 5] += 60
    img[lab == 12] -= 40
    return Volume.from_spacing(img), lab


def make_project(tmp_path: Path) -> Project:
    proj = Project.create(tmp_path / "p")
    for n, name in enumerate(("accepted", "pending")):
        img, lab = head(n)
        proj.add_case(name, img)
        proj.save_proposal(name, img.with_data(lab), source="test")
        proj.save_labels(name, lab)
    rec = proj.record("accepted")
    for structure in list(rec.review):
        rec.set_review(structure, "accepted")
    proj.save_record(rec)
    return proj


def test_only_accepted_cases_train(tmp_path: Path) -> None:
    proj = make_project(tmp_path)
    assert [c.name for c in accepted_cases(proj)] == ["accepted"]
    gen = retrain_project(proj, init_from=None, **TINY)
    steps = []
    try:
        while True:
            steps.append(next(gen))
    except StopIteration as stop:
        backend = stop.value
    assert all(isinstance(s, Progress) for s in steps) and steps[-1].stage == "done"
    weights = proj.root / "models" / "seg_builtin_retrained.pt"
    assert weights.exists()
    img, _ = head(5)
    pred = backend.predict(img)
    assert pred.shape == img.shape
    np.testing.assert_allclose(pred.affine, img.affine)


def test_no_accepted_case_is_a_clear_error(tmp_path: Path) -> None:
    proj = Project.create(tmp_path / "empty")
    with pytest.raises(ValueError, match="no accepted cases"):
        next(retrain_project(proj, init_from=None, **TINY))


def test_retrained_model_keeps_the_fine_stage_it_continued_from(tmp_path: Path) -> None:
    from headtwin_app.core.seg.backend import TrainingCase
    from headtwin_app.core.seg.builtin import BuiltinUNetBackend, refine_path

    proj = make_project(tmp_path)
    img, lab = head(0)
    start = tmp_path / "start.pt"
    base = BuiltinUNetBackend(start, device="cpu")
    list(base.train([TrainingCase("a", img, img.with_data(lab))], start, **TINY))
    list(base.train_refiner([TrainingCase("a", img, img.with_data(lab))], refine_path(start),
                            base=4, depth=2, patch=16, iterations=2, batch=1, spacing_mm=1.0))
    gen = retrain_project(proj, init_from=start, **TINY)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        backend = stop.value
    assert backend.weights == proj.root / "models" / "seg_builtin_retrained.pt"
    assert backend.refine_weights == refine_path(start)
    assert backend.predict(img).shape == img.shape
