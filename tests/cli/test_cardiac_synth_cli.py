"""`headtwin cardiac-synthesize`: the files, their layout and the JSON contract."""

import json

import nibabel as nib
import numpy as np
import pytest

from headtwin_app.cli.main import main


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from headtwin_app.core.cardiac import phase_net as pn
    from headtwin_app.core.cardiac.phantom import make_case
    from headtwin_app.core.cardiac.store import save_case

    root = tmp_path_factory.mktemp("synth")
    case = root / "case"
    save_case(make_case(1, frames=12, slices=1, size=64, snr=0), case)
    model = root / "phase.pt"
    cfg = pn.PhaseConfig(base=4, depth=2, batch=2, crop=32, pad_crop=48)
    pn.train_phase([case], model, minutes=1.0, config=cfg, max_steps=1)
    return case, model


def test_cardiac_synthesize_writes_a_case_folder(tiny, tmp_path, capsys):
    case, model = tiny
    out = tmp_path / "out"
    assert main(["cardiac-synthesize", "--case", str(case), "--out", str(out),
                 "--model", str(model), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    src = nib.load(case / "phase.nii.gz")
    ph = nib.load(out / "phase.nii.gz")
    assert ph.shape == (64, 64, 1, 12, 3) == tuple(res["shape"])
    np.testing.assert_allclose(ph.affine, src.affine)
    assert ph.header.get_zooms()[3] == src.header.get_zooms()[3]
    data = np.asarray(ph.dataobj)
    assert np.all(np.abs(data) <= np.pi + 1e-5)
    for name in ("magnitude.nii.gz", "lv_mask.nii.gz", "case.json"):
        assert (out / name).is_file()
    info = json.loads((out / "case.json").read_text())
    assert info["phase_source"]["scheme"] == "fgbg" and info["venc_mm_s"][2] == 300.0
    m = res["metrics"]
    assert set(m) == {"mse", "msew1", "msew2", "psnr", "ssim"}
    assert m["msew2"] <= m["mse"] and np.isfinite(m["psnr"])
    assert set(res["curve_r"]) == {"radial", "circumferential", "longitudinal"}
    assert res["seconds"] > 0


def test_cardiac_synthesize_takes_a_magnitude_file(tiny, tmp_path, capsys):
    case, model = tiny
    img = nib.load(case / "magnitude.nii.gz")
    mag = np.asarray(img.dataobj)[:, :, :, ::-1].copy()  # the cine played backwards
    mfile = tmp_path / "mag.nii.gz"
    nib.save(nib.Nifti1Image(mag, img.affine), mfile)
    out = tmp_path / "out"
    assert main(["cardiac-synthesize", "--case", str(case), "--out", str(out), "--model",
                 str(model), "--magnitude", str(mfile), "--json"]) == 0
    json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(np.asarray(nib.load(out / "magnitude.nii.gz").dataobj), mag)


def test_cardiac_synthesize_rejects_bad_input(tiny, tmp_path, capsys):
    case, model = tiny
    assert main(["cardiac-synthesize", "--case", str(tmp_path), "--out",
                 str(tmp_path / "o"), "--model", str(model)]) == 2
    assert "headtwin: error:" in capsys.readouterr().err
    assert main(["cardiac-synthesize", "--case", str(case), "--out", str(tmp_path / "o"),
                 "--model", str(tmp_path / "missing.pt")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["cardiac-synthesize", "--case", str(case), "--out", str(tmp_path / "o"),
                 "--model", str(model), "--scheme", "vanilla"]) == 2
    assert "fgbg" in capsys.readouterr().err
