"""`headtwin recon` / `headtwin train-recon`: the JSON contract and one-line errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from headtwin_app.cli.main import main
from headtwin_app.core.fft import fft2c
from headtwin_app.core.io import save_volume
from headtwin_app.core.recon.cascade import CascadeConfig, CascadeNet
from headtwin_app.core.recon.predict import load_cascade, save_checkpoint
from headtwin_app.core.volume import Volume


def _image(n: int = 48, z: int = 1) -> np.ndarray:
    y, x = np.mgrid[:n, :n] - n / 2
    img = (x**2 + y**2 < (0.35 * n) ** 2).astype(np.float32)
    img[(x - 4) ** 2 + y**2 < 30] = 2.0
    return np.repeat(img[:, :, None], z, axis=2)


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return save_checkpoint(CascadeNet(CascadeConfig(1, 2, 4)), tmp_path / "tiny.pt")


def _run(argv: list[str], capsys) -> tuple[int, dict | None, str]:  # type: ignore[no-untyped-def]
    code = main(argv)
    cap = capsys.readouterr()
    out = json.loads(cap.out) if code == 0 and "--json" in argv else None
    return code, out, cap.err


@pytest.mark.parametrize("method", ["zf", "cs", "cascade"])
def test_recon_json_contract(tmp_path: Path, tiny_model: Path, method: str, capsys) -> None:  # type: ignore[no-untyped-def]
    save_volume(Volume.from_spacing(_image()), tmp_path / "img.nii.gz")
    argv = ["recon", "--image", str(tmp_path / "img.nii.gz"), "--mask", "cartesian",
            "--accel", "4", "--seed", "1", "--method", method, "--device", "cpu", "--json",
            "--out", str(tmp_path / "rec.nii.gz")]
    if method == "cascade":
        argv += ["--model", str(tiny_model)]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    for key in ("psnr", "ssim", "psnr_zero_filled", "ssim_zero_filled", "seconds", "device"):
        assert key in out
    assert out["device"] == "cpu" and out["method"] == method
    assert abs(out["accel_achieved"] - 4) / 4 < 0.05
    assert (tmp_path / "rec.nii.gz").exists()
    if method == "zf":
        assert out["psnr"] == out["psnr_zero_filled"]
    if method == "cs":
        assert out["psnr"] > out["psnr_zero_filled"]


def test_recon_3d_slice_by_slice(tmp_path: Path, tiny_model: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    save_volume(Volume.from_spacing(_image(32, z=5)), tmp_path / "vol.nii.gz")
    code, out, err = _run(["recon", "--image", str(tmp_path / "vol.nii.gz"), "--mask", "radial",
                           "--accel", "3", "--method", "cascade", "--model", str(tiny_model),
                           "--batch-size", "2", "--json"], capsys)
    assert code == 0, err
    assert out["slices"] == 5 and out["shape"] == [32, 32]


def test_recon_kspace_h5_without_ground_truth(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    img = _image(32, z=2).transpose(2, 1, 0)
    k = fft2c(img.astype(np.complex64))
    k[:, :, ::2] = 0  # every other column missing: R = 2
    with h5py.File(tmp_path / "k.h5", "w") as f:
        f.create_dataset("kspace", data=k.astype(np.complex64))
    code, out, err = _run(["recon", "--kspace", str(tmp_path / "k.h5"), "--method", "cs",
                           "--json", "--out", str(tmp_path / "r.nii.gz")], capsys)
    assert code == 0, err
    assert "psnr" not in out and out["accel_achieved"] == pytest.approx(2.0)
    assert (tmp_path / "r.nii.gz").exists()


@pytest.mark.parametrize("argv, needle", [
    (["--mask", "nosuchmask", "--method", "zf"], "unknown mask family"),
    (["--mask", "cartesian", "--model", "MISSING"], "not found"),
    (["--mask", "cartesian", "--model", "CORRUPT"], "damaged or of another kind"),
    (["--mask", "cartesian", "--device", "cuda"], "GPU"),
    (["--mask", "cartesian", "--method", "zf", "--model", "x.pt"], "only applies"),
    (["--method", "zf"], "--mask"),
])
def test_recon_errors_exit_2(tmp_path: Path, argv: list[str], needle: str, capsys) -> None:  # type: ignore[no-untyped-def]
    import torch

    if "cuda" in argv and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    save_volume(Volume.from_spacing(_image()), tmp_path / "img.nii.gz")
    (tmp_path / "corrupt.pt").write_bytes(b"garbage")
    argv = [a.replace("MISSING", str(tmp_path / "none.pt"))
            .replace("CORRUPT", str(tmp_path / "corrupt.pt")) for a in argv]
    code, _, err = _run(["recon", "--image", str(tmp_path / "img.nii.gz"), *argv], capsys)
    assert code == 2
    assert err.startswith("headtwin: error:") and needle in err and err.count("\n") == 1


def test_train_recon_cli(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import headtwin_app.core.recon.train as tr

    slices = np.empty(3, dtype=object)
    for i in range(3):
        slices[i] = _image(32)[:, :, 0] * (1 + i)
    monkeypatch.setattr(tr, "training_slices", lambda **_: slices)
    cfg = {"model": {"n_cascades": 1, "n_convs": 2, "width": 4}, "steps": 3, "batch_size": 2,
           "patch": 0, "val_every": 2, "threads": 0, "include_phantom": False,
           "families": ["cartesian"], "accel_min": 3, "accel_max": 4}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    out_pt = tmp_path / "m.pt"
    code, out, err = _run(["train-recon", "--config", str(tmp_path / "cfg.json"), "--out",
                           str(out_pt), "--device", "cpu", "--json"], capsys)
    assert code == 0, err
    assert out["steps"] == 3 and out_pt.exists() and Path(out["loss_curve"]).exists()
    model = load_cascade(out_pt)  # weights_only=True reads what training wrote
    assert model.config.width == 4 and model.meta["steps"] == 3
    (tmp_path / "bad.json").write_text(json.dumps({"nosuchkey": 1}))
    code, _, err = _run(["train-recon", "--config", str(tmp_path / "bad.json"), "--out",
                         str(out_pt)], capsys)
    assert code == 2 and "unknown config key" in err
