"""`headtwin recon-cine`, `train-recon` with a cine config and `train-cine-features`: the JSON
contract, the output grid, and one-line errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from headtwin_app.cli.main import main
from headtwin_app.core.recon.cine_cascade import CineCascade, CineConfig
from headtwin_app.core.recon.cine_data import CineSequence, save_cine
from headtwin_app.core.recon.cine_predict import load_cine_model, save_cine_model


def _seq(nt: int = 10, n: int = 48, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    bg = 0.3 * (((yy - n / 2) ** 2 + (xx - n / 2) ** 2) < (0.45 * n) ** 2)
    frames = []
    for t in range(nt):
        r = n / 6 * (1 + 0.25 * np.sin(2 * np.pi * t / nt))
        frames.append(bg + 0.02 * rng.random((n, n)) + (((yy - n / 2) ** 2 + (xx - n / 2) ** 2)
                                                        < r ** 2))
    return np.asarray(frames, np.float32)


@pytest.fixture
def cine_file(tmp_path: Path) -> Path:
    affine = np.array([[0, 1.5, 0, -30], [1.5, 0, 0, 12], [0, 0, 8, 4], [0, 0, 0, 1.0]])
    return save_cine(tmp_path / "cine.nii.gz", _seq(), frame_ms=40.0, affine=affine)


def _run(argv: list[str], capsys) -> tuple[int, dict | None, str]:  # type: ignore[no-untyped-def]
    code = main(argv)
    cap = capsys.readouterr()
    out = json.loads(cap.out) if code == 0 and "--json" in argv else None
    return code, out, cap.err


def test_lps_beats_zero_filled_and_keeps_the_grid(cine_file: Path, tmp_path: Path,
                                                  capsys) -> None:  # type: ignore[no-untyped-def]
    out_file = tmp_path / "rec.nii.gz"
    code, out, err = _run(["recon-cine", "--cine", str(cine_file), "--mask", "kt_vd_cartesian",
                           "--accel", "4", "--method", "lps", "--out", str(out_file), "--json"],
                          capsys)
    assert code == 0, err
    assert out["frames"] == 10 and out["shape"] == [48, 48] and out["method"] == "lps"
    assert abs(out["accel_achieved"] - 4) / 4 < 0.02
    assert out["psnr"] > out["psnr_zero_filled"] + 2 and out["hfen"] < out["hfen_zero_filled"]
    assert "per frame" in out["metrics"] and out["seconds"] > 0
    src, rec = nib.load(cine_file), nib.load(out_file)
    assert rec.shape == src.shape and np.allclose(rec.affine, src.affine)


def test_cascade3d_runs_a_given_model(cine_file: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    model = save_cine_model(CineCascade(CineConfig("complex", 1, 4)), tmp_path / "m.pt")
    code, out, err = _run(["recon-cine", "--cine", str(cine_file), "--mask", "kt_random",
                           "--accel", "4", "--seed", "3", "--method", "cascade3d", "--model",
                           str(model), "--json"], capsys)
    assert code == 0, err
    assert out["model"] == str(model) and np.isfinite(out["psnr"])


@pytest.mark.parametrize(("argv", "message"), [
    (["--mask", "kt_nope"], "invalid choice"),
    (["--mask", "kt_random", "--method", "zf", "--model", "x.pt"], "only applies"),
    (["--mask", "kt_vd_cartesian", "--accel", "40"], "cannot be reached"),
    (["--mask", "kt_random", "--out", "rec.png"], "NIfTI"),
    (["--mask", "kt_random", "--method", "cascade3d", "--model", "missing.pt"], "not found"),
])
def test_errors_are_one_line(cine_file: Path, argv: list[str], message: str, capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = _run(["recon-cine", "--cine", str(cine_file), *argv], capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_a_volume_is_not_read_as_a_cine(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "vol.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((16, 16, 3, 4), np.float32), np.eye(4)), path)
    code, _, err = _run(["recon-cine", "--cine", str(path), "--mask", "kt_random"], capsys)
    assert code == 2 and "slices" in err and "--slice" in err


def test_one_slice_of_a_multi_slice_cine_lands_on_that_slice(tmp_path: Path,
                                                            capsys) -> None:  # type: ignore[no-untyped-def]
    """--slice K reads slice K of an x, y, s, t cine (the cardiac phantom's layout) and writes
    the result on that slice's own grid: the output's voxel (i, j, 0) is the input's (i, j, K)."""
    seqs = [(k + 1) * _seq(10, 32, k) for k in range(3)]  # slices of different brightness
    data = np.stack([q.transpose(2, 1, 0) for q in seqs], axis=2)  # x, y, s, t
    affine = np.array([[0, 1.5, 0.2, -30], [1.5, 0, 0.1, 12], [0, 0, 8, 4], [0, 0, 0, 1.0]])
    src = tmp_path / "stack.nii.gz"
    nib.save(nib.Nifti1Image(data.astype(np.float32), affine), src)
    out_file = tmp_path / "rec.nii.gz"
    code, out, err = _run(["recon-cine", "--cine", str(src), "--slice", "2", "--mask",
                           "kt_vd_cartesian", "--accel", "4", "--method", "zf", "--out",
                           str(out_file), "--json"], capsys)
    assert code == 0, err
    assert out["slice"] == 2 and out["frames"] == 10 and out["shape"] == [32, 32]
    rec = nib.load(out_file)
    assert rec.shape == (32, 32, 1, 10)
    assert np.allclose(rec.affine @ [4, 5, 0, 1], affine @ [4, 5, 2, 1])
    # zero-filled at R 4 still resembles slice 2 far more than slices 0 or 1
    got = np.asarray(rec.dataobj)[:, :, 0]
    errs = [float(np.abs(got - data[:, :, k]).mean()) for k in range(3)]
    assert int(np.argmin(errs)) == 2
    code, _, err = _run(["recon-cine", "--cine", str(src), "--slice", "3", "--mask",
                         "kt_random"], capsys)
    assert code == 2 and "0–2" in err and "Traceback" not in err


@pytest.fixture
def tiny_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small synthetic splits instead of the generated 192² sequences."""
    from headtwin_app.core.recon import cine_data

    def fake(split: str, n: int | None = None, frames: int = 20, size: int = 192
             ) -> list[CineSequence]:
        base = {"train": 0, "val": 50, "test": 90}[split]
        seqs = [CineSequence(f"s{base + i}", "phantom", _seq(8, 40, base + i)) for i in range(3)]
        return seqs[:n]

    monkeypatch.setattr(cine_data, "cine_set", fake)


def test_train_recon_with_a_cine_config(tiny_data: None, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg = {"task": "cine", "model": {"block": "simple", "n_cascades": 1, "width": 4},
           "frames": 6, "patch": 32, "family": "kt_random", "val_every": 2, "n_val": 1}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    out_pt = tmp_path / "cine.pt"
    code, out, err = _run(["train-recon", "--config", str(tmp_path / "cfg.json"), "--out",
                           str(out_pt), "--steps", "4", "--json"], capsys)
    assert code == 0, err
    assert out["task"] == "cine" and out["steps"] == 4 and out["n_train_sequences"] == 3
    model = load_cine_model(out_pt)
    assert model.config.width == 4 and model.meta["train"]["steps"] == 4
    hist = json.loads(out_pt.with_suffix(".train.json").read_text())
    assert len(hist["train_loss"]) == 4 and hist["val_step"] == [2, 4]
    (tmp_path / "bad.json").write_text(json.dumps({"task": "cine", "loss": "vgg"}))
    code, _, err = _run(["train-recon", "--config", str(tmp_path / "bad.json"), "--out",
                         str(out_pt)], capsys)
    assert code == 2 and "loss must be one of" in err


def test_train_cine_features(tiny_data: None, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from headtwin_app.core.recon.cine_features import load_encoder

    out_pt = tmp_path / "feat.pt"
    code, out, err = _run(["train-cine-features", "--out", str(out_pt), "--minutes", "0.02",
                           "--json"], capsys)
    assert code == 0, err
    assert out["steps"] >= 1 and out["frames"] == 24
    enc = load_encoder(out_pt)
    assert enc.widths == (16, 32) and not any(p.requires_grad for p in enc.parameters())
