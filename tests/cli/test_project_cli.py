"""`headtwin project create|import|status|auto-label|qc|export-nnunet|effort`: the labelling
project from the command line on the same CaseEditor the GUI uses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from headtwin_app.cli.main import main
from headtwin_app.core.project import Project


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from headtwin_app.core.phantom import make_phantom, save_phantom

    folder = tmp_path_factory.mktemp("sample") / "head21"
    save_phantom(make_phantom(21, spacing=4.0), folder)
    return folder


def _json(capsys) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(capsys.readouterr().out)


def test_create_import_status_qc_export(tmp_path: Path, sample: Path,
                                        capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["project", "create", str(tmp_path / "p"), "--name", "Heads", "--json"]) == 0
    made = _json(capsys)
    assert made["name"] == "Heads" and Path(made["project"]).is_dir()
    assert main(["project", "import", made["project"], str(sample), "--json"]) == 0
    out = _json(capsys)
    assert out["added"] == 1 and out["cases"]["head21"]["status"] == "added"
    assert main(["project", "status", made["project"], "--json"]) == 0
    status = _json(capsys)
    assert [c["case"] for c in status["cases"]] == ["head21"] and status["model_round"] == 0
    # labels by hand (here: the reference), then qc and export
    project = Project.open(made["project"])
    opened = project.open_case("head21")
    assert opened.reference is not None
    project.save_labels("head21", opened.reference.data)
    assert main(["project", "qc", made["project"], "--json"]) == 0
    qc = _json(capsys)
    assert Path(qc["qc_report"][0]).exists()
    assert all(set(v) >= {"out_of_distribution", "message", "failed_checks"}
               for v in qc["plausibility"].values()) and qc["plausibility"]
    assert main(["project", "export-nnunet", made["project"], "--out", str(tmp_path / "raw"),
                 "--dataset-id", "7", "--json"]) == 0
    dataset = Path(_json(capsys)["dataset"])
    assert dataset.name.startswith("Dataset007") and (dataset / "dataset.json").exists()


def test_status_sorted_by_uncertainty_and_effort(tmp_path: Path,
                                                 capsys) -> None:  # type: ignore[no-untyped-def]
    from headtwin_app.core.volume import Volume

    project = Project.create(tmp_path / "q")
    img = Volume.from_spacing(np.random.default_rng(0).random((8, 8, 8)).astype(np.float32))
    for name, score in (("a", 0.1), ("b", 0.5), ("c", None)):
        rec = project.add_case(name, img)
        if score is not None:
            rec.uncertainty = {"masseter": score}
            project.save_record(rec)
    assert main(["project", "status", str(project.root), "--sort", "uncertainty",
                 "--json"]) == 0
    assert [c["case"] for c in _json(capsys)["cases"]] == ["b", "a", "c"]
    assert main(["project", "effort", str(project.root), "--json"]) == 0
    out = _json(capsys)
    assert out["rounds"] == [] and Path(out["plot"]).exists()


def test_errors_are_one_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["project", "status", str(tmp_path)]) == 2
    assert "not a HeadTwin project" in capsys.readouterr().err
    project = Project.create(tmp_path / "r")
    assert main(["project", "retrain", str(project.root)]) == 2
    assert "no accepted cases" in capsys.readouterr().err
