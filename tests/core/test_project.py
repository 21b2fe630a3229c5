"""Project of cases on disk: atomic saves, autosave restore (also after SIGKILL), import, nnU-Net
export, bad input, stage-3 auto labelling with its QC report, Dice per label."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from headtwin_app.core.edit import paint
from headtwin_app.core.errors import OutputError
from headtwin_app.core.io import save_volume
from headtwin_app.core.metrics_seg import dice_per_label, mean_dice
from headtwin_app.core.project import (
    AUTOSAVE,
    LABELS,
    Project,
    auto_label,
    current_user,
    qc_rows,
    read_labels,
)
from headtwin_app.core.seg.nnunet_dataset import export_nnunet_dataset
from headtwin_app.core.volume import Volume

ROOT = Path(__file__).resolve().parents[2]


def image(shape=(12, 14, 10), seed=0) -> Volume:
    rng = np.random.default_rng(seed)
    return Volume.from_spacing(rng.random(shape).astype(np.float32) * 100, (1.0, 1.0, 2.0))


def ball_labels(img: Volume) -> Volume:
    lab = np.zeros(img.shape, np.int16)
    lab[3:7, 3:8, 2:6] = 5
    lab[8:10, 8:12, 4:7] = 12
    return img.with_data(lab)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = Project.create(tmp_path / "proj", name="Test")
    img = image()
    proj.add_case("a", img, reference=ball_labels(img))
    proj.add_case("b", image(seed=1))
    return proj


def test_create_open_and_records(project: Project) -> None:
    again = Project.open(project.root)
    assert again.name == "Test" and again.case_names() == ["a", "b"]
    meta = json.loads((project.root / "project.json").read_text(encoding="utf-8"))
    assert meta["label_layer"] == "twin"
    rec = again.record("a")
    assert rec.stage == "manual" and rec.log[0]["event"] == "created"
    with pytest.raises(ValueError, match="not a HeadTwin project"):
        Project.open(project.root / "cases")
    with pytest.raises(ValueError, match="already holds a project"):
        Project.create(project.root)
    with pytest.raises(ValueError, match="already exists"):
        project.add_case("a", image())


def test_integer_images_keep_their_type(project: Project) -> None:
    data = (np.arange(12 * 14 * 10) % 900).astype(np.int16).reshape(12, 14, 10)
    project.add_case("c", Volume.from_spacing(data))
    stored = nib.load(str(project.case_dir("c") / "image.nii.gz"))
    assert stored.get_data_dtype() == np.int16
    assert nib.load(str(project.case_dir("a") / "image.nii.gz")).get_data_dtype() == np.float32
    np.testing.assert_array_equal(project.open_case("c").image.data, data)


def test_save_is_atomic_and_roundtrips(project: Project) -> None:
    opened = project.open_case("a")
    assert opened.reference is not None and not opened.labels.data.any()
    lab = opened.labels.data
    paint(lab, (5, 5, 5), 2, 4)
    opened.record.count_edit(["temporalis"])
    rec = project.save_labels("a", lab, opened.record, seconds=12.5)
    assert rec.seconds_spent == 12.5 and rec.edit_count == 1
    folder = project.case_dir("a")
    assert not [p for p in folder.iterdir() if ".tmp" in p.name]  # no temporaries left
    back = project.open_case("a")
    np.testing.assert_array_equal(back.labels.data, lab)
    assert back.record.edits_per_structure == {"temporalis": 1}
    assert back.record.annotator == current_user()
    assert not back.restored_autosave
    np.testing.assert_allclose(nib.load(str(folder / LABELS)).affine, back.image.affine)


def test_autosave_newer_is_restored_and_said(project: Project) -> None:
    opened = project.open_case("a")
    lab = opened.labels.data
    project.save_labels("a", lab, opened.record)
    paint(lab, (5, 5, 5), 1, 3)
    time.sleep(0.01)
    project.autosave("a", lab)
    back = project.open_case("a")
    assert back.restored_autosave and "autosave" in back.messages[0]
    np.testing.assert_array_equal(back.labels.data, lab)
    # saving removes the autosave; an older autosave is ignored
    project.save_labels("a", back.labels.data, back.record)
    assert not (project.case_dir("a") / AUTOSAVE).exists()
    project.autosave("a", np.zeros_like(lab))
    os.utime(project.case_dir("a") / AUTOSAVE, (1, 1))
    again = project.open_case("a")
    assert not again.restored_autosave and again.labels.data.sum() == lab.sum()


def test_autosave_survives_sigkill(project: Project) -> None:
    """A child edits and autosaves in a loop until it is killed; reopening restores its edits."""
    child = textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {str(ROOT)!r})
        from headtwin_app.core.project import Project
        from headtwin_app.core.edit import paint
        proj = Project.open({str(project.root)!r})
        case = proj.open_case("b")
        lab = case.labels.data
        n = 0
        while True:
            paint(lab, (1 + n % 10, 2, 5), 0, 7)
            proj.autosave("b", lab)
            n += 1
            if n == 3:
                print("ready", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    back = Project.open(project.root).open_case("b")
    assert back.restored_autosave
    lab = back.labels.data
    assert (lab == 7).sum() >= 3 and set(np.unique(lab)) == {0, 7}
    assert (lab[1:4, 2, 5] == 7).all()


def test_bad_label_files(project: Project, tmp_path: Path) -> None:
    img = project.open_case("a").image
    wrong = save_volume(Volume(np.zeros((3, 3, 3), np.int16)), tmp_path / "wrong.nii.gz")
    with pytest.raises(ValueError, match=r"wrong.nii.gz: label map shape \(3, 3, 3\) does not"):
        read_labels(wrong, img)
    alien = np.zeros(img.shape, np.int16)
    alien[0, 0, 0] = 77
    bad_ids = save_volume(img.with_data(alien), tmp_path / "alien.nii.gz")
    with pytest.raises(ValueError, match="label ids 77 are not in the label table") as info:
        read_labels(bad_ids, img)
    assert "\n" not in str(info.value)
    # a broken labels.nii.gz in the case: opening says so in one line
    (project.case_dir("a") / LABELS).write_bytes(bad_ids.read_bytes())
    with pytest.raises(ValueError, match="not in the label table"):
        project.open_case("a")


def test_read_only_folder_keeps_labels(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = project.open_case("b")
    lab = opened.labels.data
    paint(lab, (5, 5, 5), 2, 4)
    keep = lab.copy()

    def denied(img, filename):  # what a read-only folder does (root ignores chmod)
        raise PermissionError(13, "Permission denied", str(filename))

    monkeypatch.setattr("nibabel.save", denied)
    with pytest.raises(OutputError, match="read-only") as info:
        project.save_labels("b", lab, opened.record)
    assert "\n" not in str(info.value) and "labels.nii.gz" in str(info.value)
    np.testing.assert_array_equal(lab, keep)  # nothing lost in memory
    assert not (project.case_dir("b") / LABELS).exists()


def _save_in_child(proj: Project, labels: np.ndarray, unprivileged: bool) -> str:
    """Fork, drop to user `nobody` if asked, try the save, report what happened."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_end)
        try:
            if unprivileged:
                os.setgid(65534)
                os.setuid(65534)
            try:
                proj.save_labels("b", labels)
                msg = "WROTE"
            except OutputError as exc:
                msg = f"REFUSED {exc}"
        except BaseException as exc:  # noqa: BLE001 - report anything to the parent
            msg = f"ERROR {type(exc).__name__}: {exc}"
        os.write(write_end, msg.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        out = fh.read().decode()
    os.waitpid(pid, 0)
    return out


def test_read_only_folder_real() -> None:
    """A truly read-only case folder. Root ignores permissions, so the save runs in a forked
    child that has dropped to the unprivileged user `nobody`."""
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="headtwin-ro-"))
    try:
        proj = Project.create(root / "p")
        img = image()
        proj.add_case("b", img)
        labels = np.zeros(img.shape, np.int16)
        proj.save_labels("b", labels)  # warm every import the save needs before dropping rights
        (proj.case_dir("b") / LABELS).unlink()
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        folder = proj.case_dir("b")
        folder.chmod(0o555)
        out = _save_in_child(proj, labels, unprivileged=os.geteuid() == 0)
        assert out.startswith("REFUSED") and "read-only" in out, out
        assert not (folder / LABELS).exists()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_import_folder(tmp_path: Path) -> None:
    src = tmp_path / "incoming"
    src.mkdir()
    save_volume(image(seed=3), src / "sub 01.nii.gz")
    save_volume(image(seed=4), src / "sub-02.mha")
    case = src / "phantom_7"
    case.mkdir()
    img = image(seed=5)
    save_volume(img, case / "image.nii.gz")
    save_volume(ball_labels(img), case / "labels.nii.gz")
    (src / "notes.txt").write_text("not an image")
    proj = Project.create(tmp_path / "p")
    assert proj.import_folder(src) == ["phantom_7", "sub_01", "sub-02"]
    assert proj.import_folder(src) == []  # already there
    opened = proj.open_case("phantom_7")
    assert opened.reference is not None and (opened.reference.data == 12).any()


def test_nnunet_export(project: Project, tmp_path: Path) -> None:
    opened = project.open_case("a")
    project.save_labels("a", opened.reference.data.copy(), opened.record)
    folder = project.export_nnunet(tmp_path / "raw", dataset_id=42)
    assert folder.name == "Dataset042_Test"
    meta = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    assert meta["channel_names"] == {"0": "MRI"} and meta["numTraining"] == 1
    assert meta["file_ending"] == ".nii.gz"
    assert meta["labels"]["background"] == 0 and meta["labels"]["spinal_cord"] == 12
    assert len(meta["labels"]) == 13
    assert sorted(p.name for p in (folder / "imagesTr").iterdir()) == ["a_0000.nii.gz"]
    lab = nib.load(str(folder / "labelsTr" / "a.nii.gz"))
    np.testing.assert_array_equal(np.asarray(lab.dataobj), opened.reference.data)
    img = image()
    with pytest.raises(ValueError, match="does not match image"):
        export_nnunet_dataset([("x", img, Volume(np.zeros((2, 2, 2), np.int16)))], tmp_path)
    alien = img.with_data(np.full(img.shape, 22, np.int16))  # gray matter: not a twin label
    with pytest.raises(ValueError, match=r"label ids \[22\]"):
        export_nnunet_dataset([("x", img, alien)], tmp_path)


def test_proposal_records_changes(project: Project) -> None:
    opened = project.open_case("a")
    proposal = opened.reference
    record = project.save_proposal("a", proposal, "fake")
    assert record.stage == "semi"
    assert record.review == {"masseter": "pending", "spinal_cord": "pending"}
    lab = proposal.data.copy()
    lab[3, 3, 2] = 0  # removed one masseter voxel
    lab[0, 0, 0] = 12  # added one spinal cord voxel
    record = project.save_labels("a", lab, record, proposal=proposal.data)
    assert record.changes["masseter"] == {"added": 0, "removed": 1}
    assert record.changes["spinal_cord"] == {"added": 1, "removed": 0}
    assert project.record("a").changes == record.changes


def test_auto_label_resumable_with_report(project: Project) -> None:
    calls: list[tuple] = []

    def predictor(img: Volume) -> Volume:
        calls.append(img.shape)
        return ball_labels(img)

    gen = auto_label(project, predictor)
    first = next(gen)
    assert (first.case, first.status, first.done, first.total) == ("a", "labelled", 1, 2)
    gen.close()  # cancel after one case
    assert project.has_labels("a") and not project.has_labels("b")
    steps = list(auto_label(project, predictor))  # resume
    assert [(s.case, s.status) for s in steps] == [("a", "skipped"), ("b", "labelled"),
                                                   ("", "report")]
    assert len(calls) == 2
    csv_path, html_path = steps[-1].report
    text = csv_path.read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("case,stage,structure,label_id,voxels,volume_ml")
    rows = qc_rows(project)
    masseter = next(r for r in rows if r.case == "b" and r.structure == "masseter")
    assert masseter.voxels == 80 and masseter.volume_ml == pytest.approx(0.16)
    assert masseter.flag == "too small"
    skull = next(r for r in rows if r.case == "b" and r.structure == "skull")
    assert skull.flag == "empty"
    assert "⚑" in html_path.read_text(encoding="utf-8")
    # anatomical plausibility per case: two boxes are no head
    assert "Anatomical plausibility" in html_path.read_text(encoding="utf-8")
    plaus = (csv_path.parent / "qc_plausibility.csv").read_text(encoding="utf-8").splitlines()
    assert plaus[0].startswith("case,out_of_distribution,category,structure,check,passed")
    assert any(line.startswith("b,True,eyes,eyeballs,eye_count,False") for line in plaus)
    rec = project.record("b")
    assert rec.stage == "auto" and rec.auto_labelled and rec.review["masseter"] == "pending"


def test_auto_label_failure_is_reported_not_fatal(project: Project) -> None:
    def broken(img: Volume) -> Volume:
        return Volume(np.zeros((2, 2, 2), np.int16))

    steps = list(auto_label(project, broken))
    assert [s.status for s in steps] == ["failed", "failed", "report"]
    assert "does not match the image" in steps[0].message


def test_auto_label_on_a_dask_cluster_matches_serial(project: Project, tmp_path: Path) -> None:
    """Stage 3 on a 2-worker local cluster: same labels, same records, every case once."""
    import shutil

    twin = tmp_path / "twin_project"
    shutil.copytree(project.root, twin)
    other = Project.open(twin)
    serial = list(auto_label(project, ball_labels))
    dask = list(auto_label(other, ball_labels, scheduler=None, workers=2))
    assert sorted((s.case, s.status) for s in dask[:-1]) == [("a", "labelled"),
                                                           ("b", "labelled")]
    assert [s.done for s in dask] == [1, 2, 2] and dask[-1].status == "report"
    assert [s.status for s in serial] == ["labelled", "labelled", "report"]
    for name in ("a", "b"):
        a = project.open_case(name).labels
        b = other.open_case(name).labels
        assert a is not None and b is not None and np.array_equal(a.data, b.data)
        assert other.record(name).stage == "auto"


def test_dice_per_label() -> None:
    ref = np.array([0, 1, 1, 1, 2, 2, 0, 0])
    pred = np.array([0, 1, 1, 0, 2, 0, 3, 0])
    scores = dice_per_label(ref, pred)
    assert scores[1] == pytest.approx(2 * 2 / (3 + 2))
    assert scores[2] == pytest.approx(2 * 1 / (2 + 1))
    assert scores[3] == 0.0
    assert math.isnan(dice_per_label(ref, pred, [4])[4])
    assert mean_dice(ref, pred) == pytest.approx((0.8 + 2 / 3) / 2)
    with pytest.raises(ValueError, match="differ in shape"):
        dice_per_label(ref, pred[:3])
