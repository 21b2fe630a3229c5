"""`headtwin segment | fuse | dice | train-seg`: the JSON contract and clear errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from headtwin_app.cli.main import main
from headtwin_app.core.io import load_volume, save_volume
from headtwin_app.core.volume import Volume


def _write_case(folder: Path, seed: int) -> Path:
    from headtwin_app.core.phantom import make_phantom, save_phantom

    save_phantom(make_phantom(seed, spacing=4.0), folder)
    return folder


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cases")
    for seed in (21, 22):
        _write_case(root / f"case{seed}", seed)
    return root


def _json(capsys) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(capsys.readouterr().out)


def test_dice_json(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    ref = np.zeros((4, 4, 2), np.int16)
    ref[:2] = 1
    pred = np.zeros_like(ref)
    pred[:1] = 1
    grid = Volume.from_spacing(ref)
    save_volume(grid.with_data(ref), tmp_path / "r.nii.gz")
    save_volume(grid.with_data(pred), tmp_path / "p.nii.gz")
    assert main(["dice", "--reference", str(tmp_path / "r.nii.gz"), "--prediction",
                 str(tmp_path / "p.nii.gz"), "--json"]) == 0
    out = _json(capsys)
    assert out["dice"] == {"skull": pytest.approx(2 * 8 / (16 + 8), abs=1e-4)}
    assert out["mean_dice"] == pytest.approx(0.6667, abs=1e-4)


def test_dice_shape_mismatch_exit_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    save_volume(Volume.from_spacing(np.zeros((4, 4, 2), np.int16)), tmp_path / "r.nii.gz")
    save_volume(Volume.from_spacing(np.zeros((4, 5, 2), np.int16)), tmp_path / "p.nii.gz")
    code = main(["dice", "--reference", str(tmp_path / "r.nii.gz"), "--prediction",
                 str(tmp_path / "p.nii.gz")])
    err = capsys.readouterr().err
    assert code == 2 and "one voxel grid" in err and err.count("\n") == 1


def test_unknown_backend_and_missing_weights(cases: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    image = str(cases / "case21" / "image.nii.gz")
    assert main(["segment", "--image", image, "--out", str(tmp_path / "o.nii.gz"),
                 "--backend", "magic"]) == 2
    assert "invalid choice: 'magic'" in capsys.readouterr().err
    assert main(["segment", "--image", image, "--out", str(tmp_path / "o.nii.gz"),
                 "--model", str(tmp_path / "none.pt")]) == 2
    assert "weights not found" in capsys.readouterr().err
    assert main(["train-seg", "--backend", "atlas", "--cases", str(cases), "--out",
                 str(tmp_path / "m.pt")]) == 2
    assert "argument --backend: invalid choice: 'atlas'" in capsys.readouterr().err


def test_train_seg_shape_mismatch(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    case = tmp_path / "cases" / "bad"
    save_volume(Volume.from_spacing(np.zeros((6, 6, 6), np.float32)), case / "image.nii.gz")
    save_volume(Volume.from_spacing(np.zeros((6, 6, 5), np.int16)), case / "labels.nii.gz")
    assert main(["train-seg", "--cases", str(tmp_path / "cases"), "--out",
                 str(tmp_path / "m.pt")]) == 2
    assert "one voxel grid" in capsys.readouterr().err


def test_train_seg_randomise_needs_tissue_maps(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    case = tmp_path / "cases" / "plain"
    save_volume(Volume.from_spacing(np.zeros((6, 6, 6), np.float32)), case / "image.nii.gz")
    save_volume(Volume.from_spacing(np.zeros((6, 6, 6), np.int16)), case / "labels.nii.gz")
    assert main(["train-seg", "--cases", str(tmp_path / "cases"), "--out",
                 str(tmp_path / "m.pt"), "--randomise", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "tissue_classes.nii.gz" in err and err.count("\n") == 1
    assert main(["train-seg", "--cases", str(tmp_path / "cases"), "--out",
                 str(tmp_path / "m.pt"), "--randomise", "1.5"]) == 2
    assert "1.5" in capsys.readouterr().err
    assert main(["train-seg", "--cases", str(tmp_path / "cases"), "--out",
                 str(tmp_path / "m.pt"), "--strip", "0.1"]) == 2
    assert "--randomise" in capsys.readouterr().err
    assert main(["train-seg", "--cases", str(tmp_path / "cases"), "--out",
                 str(tmp_path / "m.pt"), "--renders", "2"]) == 2
    assert "--refine" in capsys.readouterr().err
    assert main(["train-seg", "--cases", str(tmp_path / "cases"), "--out",
                 str(tmp_path / "m.pt"), "--focus", "3"]) == 2
    assert "--refine" in capsys.readouterr().err


@pytest.mark.slow
def test_train_segment_fuse(cases: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    model = tmp_path / "m.pt"
    assert main(["train-seg", "--backend", "builtin", "--cases", str(cases), "--out", str(model),
                 "--iterations", "3", "--json"]) == 0
    assert _json(capsys)["cases"] == 2 and model.exists()
    case = cases / "case21"
    out = tmp_path / "cf.nii.gz"
    assert main(["segment", "--image", str(case / "image.nii.gz"), "--out", str(out), "--model",
                 str(model), "--json"]) == 0
    res = _json(capsys)
    assert res["backend"] == "builtin" and res["seconds"] >= 0 and isinstance(res["labels"], dict)
    image, pred = load_volume(case / "image.nii.gz"), load_volume(out)
    assert pred.shape == image.shape and np.allclose(pred.affine, image.affine)

    assert main(["fuse", "--craniofacial", str(case / "labels.nii.gz"), "--brain-dir", str(case),
                 "--out", str(tmp_path / "twin.nii.gz"), "--json"]) == 0
    fused = _json(capsys)
    assert "skull" in fused["labels"] and "gray_matter" in fused["labels"]
    assert fused["conflict_voxels"] >= 0 and Path(fused["files"]["sidecar"]).exists()
    assert main(["dice", "--reference", str(case / "labels.nii.gz"), "--prediction",
                 str(tmp_path / "twin.nii.gz"), "--json"]) == 0
    assert set(_json(capsys)["dice"]) >= {"skull", "mandible"}


def test_nnunet_trainer_and_fold_errors_are_clear(cases: Path, tmp_path: Path,
                                                 capsys) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("nnunetv2")
    base = ["train-seg", "--backend", "nnunet", "--cases", str(cases), "--out", str(tmp_path)]
    assert main([*base, "--trainer", "nope"]) == 2
    assert "unknown nnU-Net trainer 'nope'" in capsys.readouterr().err
    assert main([*base, "--fold", "7"]) == 2
    assert "--fold: invalid choice: '7'" in capsys.readouterr().err
    assert not (tmp_path / "nnUNet_raw").exists()  # nothing exported before the error


def test_train_refine_stage_then_segment_with_and_without_it(cases: Path, tmp_path: Path,
                                                          capsys) -> None:  # type: ignore[no-untyped-def]
    model = tmp_path / "m.pt"
    assert main(["train-seg", "--cases", str(cases), "--out", str(model), "--iterations", "2",
                 "--spacing", "8", "--json"]) == 0
    capsys.readouterr()
    refine = tmp_path / "m.refine.pt"
    assert main(["train-seg", "--refine", "--model", str(model), "--cases", str(cases), "--out",
                 str(refine), "--iterations", "2", "--spacing", "4", "--json"]) == 0
    assert _json(capsys)["cases"] == 2 and refine.exists()
    image = cases / "case21" / "image.nii.gz"
    for flags in ([], ["--no-refine"]):
        out = tmp_path / f"cf{len(flags)}.nii.gz"
        assert main(["segment", "--image", str(image), "--out", str(out), "--model", str(model),
                     "--json", *flags]) == 0
        assert _json(capsys)["shape"] == list(load_volume(image).shape)
    assert main(["train-seg", "--refine", "--backend", "nnunet", "--cases", str(cases),
                 "--out", str(refine)]) == 2
    assert "fine stage" in capsys.readouterr().err


@pytest.mark.slow
def test_segment_atlas_then_fuse(cases: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    case = cases / "case22"
    out = tmp_path / "tissue.nii.gz"
    assert main(["segment", "--backend", "atlas", "--image", str(case / "image.nii.gz"),
                 "--out", str(out), "--json"]) == 0
    res = _json(capsys)
    assert res["backend"] == "atlas" and "gray_matter" in res["labels"]
    brain_dir = Path(res["brain_dir"])
    assert (brain_dir / "brain_regions.nii.gz").exists() and out.exists()
    assert main(["fuse", "--craniofacial", str(case / "labels.nii.gz"), "--brain-dir",
                 str(brain_dir), "--out", str(tmp_path / "twin.nii.gz"), "--json"]) == 0
    fused = _json(capsys)
    assert {"skull", "white_matter"} <= set(fused["labels"])
    assert load_volume(tmp_path / "twin_hemispheres.nii.gz").shape == load_volume(out).shape
