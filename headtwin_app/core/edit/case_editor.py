"""The labelling workspace's logic as one headless object (Slicer's Logic half): the project, the
open case and its editing session, its record and time on task, saving and autosave, model
proposals and their review, auto-labelling and retraining.

The Qt widget only turns events into calls here and draws what comes back; tests drive this
class directly. Long operations are generators (`iter_*`): a worker runs them, shows their
progress and cancels by closing them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from headtwin_app.core.edit.diff import LabelDiff
from headtwin_app.core.edit.session import BACKGROUND_SEED, LabellingSession
from headtwin_app.core.labels import LabelTable, default_label_table
from headtwin_app.core.project import (
    AutoLabelProgress,
    CaseRecord,
    ImportStep,
    Project,
    auto_label,
    check_labels,
    read_labels,
)
from headtwin_app.core.seg.backend import Progress
from headtwin_app.core.volume import Volume

REVIEW_OK = ("accepted", "edited")


class FunctionBackend:
    """A plain function image → labels seen through the backend interface (`predict` and
    `iter_predict`), so the editor treats every model alike."""

    def __init__(self, predict: Callable[[Volume], Any], name: str = "custom model"):
        self._predict = predict
        self.name = name

    def predict(self, image: Volume) -> Volume:
        out = self._predict(image)
        return out if isinstance(out, Volume) else image.with_data(np.asarray(out))

    def iter_predict(self, image: Volume) -> Iterator[Progress | Volume]:
        yield Progress("predict", 0.0, f"{self.name}: predicting")
        yield self.predict(image)


def as_backend(model: Any, name: str | None = None) -> Any:
    """A backend (has `iter_predict`), the bound `predict` of one, or a plain function → an
    object with `predict` and `iter_predict`."""
    if callable(getattr(model, "iter_predict", None)):
        return model
    owner = getattr(model, "__self__", None)
    if callable(getattr(owner, "iter_predict", None)) and getattr(model, "__name__", "") == \
            "predict":
        return owner
    if callable(model):
        return FunctionBackend(model, name or "custom model")
    raise ValueError("a model must be a segmentation backend or a function image → labels")


def default_backend(project: Project | None = None) -> tuple[Any | None, str]:
    """The built-in model — the project's retrained one when it has one — or (None, why)."""
    try:
        from headtwin_app.core.seg import get_backend
        from headtwin_app.core.seg.builtin import refine_path
        from headtwin_app.core.seg.retrain import RETRAINED_NAME, SHIPPED

        if project is not None and (project.root / "models" / RETRAINED_NAME).exists():
            weights = project.root / "models" / RETRAINED_NAME
            fine = refine_path(SHIPPED)
            retrained = get_backend("builtin", model=weights,
                                    refine=fine if fine.exists() else False)
            return retrained, f"built-in model retrained (round {project.model_round})"
        backend: Any = get_backend("builtin")
        backend.load()  # missing weights show here, not in the middle of a proposal
        return backend, "built-in model"
    except Exception as exc:  # no torch, no weights: say why, the editor still works
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, f"no segmentation model installed ({reason[:120]})"


@dataclass(frozen=True)
class ReviewRow:
    """One structure of the proposal in the review list."""

    label: int
    name: str
    title: str
    status: str
    added: int | None
    removed: int | None
    uncertainty: float | None


@dataclass(frozen=True)
class CaseRow:
    """One case of the project's queue."""

    name: str
    stage: str
    review: str
    labelled: bool
    uncertainty: float | None


@dataclass(frozen=True)
class Preview:
    """A computed edit shown before it is taken: `labels` at the voxels of `where` (a grow or a
    fill between slices); `counts` voxels per structure, `seconds` to compute."""

    what: str
    labels: np.ndarray
    where: np.ndarray
    counts: dict[int, int]
    seconds: float
    scale: int = 1  # >1: a grow preview on a grid that much coarser


@dataclass
class Proposal:
    """A model's proposal: labels, and when known the per-voxel uncertainty (0..1), the
    per-structure scores (expected 1 - Dice, by name or id) and the class probabilities (an
    array-like (C, X, Y, Z) with its label ids) that Grow from seeds can use as a prior."""

    labels: Volume
    uncertainty: np.ndarray | None = None
    scores: dict[Any, float] = field(default_factory=dict)
    probabilities: tuple[Any, list[int]] | None = None
    plausibility: Any = None  # core.seg.plausibility.PlausibilityReport of the labels


def proposal_plausibility(labels: Volume, table: LabelTable) -> Any:
    """The anatomical plausibility of a proposal (`core.seg.plausibility`), None when the label
    table has none of the craniofacial/CNS structures."""
    from headtwin_app.core.seg.plausibility import check_plausibility

    try:
        return check_plausibility(labels, table)
    except ValueError:
        return None


class NeedsPath(Exception):
    """Saving a case outside a project: the caller must ask for a file (`save_as`)."""


class CaseEditor:
    """Everything the labelling workspace does to cases, without Qt."""

    def __init__(self, table: LabelTable | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.table = table if table is not None else default_label_table()
        self.structures = self.table.layer("twin")
        self.project: Project | None = None
        self.case_name: str | None = None  # the project case open (None: a case outside it)
        self.session: LabellingSession | None = None
        self.record: CaseRecord | None = None
        self.source: Path | None = None  # where the open case came from (DICOM-SEG refers to it)
        self.backend: Any = None
        self.model_name = ""
        self.uncertainty: np.ndarray | None = None  # per-voxel, of the proposal's model
        self.probabilities: tuple[Any, list[int]] | None = None  # model's, for Grow
        self.plausibility: Any = None  # of the proposal taken (a PlausibilityReport)
        self.preview: Preview | None = None
        self._grower: Any = None
        self._clock = clock
        self._since = clock()

    # --- state ----------------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self.session is not None and self.session.dirty

    def take_seconds(self) -> float:
        """Time on task since the last save/autosave/open (added to the case record)."""
        now = self._clock()
        seconds, self._since = now - self._since, now
        return seconds

    def _start(self, session: LabellingSession, record: CaseRecord, name: str | None,
               source: Path | None) -> None:
        self.session, self.record, self.case_name, self.source = session, record, name, source
        self.uncertainty = None
        self.probabilities = None
        self.plausibility = None
        self.preview = None
        self._grower = None
        self._since = self._clock()

    # --- projects -------------------------------------------------------------------------------
    def create_project(self, folder: str | os.PathLike[str], name: str | None = None
                       ) -> Project:
        """Make a named project in `folder` (a new sub-folder named after it when `folder`
        exists and is not empty) and open it."""
        root = Path(folder)
        if name and root.is_dir() and any(root.iterdir()) and root.name != name:
            root = root / name
        project = Project.create(root, name=name)
        self._switch_project(project)
        return project

    def open_project(self, folder: str | os.PathLike[str]) -> Project:
        project = Project.open(folder)
        self._switch_project(project)
        return project

    def _switch_project(self, project: Project) -> None:
        """The open case of the previous project is autosaved and then stays open as a case
        outside any project (a save would otherwise go into the new project's folder)."""
        self.autosave()
        if project is not self.project and self.case_name is not None:
            self.case_name = None
        self.project = project

    def iter_import(self, folder: str | os.PathLike[str]) -> Iterator[ImportStep]:
        if self.project is None:
            raise ValueError("open or create a project before importing images")
        return self.project.iter_import(folder)

    def case_rows(self, sort: str = "name") -> list[CaseRow]:
        """The project's cases; `sort` "name" or "uncertainty" (most uncertain first, cases the
        model has not scored last) — label next what the model is least sure of."""
        if self.project is None:
            return []
        rows = []
        for name in self.project.case_names():
            try:
                rec = self.record if (name == self.case_name and self.record) else \
                    self.project.record(name)
            except ValueError:
                rec = CaseRecord(name)
            states = list(rec.review.values())
            done = sum(s in REVIEW_OK for s in states)
            review = f"{done}/{len(states)} ok" if states else "—"
            if "rejected" in states:
                review += ", rejected"
            score = case_uncertainty(rec.uncertainty)
            rows.append(CaseRow(name, rec.stage, review, self.project.has_labels(name), score))
        if sort == "uncertainty":
            rows.sort(key=lambda r: (r.uncertainty is None, -(r.uncertainty or 0.0), r.name))
        elif sort != "name":
            raise ValueError(f"sort by 'name' or 'uncertainty', not '{sort}'")
        return rows

    # --- cases ----------------------------------------------------------------------------------
    def open_image(self, image: Volume, name: str, labels: np.ndarray | None = None,
                   source: Path | None = None) -> None:
        """Label an image outside any project (the current case is autosaved first)."""
        self.autosave()
        if labels is not None:
            labels = check_labels(labels, image.shape, self.table, name)
        self._start(LabellingSession(image, labels, self.table), CaseRecord(name), None, source)

    def open_case(self, name: str) -> list[str]:
        """Open a project case (autosaving the current one first); returns what happened on
        opening (e.g. an autosave restored). A bad file raises and the current case stays."""
        if self.project is None:
            raise ValueError("no project is open")
        self.autosave()
        opened = self.project.open_case(name)
        session = LabellingSession(opened.image, opened.labels.data, self.table,
                                   None if opened.proposal is None else opened.proposal.data,
                                   None if opened.reference is None else opened.reference.data)
        session.dirty = opened.restored_autosave
        self._start(session, opened.record, name, self.project.case_dir(name))
        return opened.messages or [f"opened {name}"]

    def save(self) -> str:
        """Save a project case atomically (labels, record, time on task, changes vs the
        proposal); `NeedsPath` outside a project. Failures raise and keep the labels here."""
        s = self.session
        if s is None:
            raise ValueError("no case is open")
        if self.project is None or self.case_name is None:
            raise NeedsPath()
        self.record = self.project.save_labels(self.case_name, s.labels, self.record,
                                               s.proposal, self.take_seconds())
        s.dirty = s.unsaved_since_autosave = False
        return f"saved {self.case_name}"

    def save_as(self, path: str | os.PathLike[str]) -> str:
        """Write the labels to a file (NIfTI, NRRD, .seg.nrrd, DICOM-SEG by the suffix), in the
        voxel grid of the file the image came from (a DICOM-SEG goes onto its series' slices)."""
        from headtwin_app.core.io.grid import to_source_grid
        from headtwin_app.core.segfile import save_label_file

        if self.session is None:
            raise ValueError("no case is open")
        labels = self.session.volume
        if Path(path).suffix.lower() != ".dcm":
            labels = to_source_grid(labels, self.session.image)
        save_label_file(labels, path, self.source, self.table)
        self.session.dirty = False
        return f"saved {path}"

    def autosave(self) -> bool:
        """Write unsaved labels of a project case to its autosave file; False when nothing to
        do. Failures raise OSError (the labels stay in memory)."""
        s = self.session
        if s is None or self.project is None or self.case_name is None:
            return False
        if not s.unsaved_since_autosave:
            return False
        self.project.autosave(self.case_name, s.labels, self.record, self.take_seconds())
        s.unsaved_since_autosave = False
        return True

    def load_labels(self, path: str | os.PathLike[str]) -> LabelDiff:
        """Replace the labels with a file's as one undo step (a bad file changes nothing)."""
        if self.session is None:
            raise ValueError("no case is open")
        vol = read_labels(path, self.session.image, self.table)
        return self.session.replace_labels(vol.data, f"load {Path(path).name}")

    def take_labels(self, data: np.ndarray, what: str) -> LabelDiff:
        """Labels made elsewhere (another workspace) as one undo step."""
        if self.session is None:
            raise ValueError("no case is open")
        data = check_labels(data, self.session.image.shape, self.table, what)
        return self.session.replace_labels(data, what)

    def committed(self, diff: LabelDiff) -> None:
        """Book a committed edit (stroke, fill, grow…) in the case record."""
        if len(diff) and self.record is not None:
            self.record.count_edit([self.table.name_of(i) for i in sorted(diff.labels_touched())])

    # --- grow from seeds, fill between slices (previewed, then accepted or cancelled) ---------
    def grow(self, use_prior: bool = False) -> Preview:
        """Preview of Grow from seeds: every seeded structure (the session's seed scribbles,
        255 = background) grown in a box around the seeds — on a coarser grid when the box is
        large, re-grown from the new seeds only after more scribbles. With `use_prior` and the
        model's probabilities (a proposal was made), its confident voxels join the seeds.
        `accept_preview` grows at full resolution and takes the result."""
        s = self.session
        if s is None:
            raise ValueError("no case is open")
        if s.seeds is None or not np.any((s.seeds > 0) & (s.seeds != BACKGROUND_SEED)):
            raise ValueError("draw seeds first: the Seeds tool (S) inside each structure, and "
                             "background seeds (tick Background) around it")
        grower = self._grower_for(use_prior)
        return self._grow_preview(grower.preview(s.seeds), "grow")

    def _grower_for(self, use_prior: bool) -> Any:
        from headtwin_app.core.edit.grow import Grower, Prior

        s = self.session
        assert s is not None
        want = self.probabilities if use_prior else None
        if self._grower is None or (self._grower.prior is not None) != (want is not None):
            prior = None if want is None else Prior(want[0], tuple(want[1]))
            self._grower = Grower(s.image.data, s.spacing, prior=prior)
        return self._grower

    def _grow_preview(self, result: Any, what: str) -> Preview:
        s = self.session
        assert s is not None
        labels = result.full(s.labels.shape)
        where = np.zeros(s.labels.shape, bool)
        where[result.box] = True
        # in the box: the grown voxels, and the seeded structures' voxels grown as background
        where &= (labels > 0) | np.isin(s.labels, list(result.voxels))
        self.preview = Preview(what, labels, where, dict(result.voxels), result.seconds,
                               int(getattr(result, "scale", 1)))
        return self.preview

    def fill_between(self, label: int, axis: int) -> Preview:
        """Fill `label` between the slices along `axis` where it is drawn (background only)."""
        import time as _time

        from headtwin_app.core.edit.fill_between import fill_between_slices

        s = self.session
        if s is None:
            raise ValueError("no case is open")
        start = _time.perf_counter()
        filled = fill_between_slices(s.labels, label, axis)
        where = (filled == label) & (s.labels == 0)
        self.preview = Preview("fill between slices", filled.astype(np.int16), where,
                               {label: int(where.sum())}, _time.perf_counter() - start)
        return self.preview

    def needs_full_grow(self) -> bool:
        """The preview is a coarse grow: accepting it first grows at full resolution (seconds
        for a large box — a GUI runs `iter_full_grow` in a worker first)."""
        return self.preview is not None and self.preview.what == "grow" and self.preview.scale > 1

    def iter_full_grow(self) -> Generator[Progress, None, Preview]:
        """Grow the previewed seeds at full resolution (one blocking ITK call) and show that;
        `accept_preview` then takes it at once."""
        s = self.session
        if s is None or self._grower is None or s.seeds is None:
            raise ValueError("there is no grow preview")
        yield Progress("grow", 0.0, "growing at full resolution")
        return self._grow_preview(self._grower.grow(s.seeds), "grow")

    def accept_preview(self) -> LabelDiff:
        """Take the preview as one undo step."""
        if self.session is None or self.preview is None:
            raise ValueError("there is no preview to accept")
        p = self.preview
        if self.needs_full_grow():
            from headtwin_app.core.seg.refine import run_to_end

            p = run_to_end(self.iter_full_grow())
        self.preview = None
        diff = self.session.take_where(p.labels, p.where, p.what)
        self.committed(diff)
        if p.what == "grow":
            self._grower = None
            self.session.clear_seeds()
        return diff

    def cancel_preview(self) -> None:
        self.preview = None

    # --- stage 2: proposals ---------------------------------------------------------------------
    def set_model(self, model: Any, name: str | None = None) -> None:
        """Use `model` (a backend, its `predict`, or a function image → labels) for proposals
        and auto-labelling; None goes back to the default model."""
        self.backend = None if model is None else as_backend(model, name)
        self.model_name = "" if model is None else str(name or getattr(self.backend, "name",
                                                                       "model"))

    def model(self) -> Any:
        """The model in use, found on first need; ValueError saying why when there is none."""
        if self.backend is None:
            backend, why = default_backend(self.project)
            if backend is None:
                raise ValueError(f"cannot make a proposal: {why}")
            self.backend, self.model_name = backend, why
        return self.backend

    def iter_proposal(self, uncertainty: bool = False) -> Generator[Progress, None, Proposal]:
        """The model's label map of the open image: progress per step (close to cancel). With
        `uncertainty` and the built-in model: test-time views (`core.seg.uncertainty`) give a
        per-voxel uncertainty and per-structure scores; the built-in model's coarse class
        probabilities come along for Grow from seeds."""
        if self.session is None:
            raise ValueError("no case is open")
        backend, image = self.model(), self.session.image
        builtin = getattr(backend, "name", "") == "builtin"
        if uncertainty and builtin:
            from headtwin_app.core.seg.uncertainty import iter_uncertainty

            est = yield from iter_uncertainty(backend, image)
            proposal = Proposal(est.labels, est.uncertainty.data, dict(est.scores))
        else:
            result = None
            for item in backend.iter_predict(image):
                if isinstance(item, Progress):
                    yield item
                else:
                    result = item
            if result is None:
                raise ValueError(f"{self.model_name} returned no label map")
            labels = result if isinstance(result, Volume) else image.with_data(np.asarray(result))
            proposal = Proposal(labels)
        yield Progress("plausibility", 1.0, "anatomical plausibility checks")
        proposal.plausibility = proposal_plausibility(proposal.labels, self.table)
        if builtin and callable(getattr(backend, "probabilities", None)):
            from headtwin_app.core.seg.prob_grid import ProbabilityGrid

            yield Progress("prior", 1.0, "class probabilities for Grow from seeds")
            coarse = backend.probabilities(image.data, image.spacing)[0].numpy()
            proposal.probabilities = (ProbabilityGrid(coarse, image.shape),
                                      list(backend.label_ids))
            if not proposal.scores:  # a confidence with every proposal, even without views
                from headtwin_app.core.seg.uncertainty import single_view_scores

                proposal.scores = single_view_scores(coarse, proposal.labels.data,
                                                     list(backend.label_ids))
        return proposal

    def take_proposal(self, proposal: Proposal | Volume | np.ndarray) -> list[int]:
        """Store a proposal (with the model's uncertainty and probabilities when it has them):
        every structure in it becomes pending. Returns its structures."""
        s, rec = self.session, self.record
        if s is None or rec is None:
            raise ValueError("no case is open")
        if not isinstance(proposal, Proposal):
            proposal = Proposal(proposal if isinstance(proposal, Volume)
                                else s.image.with_data(np.asarray(proposal)))
        data = check_labels(proposal.labels.data, s.image.shape, self.table, "the proposal")
        s.set_proposal(data)
        rec.uncertainty = {(self.table.name_of(k) if isinstance(k, int) else str(k)): float(v)
                           for k, v in proposal.scores.items()}
        self.uncertainty = proposal.uncertainty
        self.probabilities = proposal.probabilities
        self.plausibility = (proposal.plausibility if proposal.plausibility is not None
                             else proposal_plausibility(s.image.with_data(data), self.table))
        self._grower = None
        if self.project is not None and self.case_name is not None:
            self.record = self.project.save_proposal(self.case_name, s.image.with_data(data),
                                                     self.model_name, rec)
        else:
            rec.stage = "semi" if rec.stage == "manual" else rec.stage
            for i in s.proposal_structures():
                rec.review[self.table.name_of(i)] = "pending"
            rec.note("proposal", source=self.model_name)
        return s.proposal_structures()

    def review_rows(self, count_changes: bool = True, sort: str = "uncertainty"
                    ) -> list[ReviewRow]:
        """The proposal's structures with their review state, voxels added/removed by the
        annotator and the model's uncertainty; most uncertain first by default."""
        s, rec = self.session, self.record
        if s is None or rec is None or s.proposal is None:
            return []
        changes = s.changes() if count_changes else {}
        named = {lab.name: lab.id for lab in self.table}
        ids = sorted(set(s.proposal_structures()) | {named[n] for n in rec.review if n in named})
        rows = []
        for i in ids:
            name = self.table.name_of(i)
            c = changes.get(i)
            rows.append(ReviewRow(i, name, self.table[i].title, rec.review.get(name, "pending"),
                                  c["added"] if c else None, c["removed"] if c else None,
                                  rec.uncertainty.get(name)))
        if sort == "uncertainty":
            rows.sort(key=lambda r: (r.uncertainty is None, -(r.uncertainty or 0.0)))
        return rows

    def manual_voxels(self, label: int) -> int:
        """Voxels the annotator painted for `label` outside the proposal (a plain accept would
        drop them: ask first)."""
        return self.session.manual_voxels(label) if self.session is not None else 0

    def review(self, label: int, state: str, merge: bool = False) -> LabelDiff:
        """Accept (as proposed, or merged with the annotator's voxels) or reject a structure."""
        s, rec = self.session, self.record
        if s is None or rec is None or s.proposal is None:
            raise ValueError("there is no proposal to review")
        if state not in ("accepted", "rejected"):
            raise ValueError(f"review a structure as 'accepted' or 'rejected', not '{state}'")
        diff = s.accept(label, merge) if state == "accepted" else s.reject(label)
        rec.set_review(self.table.name_of(label), "edited" if merge and len(diff) else state)
        s.dirty = s.unsaved_since_autosave = True
        return diff

    def pending(self) -> list[int]:
        """Structures of the proposal still pending."""
        if self.session is None or self.record is None:
            return []
        return [i for i in self.session.proposal_structures()
                if self.record.review.get(self.table.name_of(i), "pending") == "pending"]

    # --- stage 3 and retraining -----------------------------------------------------------------
    def iter_auto_label(self, scheduler: str | None = "serial", workers: int = 2
                        ) -> Iterator[AutoLabelProgress]:
        """Label every unlabelled case of the project with the model (resumable), then the QC
        report; the open case is saved first if it has changes."""
        if self.project is None:
            raise ValueError("auto-labelling runs over a project's cases: open one first")
        backend = self.model()
        if self.dirty and self.case_name:
            self.save()
        return auto_label(self.project, backend.predict, source=self.model_name,
                          scheduler=scheduler, workers=workers)

    def iter_retrain(self, **options: Any) -> Generator[Any, None, Any]:
        """Fine-tune the built-in model on the project's accepted cases; the new model is used
        for the next proposals and the project's model round advances."""
        from headtwin_app.core.seg.retrain import retrain_project

        if self.project is None:
            raise ValueError("retraining uses a project's accepted cases: open one first")
        if self.dirty and self.case_name:
            self.save()
        backend = yield from retrain_project(self.project, **options)
        self.project.advance_model_round()
        self.set_model(backend, f"built-in model retrained (round {self.project.model_round})")
        return backend


def case_uncertainty(scores: dict[str, float]) -> float | None:
    """A case's model uncertainty: the mean of its structures' scores (None: not scored)."""
    if not scores:
        return None
    from headtwin_app.core.seg.uncertainty import case_score

    value = case_score(scores)
    return None if value != value else value


def preload_tools() -> None:
    """Load ITK's Grow-from-seeds and contour-interpolation wrappers (ITK loads them lazily, in
    seconds): a GUI calls this while it is idle so the first Grow answers at once."""
    import itk

    for name in ("FastGrowCut", "MorphologicalContourInterpolator"):
        getattr(itk, name)

