"""A labelling project on disk: a folder of cases with their labels, proposals and review records.

Layout::

    project.json                    name, label layer, creation time, format version
    cases/<name>/image.nii.gz       the image
    cases/<name>/labels.nii.gz      the current (saved) labels
    cases/<name>/labels.autosave.nii.gz   periodic autosave of unsaved edits
    cases/<name>/proposal.nii.gz    the model proposal (stage 2/3), if any
    cases/<name>/reference.nii.gz   a reference labelling (ground truth), if any
    cases/<name>/case.json          stage, per-structure review status, who/when, edit counts,
                                    seconds spent, voxels added/removed per structure vs proposal
    reports/qc_report.csv|html      the stage-3 QC report

Case files keep the imported file's voxel grid (its shape, affine and array order), so labels
and proposals overlay the original scan voxel for voxel in any viewer; cases are opened in RAS+
(`open_case`) and written back through `core.io.grid` (flips and transposes only).

Every file is written atomically (temporary file in the same folder, fsync, os.replace), so a
crash leaves either the old or the new file, never half of one. Opening a case whose autosave is
newer than its saved labels restores the autosave and says so.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from headtwin_app.core.atomic import atomic_write, atomic_write_text, remove_stale_temporaries
from headtwin_app.core.edit.diff import c_order, present_labels
from headtwin_app.core.edit.proposal import proposal_changes
from headtwin_app.core.errors import OutputError, describe_os_error
from headtwin_app.core.io.grid import (
    ras_order,
    ras_shape,
    source_meta,
    source_order,
    to_source_grid,
)
from headtwin_app.core.labelmap import label_array
from headtwin_app.core.labels import LabelTable, default_label_table
from headtwin_app.core.volume import Volume

PROJECT_FILE = "project.json"
FORMAT_VERSION = 1
STAGES = ("manual", "semi", "auto")
REVIEW_STATES = ("pending", "accepted", "edited", "rejected")
IMAGE, LABELS, AUTOSAVE = "image.nii.gz", "labels.nii.gz", "labels.autosave.nii.gz"
PROPOSAL, REFERENCE, RECORD = "proposal.nii.gz", "reference.nii.gz", "case.json"
IMAGE_SUFFIXES = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".dcm", ".npy")
_CASE_NAME = re.compile(r"[^A-Za-z0-9_\-]+")

Predictor = Callable[[Volume], Volume]
"""Anything that maps an image Volume to a label Volume on the same grid (a segmentation
backend's `predict`, or a plain function)."""

# Rough plausible volumes (ml) of the twin structures in an adult head, for QC flags only.
EXPECTED_ML: dict[str, tuple[float, float]] = {
    "skull": (150.0, 1500.0), "mandible": (15.0, 200.0), "tmj_articular_discs": (0.05, 5.0),
    "temporalis": (5.0, 200.0), "masseter": (5.0, 150.0), "medial_pterygoid": (1.0, 50.0),
    "lateral_pterygoid": (1.0, 50.0), "eyeballs": (5.0, 40.0), "upper_airway": (2.0, 200.0),
    "cervical_vertebrae": (10.0, 400.0), "cervical_discs": (0.5, 80.0),
    "spinal_cord": (1.0, 40.0),
}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def current_user() -> str:
    """Who is annotating (the login name; "" when the system cannot say)."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name in this environment
        return ""


def case_name_from(path: Path) -> str:
    """A safe case name from a file or folder name ("sub-01 T1.nii.gz" → "sub-01_T1")."""
    name = path.name
    for suffix in IMAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    name = _CASE_NAME.sub("_", name).strip("_")
    if not name:
        raise ValueError(f"{path}: cannot make a case name from this file name")
    return name


# --- atomic writes (core.atomic) ----------------------------------------------------------------
def atomic_save_volume(vol: Volume, path: str | os.PathLike[str], dtype: Any = None) -> Path:
    """Write `vol` as NIfTI atomically (labels as int16, images as float32 by default), in its
    on-disk order as given (no reorientation: project files are the project's own)."""
    data = np.asarray(vol.data if dtype is None else vol.data.astype(dtype, copy=False))
    return atomic_write(path, lambda tmp: nib.save(nib.Nifti1Image(data, vol.affine), str(tmp)))


# --- records -------------------------------------------------------------------------------------
@dataclass
class CaseRecord:
    """What case.json holds: the case's stage, review per structure (name → pending / accepted /
    edited / rejected), who/when, edit counts, time spent and the changes vs the proposal."""

    name: str
    stage: str = "manual"
    review: dict[str, str] = field(default_factory=dict)
    annotator: str = ""
    created: str = field(default_factory=now_iso)
    modified: str = ""
    saved: str = ""
    edit_count: int = 0
    edits_per_structure: dict[str, int] = field(default_factory=dict)
    seconds_spent: float = 0.0
    changes: dict[str, dict[str, int]] = field(default_factory=dict)
    proposal_source: str = ""
    proposal_time: str = ""
    auto_labelled: bool = False
    proposal_round: int = -1  # the project's model round that made the proposal (0 = shipped)
    uncertainty: dict[str, float] = field(default_factory=dict)  # per structure, of the model
    source: str = ""
    log: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"case '{self.name}': unknown stage '{self.stage}'")
        for struct, state in self.review.items():
            if state not in REVIEW_STATES:
                raise ValueError(f"case '{self.name}': unknown review state '{state}' for "
                                 f"{struct}")

    def set_review(self, structure: str, state: str) -> None:
        if state not in REVIEW_STATES:
            raise ValueError(f"unknown review state '{state}' (choose from "
                             f"{', '.join(REVIEW_STATES)})")
        self.review[structure] = state
        self.note("review", structure=structure, state=state)

    def count_edit(self, structures: list[str]) -> None:
        """One committed edit (a stroke, a fill, ...) touching `structures`."""
        self.edit_count += 1
        for s in structures:
            self.edits_per_structure[s] = self.edits_per_structure.get(s, 0) + 1
            if self.review.get(s) == "accepted":
                self.review[s] = "edited"
        self.modified = now_iso()

    def note(self, event: str, **info: Any) -> None:
        """Append an event to the case log (kept short: the last 500 events)."""
        self.log.append({"time": now_iso(), "event": event, **info})
        del self.log[:-500]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @staticmethod
    def from_dict(data: dict[str, Any], name: str) -> CaseRecord:
        known = {f for f in CaseRecord.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["name"] = name
        return CaseRecord(**values)


@dataclass
class OpenedCase:
    """A case loaded for editing: volumes on one grid, its record, and what happened on opening."""

    name: str
    image: Volume
    labels: Volume
    record: CaseRecord
    proposal: Volume | None = None
    reference: Volume | None = None
    restored_autosave: bool = False
    messages: list[str] = field(default_factory=list)


def check_labels(data: np.ndarray, image_shape: tuple[int, ...], table: LabelTable,
                 source: str) -> np.ndarray:
    """`data` as a C-contiguous int16 label array, or ValueError naming `source` and the problem:
    a shape that does not match the image, non-integer values, or ids not in the label table."""
    if tuple(data.shape) != tuple(image_shape):
        raise ValueError(f"{source}: label map shape {tuple(data.shape)} does not match the image "
                         f"{tuple(image_shape)}")
    return c_order(label_array(data, source, table), np.int16)


def read_labels(path: str | os.PathLike[str], image: Volume,
                table: LabelTable | None = None) -> Volume:
    """Load a label file for `image`, checked by `check_labels` (ValueError one line)."""
    from headtwin_app.core.io import load_volume
    from headtwin_app.core.segfile import read_segmentation

    table = table if table is not None else default_label_table()
    vol = read_segmentation(path, table) if Path(path).is_file() else None
    vol = vol if vol is not None else load_volume(path)
    data = check_labels(vol.data, image.shape, table, str(path))
    return image.with_data(data)


def _read_raw(path: Path) -> Volume:
    """Read a project file onto its RAS+ grid, recording the file's own grid (`source_meta`).
    NIfTI (what a project writes) is read with its integrity checked and only flipped or
    transposed as a view of its on-disk (Fortran) array — no copy of a large image; anything
    else goes through `load_volume`."""
    from headtwin_app.core.io import load_volume
    from headtwin_app.core.io.checks import check_affine
    from headtwin_app.core.io.nifti import read_nifti_checked
    from headtwin_app.core.volume import VolumeError

    if not path.name.endswith((".nii.gz", ".nii")):
        return load_volume(path)
    try:
        img: Any = read_nifti_checked(path)
        data = np.asanyarray(img.dataobj)
    except VolumeError:
        raise
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise VolumeError(f"{path}: cannot read the file ({reason[:200]})") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise VolumeError(f"{path}: expected a 3D image, got shape {data.shape}")
    check_affine(img.affine, path)
    ras, affine = ras_order(data, img.affine)
    return Volume(ras, affine, {"path": str(path), **source_meta(img.affine)})


LABEL_NAME_HINTS = ("label", "seg", "mask", "proposal", "reference", "brain_tissue",
                    "brain_regions", "brain_hemispheres", "aseg", "parc", "truth", "gt")
LABEL_MAX_VALUES = 64  # an integer volume with at most this many values is a label map


def is_label_file_name(path: Path) -> bool:
    """A file whose name says it holds labels (labels.nii.gz, *_seg.nrrd, brain_tissue, ...)."""
    if path.is_dir():
        return False
    stem = path.name.lower().split(".")[0]
    words = re.split(r"[^a-z0-9]+", stem)
    return any(h in words or (len(h) > 3 and h in stem) for h in LABEL_NAME_HINTS)


def looks_like_label_map(data: np.ndarray) -> bool:
    """Integers with few distinct values: a label map (an MR image has hundreds of levels)."""
    arr = np.asarray(data)
    if arr.dtype.kind == "f":
        sample = arr.reshape(-1)[:: max(1, arr.size // 200_000)]
        if not np.all(np.mod(sample, 1) == 0):
            return False
    elif arr.dtype.kind not in "iub":
        return False
    sample = arr.reshape(-1)[:: max(1, arr.size // 1_000_000)]
    return np.unique(sample).size <= LABEL_MAX_VALUES


@dataclass(frozen=True)
class ImportStep:
    """One entry of `iter_import`: `done` of `total`, its case name, and whether it was "added",
    "skipped" or "failed" (with why)."""

    done: int
    total: int
    case: str
    status: str
    message: str = ""
    source: str = ""

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


# --- the project ---------------------------------------------------------------------------------
class Project:
    """A folder of cases. `Project.create(root)` makes one, `Project.open(root)` opens one."""

    def __init__(self, root: Path, meta: dict[str, Any], table: LabelTable | None = None):
        self.root = root
        self.meta = meta
        self.table = table if table is not None else default_label_table()

    # --- creation -------------------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | os.PathLike[str], name: str | None = None,
               layer: str = "twin") -> Project:
        """Make a new project in `root` (created if missing; must not hold a project yet)."""
        root = Path(root)
        if (root / PROJECT_FILE).exists():
            raise ValueError(f"{root}: already holds a project")
        meta = {"name": name or root.name, "created": now_iso(), "label_layer": layer,
                "format_version": FORMAT_VERSION}
        try:
            (root / "cases").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(describe_os_error(exc, root)) from None
        atomic_write_text(root / PROJECT_FILE, json.dumps(meta, indent=2))
        return cls(root, meta)

    @classmethod
    def open(cls, root: str | os.PathLike[str]) -> Project:
        """Open an existing project folder (ValueError when it is not one)."""
        root = Path(root)
        f = root / PROJECT_FILE
        if not f.exists():
            raise ValueError(f"{root}: not a HeadTwin project (no {PROJECT_FILE})")
        try:
            meta = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{f}: cannot read the project file ({exc})") from None
        if not isinstance(meta, dict):
            raise ValueError(f"{f}: not a project file (expected a JSON object)")
        remove_stale_temporaries(root, recursive=True, legacy=True)  # from killed saves
        return cls(root, meta)

    @property
    def name(self) -> str:
        return str(self.meta.get("name", self.root.name))

    @property
    def structures(self) -> LabelTable:
        """The labels annotated in this project (the project's label layer)."""
        return self.table.layer(str(self.meta.get("label_layer", "twin")))

    # --- cases ----------------------------------------------------------------------------------
    def case_dir(self, name: str) -> Path:
        return self.root / "cases" / name

    def case_names(self) -> list[str]:
        folder = self.root / "cases"
        if not folder.is_dir():
            return []
        return sorted(d.name for d in folder.iterdir() if (d / IMAGE).exists())

    def record(self, name: str) -> CaseRecord:
        f = self.case_dir(name) / RECORD
        if not f.exists():
            return CaseRecord(name)
        try:
            return CaseRecord.from_dict(json.loads(f.read_text(encoding="utf-8")), name)
        except (OSError, json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"{f}: cannot read the case record ({exc})") from None

    def save_record(self, record: CaseRecord) -> None:
        atomic_write_text(self.case_dir(record.name) / RECORD, record.to_json())

    def has_labels(self, name: str) -> bool:
        return (self.case_dir(name) / LABELS).exists()

    def add_case(self, name: str, image: Volume, labels: Volume | None = None,
                 reference: Volume | None = None, source: str = "") -> CaseRecord:
        """Write a new case folder (image, optional labels and reference, a fresh record)."""
        if _CASE_NAME.search(name) or not name:
            raise ValueError(f"case name '{name}' may hold only letters, digits, '_' and '-'")
        folder = self.case_dir(name)
        if (folder / IMAGE).exists():
            raise ValueError(f"case '{name}' already exists in the project")
        for vol, what in ((labels, "labels"), (reference, "reference")):
            if vol is not None:
                check_labels(vol.data, image.shape, self.table, f"case '{name}' {what}")
        kind, size = image.data.dtype.kind, image.data.dtype.itemsize
        keep = kind in "iu" and size <= 2  # integer scanner data stays as it is (smaller, faster)
        # stored in the grid of the file the image was loaded from (RAS when unknown)
        atomic_save_volume(to_source_grid(image, image), folder / IMAGE,
                           None if keep else np.float32)
        if labels is not None:
            atomic_save_volume(to_source_grid(image.with_data(np.asarray(labels.data)), image),
                               folder / LABELS, np.int16)
        if reference is not None:
            atomic_save_volume(to_source_grid(image.with_data(np.asarray(reference.data)), image),
                               folder / REFERENCE, np.int16)
        record = CaseRecord(name, source=source)
        record.note("created", source=source)
        self.save_record(record)
        return record

    def import_folder(self, folder: str | os.PathLike[str]) -> list[str]:
        """`iter_import` run to the end; returns the names added."""
        return [step.case for step in self.iter_import(folder) if step.status == "added"]

    def iter_import(self, folder: str | os.PathLike[str]) -> Iterator[ImportStep]:
        """Add every image under `folder` as a new case, one `ImportStep` per entry (stop
        iterating to cancel; what was added stays). Entries: image files, DICOM series folders,
        case folders (image.nii.gz, with labels.nii.gz as the reference) — or `folder` itself
        when it is a case folder. Label maps are never taken for images: by name (labels,
        brain_*, *seg*, *mask*, ...) or by content (integers with few values). Names already in
        the project are skipped."""
        from headtwin_app.core.io import load_volume

        folder = Path(folder)
        if not folder.is_dir():
            raise ValueError(f"{folder}: not a folder")
        entries = [folder] if (folder / IMAGE).exists() else sorted(folder.iterdir())
        existing = set(self.case_names())
        for n, entry in enumerate(entries, 1):
            step = partial(ImportStep, n, len(entries), case_name_from(entry), source=str(entry))
            if is_label_file_name(entry):
                yield step(status="skipped", message="a label map, not an image")
                continue
            reference = None
            try:
                if entry.is_dir() and (entry / IMAGE).exists():
                    image = load_volume(entry / IMAGE)
                    if (entry / LABELS).exists():
                        reference = read_labels(entry / LABELS, image, self.table)
                elif entry.is_dir() and any(p.suffix.lower() in (".dcm", "")
                                            for p in entry.iterdir()):
                    image = load_volume(entry)
                elif entry.is_file() and entry.name.lower().endswith(IMAGE_SUFFIXES):
                    image = load_volume(entry)
                else:
                    yield step(status="skipped", message="not an image file or series")
                    continue
            except (ValueError, OSError) as exc:
                yield step(status="failed", message=str(exc).splitlines()[0])
                continue
            named_image = entry.is_dir() and (entry / IMAGE).exists()  # a case folder's image
            if not named_image and looks_like_label_map(image.data):
                yield step(status="skipped", message="holds a label map (few integer values)")
                continue
            name = case_name_from(entry)
            if name in existing:
                yield step(status="skipped", message="already in the project")
                continue
            self.add_case(name, image, reference=reference, source=str(entry))
            existing.add(name)
            yield step(status="added")

    # --- model rounds (the data engine's retrain loop) ------------------------------------------
    @property
    def model_round(self) -> int:
        """How many times the project's model was retrained (0: the shipped model)."""
        return int(self.meta.get("model_round", 0))

    def advance_model_round(self) -> int:
        """Count one retraining; proposals made from now on belong to the new round."""
        self.meta["model_round"] = self.model_round + 1
        atomic_write_text(self.root / PROJECT_FILE, json.dumps(self.meta, indent=2))
        return self.model_round

    def open_case(self, name: str) -> OpenedCase:
        """Load a case for editing. If its autosave is newer than its saved labels, the autosave is
        restored (`restored_autosave`, and a message says so). A bad label file (wrong shape, ids
        not in the table) raises ValueError naming the file."""
        folder = self.case_dir(name)
        if not (folder / IMAGE).exists():
            raise ValueError(f"case '{name}' is not in the project {self.root}")
        record = self.record(name)
        saved, auto = folder / LABELS, folder / AUTOSAVE
        use_auto = auto.exists() and (not saved.exists()
                                      or auto.stat().st_mtime_ns > saved.stat().st_mtime_ns)
        # the files decompress (and label maps are checked) in parallel: zlib, numpy copies and
        # histograms release the GIL
        shape = self._shape(name)
        table = self.table

        def label_file(path: Path) -> np.ndarray:
            return check_labels(_read_raw(path).data, shape, table, str(path))

        with ThreadPoolExecutor(max_workers=3) as pool:
            image_future = pool.submit(_read_raw, folder / IMAGE)
            futures = {key: pool.submit(label_file, path) for key, path in (
                ("autosave", auto if use_auto else None),
                ("labels", saved if saved.exists() else None),
                ("proposal", folder / PROPOSAL), ("reference", folder / REFERENCE))
                if path is not None and path.exists()}
        image = image_future.result()
        opened = OpenedCase(name, image, image.with_data(np.zeros(image.shape, np.int16)), record)
        source = "labels" if "labels" in futures else None
        if use_auto:
            try:
                opened.labels = image.with_data(futures["autosave"].result())
                opened.restored_autosave = True
                when = datetime.fromtimestamp(auto.stat().st_mtime).strftime("%Y-%m-%d %H:%M:%S")
                opened.messages.append(f"case '{name}': restored unsaved edits from the autosave "
                                       f"of {when}")
                source = None
            except ValueError as exc:
                opened.messages.append(f"the autosave could not be used: {exc}")
        if source is not None:
            opened.labels = image.with_data(futures["labels"].result())
        if "proposal" in futures:
            opened.proposal = image.with_data(futures["proposal"].result())
        if "reference" in futures:
            opened.reference = image.with_data(futures["reference"].result())
        return opened

    def changes_vs_proposal(self, labels: np.ndarray, proposal: np.ndarray) -> dict[str,
                                                                                   dict[str, int]]:
        """Voxels added/removed per structure name relative to the proposal."""
        raw = proposal_changes(proposal, labels, self.structures.ids())
        return {self.table.name_of(i): c for i, c in raw.items()}

    def save_labels(self, name: str, labels: np.ndarray | Volume, record: CaseRecord | None = None,
                    proposal: np.ndarray | None = None, seconds: float = 0.0) -> CaseRecord:
        """Atomically write the case's labels and record; then drop the autosave. `seconds` of
        work are added to the record; with a `proposal` the changes vs it are recorded.
        OSError (one line) when the folder cannot be written: nothing on disk is half-written
        and the caller keeps its labels in memory."""
        folder = self.case_dir(name)
        data = labels.data if isinstance(labels, Volume) else labels
        check_labels(data, self._shape(name), self.table, f"case '{name}' labels")
        record = record if record is not None else self.record(name)
        record.seconds_spent = float(record.seconds_spent) + float(seconds)
        if proposal is not None:
            record.changes = self.changes_vs_proposal(data, proposal)
        record.saved = now_iso()
        record.modified = record.modified or record.saved
        record.annotator = record.annotator or current_user()
        atomic_save_volume(self._stored(name, data), folder / LABELS, np.int16)
        self.save_record(record)
        try:
            (folder / AUTOSAVE).unlink(missing_ok=True)
        except OSError:
            pass
        return record

    def autosave(self, name: str, labels: np.ndarray, record: CaseRecord | None = None,
                 seconds: float = 0.0) -> Path:
        """Atomically write the unsaved labels beside the saved ones (`labels.autosave.nii.gz`);
        with a `record`, its edit log and `seconds` of work are saved too."""
        path = atomic_save_volume(self._stored(name, labels), self.case_dir(name) / AUTOSAVE,
                                  np.int16)
        if record is not None:
            record.seconds_spent = float(record.seconds_spent) + float(seconds)
            self.save_record(record)
        return path

    def save_proposal(self, name: str, proposal: Volume, source: str = "model",
                      record: CaseRecord | None = None) -> CaseRecord:
        """Store a model proposal for the case; review of every structure in it becomes pending
        and the case moves to stage "semi" (unless it is already "auto")."""
        data = check_labels(proposal.data, self._shape(name), self.table, f"proposal for '{name}'")
        atomic_save_volume(self._stored(name, data), self.case_dir(name) / PROPOSAL, np.int16)
        record = record if record is not None else self.record(name)
        if record.stage == "manual":
            record.stage = "semi"
        record.proposal_source = source
        record.proposal_time = now_iso()
        record.proposal_round = self.model_round
        for i in present_labels(data):
            if i != 0:
                record.review[self.table.name_of(int(i))] = "pending"
        record.note("proposal", source=source)
        self.save_record(record)
        return record

    def _header(self, name: str) -> Any:
        try:
            return nib.load(str(self.case_dir(name) / IMAGE))
        except Exception as exc:
            raise ValueError(f"case '{name}': cannot read its image ({exc})") from None

    def _shape(self, name: str) -> tuple[int, ...]:
        """The case's shape in RAS+ order, as `open_case` gives its arrays."""
        header = self._header(name)
        shape = tuple(int(s) for s in header.shape[:3])
        return ras_shape(shape + (1,) * (3 - len(shape)), header.affine)

    def _stored(self, name: str, data: np.ndarray) -> Volume:
        """A label array on the case's RAS grid as the case's files store it (the image file's
        array order and affine)."""
        affine = np.asarray(self._header(name).affine, dtype=float)
        return Volume(source_order(np.asarray(data), affine), affine)

    # --- export ---------------------------------------------------------------------------------
    def export_nnunet(self, out_root: str | os.PathLike[str], dataset_id: int = 1,
                      dataset_name: str | None = None, only_accepted: bool = False) -> Path:
        """Write the labelled cases as an nnU-Net raw dataset; returns the dataset folder. With
        `only_accepted`, only cases whose every reviewed structure is accepted or edited."""
        from headtwin_app.core.io import load_volume
        from headtwin_app.core.seg.nnunet_dataset import export_nnunet_dataset

        def cases() -> Iterator[tuple[str, Volume, Volume]]:
            for name in self.case_names():
                if not self.has_labels(name):
                    continue
                if only_accepted and not self.is_accepted(name):
                    continue
                image = load_volume(self.case_dir(name) / IMAGE)
                labels = read_labels(self.case_dir(name) / LABELS, image, self.table)
                # in the case files' own grid, as imported
                yield name, to_source_grid(image, image), to_source_grid(labels, image)

        safe = _CASE_NAME.sub("", dataset_name or self.name) or "HeadTwin"
        return export_nnunet_dataset(cases(), out_root, dataset_id, safe, self.structures)

    def is_accepted(self, name: str) -> bool:
        """True when the case has labels and no structure is pending or rejected."""
        if not self.has_labels(name):
            return False
        review = self.record(name).review
        return all(s in ("accepted", "edited") for s in review.values())


# --- stage 3: automatic labelling ----------------------------------------------------------------
@dataclass(frozen=True)
class AutoLabelProgress:
    """One step of `auto_label`: `done` of `total` cases handled; `status` is "labelled",
    "skipped", "failed" or "report" (the last item, with the report paths)."""

    done: int
    total: int
    case: str
    status: str
    message: str = ""
    seconds: float = 0.0
    report: tuple[Path, ...] = ()

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


def auto_label(project: Project, predictor: Predictor | Any, overwrite: bool = False,
               expected: dict[str, tuple[float, float]] | None = None,
               source: str = "model", scheduler: str | None = "serial",
               workers: int = 2) -> Iterator[AutoLabelProgress]:
    """Stage 3: label every case that has no labels yet with `predictor` (a callable image →
    labels, or an object with `.predict`). Yields progress after each case — stop iterating to
    cancel; running again resumes, skipping cases already labelled. The prediction is stored as
    the case's proposal and labels (stage "auto", review pending). Ends by writing the QC report
    (`reports/qc_report.csv` and `.html`) over every labelled case.

    `scheduler`: "serial" (default: in this thread), None (an in-process Dask cluster of
    `workers`) or a Dask scheduler address; predictions run there, the project is written here,
    one case at a time, in the order they finish."""
    from headtwin_app.core.cohort import iter_completed

    predict = getattr(predictor, "predict", predictor)
    if not callable(predict):
        raise ValueError("the predictor must be callable (image Volume → label Volume)")
    names = project.case_names()
    total = len(names)
    todo = []
    done = 0
    for name in names:
        if project.has_labels(name) and not overwrite:
            done += 1
            yield AutoLabelProgress(done, total, name, "skipped", "already labelled")
        else:
            todo.append(name)
    jobs = [(project.case_dir(name) / IMAGE, predict) for name in todo]
    for out in iter_completed(_predict_case, jobs, scheduler, workers):
        if out is None:  # no tick asked: never happens
            continue
        name = todo[out.index]
        done += 1
        seconds = out.result[2] if out.error is None else 0.0
        try:
            if out.error is not None:
                raise out.error
            image, pred, _ = out.result
            _store_auto_labels(project, name, image, pred, source)
        except (ValueError, OSError, RuntimeError) as exc:
            yield AutoLabelProgress(done, total, name, "failed", str(exc).splitlines()[0],
                                    seconds)
            continue
        yield AutoLabelProgress(done, total, name, "labelled", "", seconds)
    paths = write_qc_report(project, expected)
    yield AutoLabelProgress(total, total, "", "report", f"QC report: {paths[0]}", report=paths)


def _predict_case(job: tuple[Path, Callable[[Volume], Any]]) -> tuple[Volume, Any, float]:
    """Load a case image and predict it (runs on a cohort worker): (image, prediction, s)."""
    from headtwin_app.core.io import load_volume

    path, predict = job
    start = time.perf_counter()
    image = load_volume(path)
    return image, predict(image), time.perf_counter() - start


def _store_auto_labels(project: Project, name: str, image: Volume, pred: Any,
                       source: str) -> None:
    if not isinstance(pred, Volume):
        pred = image.with_data(np.asarray(pred))
    data = check_labels(pred.data, image.shape, project.table, f"prediction for '{name}'")
    record = project.record(name)
    record.stage = "auto"
    record.auto_labelled = True
    project.save_proposal(name, image.with_data(data), source, record)
    record.note("auto_label", source=source)
    project.save_labels(name, data, record)


@dataclass(frozen=True)
class QCRow:
    case: str
    stage: str
    structure: str
    label_id: int
    voxels: int
    volume_ml: float
    expected_min_ml: float
    expected_max_ml: float
    flag: str  # "", "empty", "too small", "too large"


def qc_rows(project: Project, expected: dict[str, tuple[float, float]] | None = None
            ) -> list[QCRow]:
    """Per labelled case and per project structure: voxel count, volume (ml) and a flag when the
    structure is empty or outside its expected volume range."""
    expected = EXPECTED_ML if expected is None else expected
    rows = []
    for name in project.case_names():
        if not project.has_labels(name):
            continue
        img: Any = nib.load(str(project.case_dir(name) / LABELS))
        data = np.asarray(img.dataobj).astype(np.int64)
        voxel_ml = float(np.prod(np.sqrt((img.affine[:3, :3] ** 2).sum(axis=0)))) / 1000.0
        counts = np.bincount(data.ravel()[data.ravel() >= 0])
        stage = project.record(name).stage
        for lab in project.structures:
            n = int(counts[lab.id]) if lab.id < counts.size else 0
            ml = n * voxel_ml
            lo, hi = expected.get(lab.name, (0.0, float("inf")))
            flag = "empty" if n == 0 else "too small" if ml < lo else "too large" if ml > hi else ""
            rows.append(QCRow(name, stage, lab.name, lab.id, n, round(ml, 3), lo, hi, flag))
    return rows


def qc_plausibility(project: Project) -> dict[str, Any]:
    """Per labelled case, the anatomical plausibility of its labels (`core.seg.plausibility`:
    volumes, two eyes, left/right symmetry, vertical order, the brain level) as a
    `PlausibilityReport`; empty when the project's label table has none of the twin structures."""
    from headtwin_app.core.seg.plausibility import check_plausibility

    reports: dict[str, Any] = {}
    for name in project.case_names():
        if not project.has_labels(name):
            continue
        img: Any = nib.load(str(project.case_dir(name) / LABELS))
        labels = Volume(np.asarray(img.dataobj).astype(np.int64), img.affine)
        try:
            reports[name] = check_plausibility(labels, project.table)
        except ValueError:  # a label table without the craniofacial/CNS structures
            return {}
    return reports


def write_qc_report(project: Project, expected: dict[str, tuple[float, float]] | None = None
                    ) -> tuple[Path, Path]:
    """Write `reports/qc_report.csv` and `reports/qc_report.html` (and beside them
    `qc_plausibility.csv`, one row per case and anatomical plausibility check); returns the first
    two paths."""
    rows = qc_rows(project, expected)
    plausible = qc_plausibility(project)
    folder = project.root / "reports"
    buf = io.StringIO()
    writer = csv.writer(buf)
    fields = list(QCRow.__dataclass_fields__)
    writer.writerow(fields)
    for r in rows:
        writer.writerow([getattr(r, f) for f in fields])
    csv_path = atomic_write_text(folder / "qc_report.csv", buf.getvalue())
    if plausible:
        buf = io.StringIO()
        writer = csv.writer(buf)
        header = ["case", "out_of_distribution", *next(iter(plausible.values())).to_json()[0]]
        writer.writerow(header)
        for case, report in plausible.items():
            for row in report.to_json():
                writer.writerow([case, report.out_of_distribution, *row.values()])
        atomic_write_text(folder / "qc_plausibility.csv", buf.getvalue())
    flagged = [r for r in rows if r.flag]
    cases = sorted({r.case for r in rows})
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>QC report</title><style>"
        "body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #bbb;"
        "padding:2px 6px;text-align:right}td:first-child,th:first-child{text-align:left}"
        ".flag{background:#f6c6c6}</style></head><body>",
        f"<h1>QC report — {html.escape(project.name)}</h1>",
        f"<p>{now_iso()} · {len(cases)} labelled cases · {len(flagged)} flags "
        "(empty structure, or volume outside the expected range).</p>",
        "<table><tr><th>case</th><th>stage</th>",
    ]
    structs = [lab.name for lab in project.structures]
    parts += [f"<th>{html.escape(s)} (ml)</th>" for s in structs] + ["</tr>"]
    by_case: dict[str, dict[str, QCRow]] = {}
    for r in rows:
        by_case.setdefault(r.case, {})[r.structure] = r
    for case in cases:
        cells = by_case[case]
        stage = next(iter(cells.values())).stage if cells else ""
        parts.append(f"<tr><td>{html.escape(case)}</td><td>{stage}</td>")
        for s in structs:
            cell = cells.get(s)
            if cell is None:
                parts.append("<td></td>")
                continue
            cls = " class='flag'" if cell.flag else ""
            title = (f" title='{cell.flag}: expected {cell.expected_min_ml}–"
                     f"{cell.expected_max_ml} ml'" if cell.flag else "")
            parts.append(f"<td{cls}{title}>{cell.volume_ml:.2f}{' ⚑' if cell.flag else ''}</td>")
        parts.append("</tr>")
    parts.append("</table>")
    if plausible:
        parts += ["<h2>Anatomical plausibility</h2>",
                  "<p>Volumes, two eyes, left/right symmetry, superior-inferior order and the "
                  "brain level of each case's labels; every check is in "
                  "<a href='qc_plausibility.csv'>qc_plausibility.csv</a>.</p>",
                  "<table><tr><th>case</th><th>failed</th><th>verdict</th></tr>"]
        for case, report in plausible.items():
            cls = " class='flag'" if report.out_of_distribution else ""
            failed = "<br>".join(html.escape(f.message) for f in report.failed)
            parts.append(f"<tr><td>{html.escape(case)}</td><td>{len(report.failed)}</td>"
                         f"<td{cls} style='text-align:left'>{html.escape(report.message)}"
                         f"{'<br>' + failed if failed else ''}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    html_path = atomic_write_text(folder / "qc_report.html", "\n".join(parts))
    return csv_path, html_path
