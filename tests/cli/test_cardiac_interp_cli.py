"""`headtwin cardiac-interpolate` and `headtwin train-cardiac`: files, layout, JSON contract."""

import json

import nibabel as nib
import numpy as np
import pytest

from headtwin_app.cli.main import main


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    from headtwin_app.core.cardiac.phantom import make_case
    from headtwin_app.core.cardiac.store import save_case

    root = tmp_path_factory.mktemp("cases")
    save_case(make_case(1, frames=14, slices=1, size=64, snr=0), root / "case1")
    return root / "case1"


def test_cardiac_interpolate_writes_the_case(case_dir, tmp_path, capsys):
    out = tmp_path / "interp"
    assert main(["cardiac-interpolate", "--case", str(case_dir), "--k", "2", "--out", str(out),
                 "--method", "linear", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kept_frames"] == [0, 3, 6, 9, 12] and result["n_interpolated"] == 9
    m = result["metrics"]["2"]
    assert set(m) == {"Dice", "Dice_LV", "SSIM", "PSNR", "MSE", "MSEW1", "MSEW2"}
    assert 0.8 < m["Dice"] <= 1 and m["MSEW1"] <= m["MSE"] and result["seconds"] > 0
    src = nib.load(case_dir / "magnitude.nii.gz")
    mag = nib.load(out / "magnitude.nii.gz")
    assert mag.shape == src.shape and np.allclose(mag.affine, src.affine)
    assert mag.header.get_zooms() == src.header.get_zooms()
    kept = np.asarray(mag.dataobj)[..., [0, 3, 6, 9, 12]]
    np.testing.assert_array_equal(kept, np.asarray(src.dataobj)[..., [0, 3, 6, 9, 12]])
    lv = np.asarray(nib.load(out / "lv_mask.nii.gz").dataobj)
    assert lv.shape == src.shape and set(np.unique(lv)) <= {0, 1, 2}
    info = json.loads((out / "case.json").read_text())
    assert info["seed"] == 1 and info["interpolated"]["method"] == "linear"
    assert info["interpolated"]["k"] == 2 and "metrics" in info["interpolated"]


def test_train_then_interpolate_with_the_net(case_dir, tmp_path, capsys, monkeypatch):
    from headtwin_app.core.cardiac import interp_net

    real = interp_net.InterpConfig
    tiny = {"base": 4, "depth": 2, "t": 1, "crop": 32, "batch": 2, "val_every": 1}
    monkeypatch.setattr(interp_net, "InterpConfig", lambda **kw: real(**(kw or tiny)))
    model = tmp_path / "m.pt"
    assert main(["train-cardiac", "--what", "interp", "--cases", str(case_dir.parent),
                 "--val-cases", str(case_dir.parent), "--out", str(model),
                 "--minutes", "0.03", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["what"] == "interp" and result["cases"] == 1 and model.is_file()
    assert (tmp_path / "m.train.json").is_file()
    out = tmp_path / "interp"
    assert main(["cardiac-interpolate", "--case", str(case_dir), "--k", "3", "--out", str(out),
                 "--model", str(model), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["method"] == "net" and result["model"] == str(model)
    assert "3" in result["metrics"]


@pytest.mark.parametrize("scheme", ["fgbg", "vanilla"])
def test_train_cardiac_phase_trains_the_chosen_scheme(case_dir, tmp_path, capsys, scheme):
    import torch

    model = tmp_path / "p.pt"
    assert main(["train-cardiac", "--what", "phase", "--scheme", scheme,
                 "--cases", str(case_dir.parent), "--val-cases", str(case_dir.parent),
                 "--out", str(model), "--minutes", "0.02", "--seed", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["what"] == "phase" and result["cases"] == 1 and model.is_file()
    saved = torch.load(model, weights_only=True)
    assert saved["config"]["scheme"] == scheme


def test_train_cardiac_phase_options_reach_the_checkpoint(case_dir, tmp_path, capsys):
    import torch

    model = tmp_path / "w.pt"
    assert main(["train-cardiac", "--what", "phase", "--cases", str(case_dir.parent),
                 "--val-cases", str(case_dir.parent), "--out", str(model), "--minutes", "0.02",
                 "--myo-weight", "5", "--augment", "--threads", "1",
                 "--frame-offsets", "-2", "0", "2", "--batch", "3", "--device", "cpu",
                 "--select", "curve_r", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["torch_threads"] == 1 and result["device"] == "cpu"
    assert result["selection"] == "curve_r" and -1.0 <= result["best_val_curve_r_min"] <= 1.0
    cfg = torch.load(model, weights_only=True)["config"]
    assert cfg["myo_weight"] == 5.0 and cfg["augment"] is True and cfg["batch"] == 3
    assert cfg["select"] == "curve_r"
    assert tuple(cfg["frame_offsets"]) == (-2, 0, 2)
    assert main(["train-cardiac", "--what", "phase", "--cases", str(case_dir.parent),
                 "--frame-offsets", "-1", "1", "--out", str(tmp_path / "z.pt")]) == 2
    assert "include 0" in capsys.readouterr().err
    assert main(["train-cardiac", "--what", "phase", "--cases", str(case_dir.parent),
                 "--subjects", "4", "--out", str(tmp_path / "x.pt")]) == 2
    assert "cannot be combined" in capsys.readouterr().err
    assert main(["train-cardiac", "--what", "phase", "--myo-weight", "0.5",
                 "--out", str(tmp_path / "y.pt")]) == 2
    assert main(["train-cardiac", "--what", "interp", "--cases", str(case_dir.parent),
                 "--batch", "4", "--out", str(tmp_path / "i.pt")]) == 2
    assert "phase only" in capsys.readouterr().err


def test_train_cardiac_phase_cuda_without_gpu_is_a_clear_error(case_dir, tmp_path, capsys,
                                                                monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["train-cardiac", "--what", "phase", "--cases", str(case_dir.parent),
                 "--device", "cuda", "--minutes", "0.01", "--out", str(tmp_path / "g.pt")]) == 2
    assert "no GPU" in capsys.readouterr().err
    assert not (tmp_path / "g.pt").exists()


def test_cardiac_interpolate_rejects_bad_input(case_dir, tmp_path, capsys):
    assert main(["cardiac-interpolate", "--case", str(case_dir), "--k", "13",
                 "--out", str(tmp_path / "x"), "--method", "linear"]) == 2
    assert "headtwin: error:" in capsys.readouterr().err
    assert main(["cardiac-interpolate", "--case", str(tmp_path), "--k", "2",
                 "--out", str(tmp_path / "y")]) == 2
    assert "not a cardiac case folder" in capsys.readouterr().err
    assert main(["cardiac-interpolate", "--case", str(case_dir), "--k", "2",
                 "--out", str(tmp_path / "z"), "--model", str(tmp_path / "none.pt")]) == 2
    assert "headtwin: error:" in capsys.readouterr().err
