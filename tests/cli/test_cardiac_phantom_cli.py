"""`headtwin cardiac-phantom`: the files, their layout and the JSON contract."""

import json

import nibabel as nib
import numpy as np

from headtwin_app.cli.main import main


def test_cardiac_phantom_writes_the_case(tmp_path, capsys):
    out = tmp_path / "case"
    assert main(["cardiac-phantom", "--seed", "5", "--out", str(out), "--frames", "16",
                 "--slices", "2", "--size", "64", "--snr", "20", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["synthetic"] is True and result["snr"] == 20
    mag = nib.load(out / "magnitude.nii.gz")
    assert mag.shape == (64, 64, 2, 16)
    assert mag.header.get_zooms()[3] == np.float32(result["rr_ms"] / 16)
    vel = nib.load(out / "velocity.nii.gz")
    assert vel.shape == (64, 64, 2, 16, 3) and vel.header.get_intent()[0] == "vector"
    assert nib.load(out / "phase.nii.gz").shape == (64, 64, 2, 16, 3)
    assert set(np.unique(np.asarray(nib.load(out / "lv_mask.nii.gz").dataobj))) == {0, 1, 2}
    info = json.loads((out / "case.json").read_text())
    assert info["venc_mm_s"] == [200.0, 200.0, 300.0]
    assert len(info["truth"]["curves_mm_s"]["longitudinal"]) == 16


def test_cardiac_phantom_rejects_bad_arguments(tmp_path, capsys):
    assert main(["cardiac-phantom", "--seed", "1", "--out", str(tmp_path / "x"),
                 "--frames", "3"]) == 2
    assert "headtwin: error:" in capsys.readouterr().err


def test_cardiac_phantom_takes_rr_from_the_real_ecg(tmp_path, capsys):
    from headtwin_app.core.cardiac.ecg import rr_intervals_ms

    rr = rr_intervals_ms()
    assert len(rr) >= 8 and all(900 < v < 1050 for v in rr)  # a ~62 bpm recording
    out = tmp_path / "case"
    assert main(["cardiac-phantom", "--seed", "3", "--out", str(out), "--frames", "10",
                 "--slices", "1", "--size", "64", "--ecg", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rr_ms"] == rr[3 % len(rr)] and "waveform_ecg" in result["rr_source"]
