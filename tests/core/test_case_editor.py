"""CaseEditor, headless: case lifecycle, time on task, autosave, proposal and review (merge when
the annotator painted), auto-label, the case queue by uncertainty, import that skips label maps,
a named new project, and edit effort per retrain round."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from headtwin_app.core.edit.case_editor import CaseEditor, NeedsPath, Proposal, as_backend
from headtwin_app.core.edit_effort import edit_effort, write_effort_plot
from headtwin_app.core.io import save_volume
from headtwin_app.core.project import Project, looks_like_label_map
from headtwin_app.core.seg.backend import Progress
from headtwin_app.core.volume import Volume


def image(shape=(12, 14, 10), seed=0) -> Volume:
    rng = np.random.default_rng(seed)
    return Volume.from_spacing(rng.random(shape).astype(np.float32) * 100, (1.0, 1.0, 2.0))


def two_blobs(img: Volume) -> Volume:
    lab = np.zeros(img.shape, np.int16)
    lab[2:6, 2:7, 2:5] = 5
    lab[8:11, 8:12, 4:8] = 12
    return img.with_data(lab)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def editor(tmp_path: Path) -> CaseEditor:
    proj = Project.create(tmp_path / "proj", name="Test")
    proj.add_case("a", image(), reference=two_blobs(image()))
    proj.add_case("b", image(seed=1))
    ed = CaseEditor(clock=Clock())
    ed.open_project(proj.root)
    ed.set_model(lambda img: two_blobs(img), "blobs")
    return ed


def paint_box(ed: CaseEditor, label: int, box: tuple[slice, ...]) -> None:
    """A 'stroke' through the session's own API (one undo step)."""
    assert ed.session is not None
    where = np.zeros(ed.session.labels.shape, bool)
    where[box] = True
    cand = np.where(where, label, ed.session.labels).astype(np.int16)
    ed.committed(ed.session.take_where(cand, where, "paint"))


def test_open_edit_save_counts_time_and_edits(editor: CaseEditor) -> None:
    editor.open_case("a")
    clock = editor._clock
    assert isinstance(clock, Clock)
    clock.t += 90.0
    paint_box(editor, 5, (slice(0, 2), slice(0, 2), slice(0, 2)))
    assert editor.dirty and editor.record is not None and editor.record.edit_count == 1
    assert editor.save() == "saved a"
    assert not editor.dirty
    rec = editor.project.record("a")  # type: ignore[union-attr]
    assert rec.seconds_spent == pytest.approx(90.0) and rec.edits_per_structure == {"masseter": 1}
    assert editor.project.has_labels("a")  # type: ignore[union-attr]


def test_autosave_then_reopen_restores_unsaved_edits(editor: CaseEditor) -> None:
    editor.open_case("a")
    assert not editor.autosave()  # nothing to write yet
    paint_box(editor, 12, (slice(0, 3), slice(0, 3), slice(0, 3)))
    assert editor.autosave()
    editor.open_case("b")  # switching cases autosaves too (nothing new here)
    messages = editor.open_case("a")
    assert "restored unsaved edits" in messages[0]
    assert editor.dirty and int((editor.session.labels == 12).sum()) == 27  # type: ignore


def test_outside_a_project_save_needs_a_path(tmp_path: Path) -> None:
    ed = CaseEditor()
    ed.open_image(image(), "loose")
    with pytest.raises(NeedsPath):
        ed.save()
    out = tmp_path / "loose_labels.nii.gz"
    assert ed.save_as(out).endswith(str(out)) and out.exists()


def test_proposal_review_accept_reject_and_merge(editor: CaseEditor) -> None:
    editor.open_case("a")
    steps = editor.iter_proposal()
    progress = []
    try:
        while True:
            progress.append(next(steps))
    except StopIteration as stop:
        proposal = stop.value
    assert all(isinstance(p, Progress) for p in progress) and progress
    assert editor.take_proposal(Proposal(proposal.labels, scores={5: 0.4, "spinal_cord": 0.1})
                                ) == [5, 12]
    rows = editor.review_rows()
    assert [r.label for r in rows] == [5, 12]  # most uncertain first
    assert rows[0].status == "pending" and rows[0].uncertainty == pytest.approx(0.4)
    # the annotator paints masseter outside the proposal: accept must not silently drop it
    paint_box(editor, 5, (slice(0, 1), slice(12, 14), slice(0, 2)))
    assert editor.manual_voxels(5) == 4
    editor.review(5, "accepted", merge=True)
    lab = editor.session.labels  # type: ignore[union-attr]
    assert int((lab == 5).sum()) == 4 * 5 * 3 + 4
    assert editor.record.review["masseter"] == "edited"  # type: ignore[union-attr]
    editor.review(12, "rejected")
    assert int((lab == 12).sum()) == 0 and editor.pending() == []
    editor.save()
    rec = editor.project.record("a")  # type: ignore[union-attr]
    assert rec.proposal_round == 0 and rec.changes["spinal_cord"]["removed"] == 3 * 4 * 4
    assert rec.uncertainty == {"masseter": 0.4, "spinal_cord": 0.1}


def test_plain_accept_replaces_manual_voxels(editor: CaseEditor) -> None:
    editor.open_case("a")
    editor.take_proposal(two_blobs(editor.session.image))  # type: ignore[union-attr]
    paint_box(editor, 5, (slice(0, 1), slice(12, 14), slice(0, 2)))
    editor.review(5, "accepted")
    assert int((editor.session.labels == 5).sum()) == 4 * 5 * 3  # type: ignore[union-attr]


def test_backend_interface_wraps_functions_and_backends() -> None:
    class Stepped:
        name = "stepped"

        def predict(self, img: Volume) -> Volume:
            return two_blobs(img)

        def iter_predict(self, img: Volume):  # type: ignore[no-untyped-def]
            yield Progress("a", 0.5, "half")
            yield two_blobs(img)

    model = Stepped()
    assert as_backend(model) is model and as_backend(model.predict) is model
    wrapped = as_backend(lambda img: two_blobs(img).data, "np")
    items = list(wrapped.iter_predict(image()))
    assert isinstance(items[0], Progress) and isinstance(items[-1], Volume)


def test_auto_label_and_queue_sorted_by_uncertainty(editor: CaseEditor) -> None:
    steps = list(editor.iter_auto_label())
    assert [s.status for s in steps] == ["labelled", "labelled", "report"]
    project = editor.project
    assert project is not None
    for name, score in (("a", 0.2), ("b", 0.6)):
        rec = project.record(name)
        rec.uncertainty = {"masseter": score}
        project.save_record(rec)
    assert [r.name for r in editor.case_rows("uncertainty")] == ["b", "a"]
    assert [r.name for r in editor.case_rows()] == ["a", "b"]
    with pytest.raises(ValueError):
        editor.case_rows("size")


def test_import_takes_case_folder_and_never_label_maps(editor: CaseEditor,
                                                       tmp_path: Path) -> None:
    sample = tmp_path / "sample"
    img = image(seed=3)
    save_volume(img, sample / "image.nii.gz")
    for stem in ("labels", "brain_tissue", "brain_regions", "brain_hemispheres"):
        save_volume(two_blobs(img), sample / f"{stem}.nii.gz")
    steps = list(editor.iter_import(sample))
    assert [s.status for s in steps] == ["added"] and steps[0].case == "sample"
    loose = tmp_path / "loose"
    save_volume(image(seed=4), loose / "head_t1.nii.gz")
    save_volume(two_blobs(img), loose / "head_t1_seg.nii.gz")
    save_volume(two_blobs(img), loose / "scan2.nii.gz")  # a label map under an image's name
    status = {s.case: s.status for s in editor.iter_import(loose)}
    assert status == {"head_t1": "added", "head_t1_seg": "skipped", "scan2": "skipped"}
    assert looks_like_label_map(two_blobs(img).data) and not looks_like_label_map(img.data)


def test_new_project_is_named_and_in_its_own_folder(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "notes.txt").write_text("x")
    ed = CaseEditor()
    project = ed.create_project(tmp_path / "work", "Heads 2026")
    assert project.name == "Heads 2026" and project.root == tmp_path / "work" / "Heads 2026"
    assert Project.open(project.root).name == "Heads 2026"


def test_edit_effort_per_round(editor: CaseEditor, tmp_path: Path) -> None:
    project = editor.project
    assert project is not None
    clock = editor._clock
    assert isinstance(clock, Clock)
    for name, edits in (("a", 6), ("b", 2)):
        editor.open_case(name)
        editor.take_proposal(two_blobs(editor.session.image))  # type: ignore[union-attr]
        for label in editor.pending():
            editor.review(label, "accepted")
        clock.t += 120.0
        paint_box(editor, 5, (slice(0, 1), slice(0, edits), slice(0, 1)))
        editor.save()
        if name == "a":
            project.advance_model_round()
    rows = edit_effort(project)
    assert [(r.round, r.cases) for r in rows] == [(0, 1), (1, 1)]
    assert rows[0].voxels_per_case == 6 and rows[1].voxels_per_case == 2
    assert rows[0].minutes_per_case == pytest.approx(2.0)
    png = write_effort_plot(rows, tmp_path / "effort.png")
    assert png.stat().st_size > 1000


def test_probability_grid_matches_the_models_upsampling() -> None:
    import torch
    import torch.nn.functional as F

    from headtwin_app.core.seg.prob_grid import ProbabilityGrid

    coarse = np.random.default_rng(1).random((3, 5, 6, 4)).astype(np.float32)
    shape = (10, 12, 8)
    full = F.interpolate(torch.from_numpy(coarse)[None], size=shape, mode="trilinear",
                         align_corners=False)[0].numpy()
    grid = ProbabilityGrid(coarse, shape)
    assert grid.shape == (3, *shape) and grid.ndim == 4
    box = (slice(2, 9), slice(0, 12), slice(3, 5))
    np.testing.assert_allclose(grid[(1, *box)], full[(1, *box)], atol=1e-5)


def blob_image() -> tuple[Volume, np.ndarray]:
    """A bright ball (the 'structure') in a dark, noisy background, and its truth."""
    i, j, k = np.meshgrid(*[np.arange(n) for n in (40, 40, 30)], indexing="ij")
    truth = (i - 20) ** 2 + (j - 20) ** 2 + ((k - 15) * 1.2) ** 2 < 8**2
    rng = np.random.default_rng(0)
    data = np.where(truth, 800.0, 200.0) + rng.normal(0, 20, truth.shape)
    return Volume.from_spacing(data.astype(np.float32)), truth


def test_grow_preview_regrow_accept_and_undo() -> None:
    from headtwin_app.core.edit.session import BACKGROUND_SEED
    from headtwin_app.core.metrics_seg import dice_per_label

    img, truth = blob_image()
    ed = CaseEditor()
    ed.open_image(img, "blob")
    s = ed.session
    assert s is not None
    with pytest.raises(ValueError, match="draw seeds first"):
        ed.grow()
    s.settings.tool, s.settings.label, s.settings.radius = "seed", 8, 1.0
    s.begin_stroke((20, 18, 15), 2)
    s.continue_stroke((20, 22, 15))
    s.end_stroke()
    s.settings.seed_background = True
    s.begin_stroke((6, 6, 15), 2)
    s.continue_stroke((6, 34, 15))
    s.end_stroke()
    first = ed.grow()
    assert first.what == "grow" and first.counts[8] > 0 and not s.labels.any()  # a preview only
    s.begin_stroke((34, 6, 15), 2)  # more background seeds: re-grow
    s.continue_stroke((34, 34, 15))
    s.end_stroke()
    second = ed.grow()
    assert second.counts[8] > 0
    diff = ed.accept_preview()
    assert len(diff) and ed.preview is None and s.seeds is None
    dice = dice_per_label(truth.astype(np.int16) * 8, s.labels)[8]
    assert dice > 0.9
    assert ed.record is not None and ed.record.edit_count == 1
    s.undo()
    assert not s.labels.any()
    assert BACKGROUND_SEED == 255


def test_fill_between_preview_then_cancel_or_accept() -> None:
    img, _truth = blob_image()
    ed = CaseEditor()
    ed.open_image(img, "blob")
    s = ed.session
    assert s is not None
    for z in (10, 20):
        s.labels[15:25, 15:25, z] = 4
    before = s.labels.copy()
    preview = ed.fill_between(4, axis=2)
    assert preview.counts[4] == 9 * 100 and np.array_equal(s.labels, before)
    ed.cancel_preview()
    assert ed.preview is None and np.array_equal(s.labels, before)
    ed.fill_between(4, axis=2)
    ed.accept_preview()
    assert (s.labels[15:25, 15:25, 10:21] == 4).all() and not (s.labels[:, :, 21:] == 4).any()
    with pytest.raises(ValueError, match="nothing to interpolate"):
        ed.fill_between(5, axis=2)


def run(gen):  # type: ignore[no-untyped-def]
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value


def test_builtin_proposal_with_uncertainty_ranks_review_and_feeds_grow() -> None:
    from headtwin_app.core.phantom import make_phantom
    from headtwin_app.core.seg import get_backend

    ph = make_phantom(905, spacing=3.0)
    eyes = np.argwhere(ph.labels.data == 8)
    lo = np.maximum(eyes.min(0) - 6, 0)
    box = tuple(slice(a, a + 24) for a in lo)  # 72 mm around the eyes: a quick model run
    image = Volume.from_spacing(np.ascontiguousarray(ph.image.data[box]), ph.image.spacing)
    truth = ph.labels.data[box]
    ed = CaseEditor()
    ed.open_image(image, "p905")
    ed.set_model(get_backend("builtin", refine=False), "built-in")
    proposal = run(ed.iter_proposal(uncertainty=True))
    assert proposal.uncertainty is not None and proposal.uncertainty.shape == image.shape
    assert 0.0 <= proposal.uncertainty.min() and proposal.uncertainty.max() <= 1.0
    grid, ids = proposal.probabilities
    assert grid.shape == (len(ids), *image.shape)
    ed.take_proposal(proposal)
    rows = ed.review_rows()
    scored = [r.uncertainty for r in rows if r.uncertainty is not None]
    assert scored and scored == sorted(scored, reverse=True)
    # the model's confident voxels join one eyeball scribble as seeds
    s = ed.session
    assert s is not None
    eye = np.argwhere(truth == 8)[0]
    s.seeds = np.zeros(s.labels.shape, np.int16)
    s.seeds[tuple(eye)] = 8
    preview = ed.grow(use_prior=True)
    assert preview.counts[8] > 1


def test_opening_another_project_detaches_the_open_case(editor: CaseEditor,
                                                        tmp_path: Path) -> None:
    editor.open_case("a")
    paint_box(editor, 5, (slice(0, 2), slice(0, 2), slice(0, 2)))
    other = Project.create(tmp_path / "other")
    editor.open_project(other.root)
    assert editor.case_name is None and editor.session is not None
    with pytest.raises(NeedsPath):
        editor.save()
    assert not (other.root / "cases" / "a").exists()


def test_builtin_proposal_without_views_still_scores_every_structure() -> None:
    """Issue 16: a per-structure confidence with every proposal — without test-time views the
    built-in model's own probabilities give it (expected 1 - Dice), and plausibility comes along."""
    from headtwin_app.core.phantom import make_phantom
    from headtwin_app.core.seg import get_backend

    ph = make_phantom(906, spacing=3.0)
    eyes = np.argwhere(ph.labels.data == 8)
    lo = np.maximum(eyes.min(0) - 6, 0)
    box = tuple(slice(a, a + 24) for a in lo)
    image = Volume.from_spacing(np.ascontiguousarray(ph.image.data[box]), ph.image.spacing)
    ed = CaseEditor()
    ed.open_image(image, "p906")
    ed.set_model(get_backend("builtin", refine=False), "built-in")
    proposal = run(ed.iter_proposal())
    present = {ed.table.name_of(int(i)) for i in np.unique(proposal.labels.data) if i > 0}
    assert present and present <= set(proposal.scores)
    assert all(0.0 <= v <= 1.0 for v in proposal.scores.values())
    assert proposal.plausibility is not None
