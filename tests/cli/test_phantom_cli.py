"""`headtwin phantom`: writes a case folder and reports it as JSON; bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

from headtwin_app.cli.main import main


def test_phantom_cli_json(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out_dir = tmp_path / "case"
    assert main(["phantom", "--seed", "3", "--out", str(out_dir), "--spacing", "4",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seed"] == 3 and out["spacing_mm"] == 4.0
    assert out["shape"] == [49, 63, 63]
    assert out["seconds"] > 0
    for name in ("image", "labels", "brain_tissue", "brain_regions", "brain_hemispheres"):
        assert Path(out["files"][name]).is_file()
    assert json.loads((out_dir / "phantom.json").read_text())["seed"] == 3
    assert out["volumes_ml"]["skull"] > 0 and "gray_matter" in out["volumes_ml"]


def test_phantom_cli_bad_spacing(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["phantom", "--seed", "0", "--out", str(tmp_path), "--spacing", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("headtwin: error:") and "spacing" in err


def test_phantom_cli_contrast(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out_dir = tmp_path / "t2"
    assert main(["phantom", "--seed", "3", "--out", str(out_dir), "--spacing", "4",
                 "--contrast", "t2", "--te", "90", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["contrast"] == "t2" and out["sequence"] == {"kind": "se", "tr": 4000.0,
                                                          "te": 90.0, "ti": 0.0, "flip": 90.0}
    info = json.loads((out_dir / "phantom.json").read_text())
    assert info["sequence"]["te"] == 90.0 and info["tissue_classes"]["10"] == "muscle"
    assert Path(out["files"]["tissue_classes"]).is_file()


def test_phantom_cli_impossible_sequence(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rc = main(["phantom", "--seed", "0", "--out", str(tmp_path / "x"), "--spacing", "4",
               "--contrast", "t1", "--te", "800"])
    err = capsys.readouterr().err
    assert rc != 0 and "te" in err and "Traceback" not in err
