"""`headtwin cardiac-velocity`: the JSON contract, the truth comparison, phase / mask / venc
options, the human table and one-line errors."""

import json

import nibabel as nib
import numpy as np
import pytest

from headtwin_app.cli.main import main
from headtwin_app.core.cardiac.phantom import make_case
from headtwin_app.core.cardiac.store import save_case
from headtwin_app.core.cardiac.velocity import DIRECTIONS


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    case = make_case(4, frames=32, slices=1, size=64, snr=0)
    d = tmp_path_factory.mktemp("cv") / "case"
    save_case(case, d)
    return d, case


def run_json(capsys, *argv):
    code = main(["cardiac-velocity", *argv, "--json"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    return json.loads(cap.out)


def test_json_contract_and_truth(case_dir, capsys):
    d, case = case_dir
    out = run_json(capsys, "--case", str(d))
    assert out["source"] == "velocity" and out["synthetic"] is True
    assert out["frames"] == 32 and out["venc_mm_s"] == [200.0, 200.0, 300.0]
    assert set(out["curves_mm_s"]) == set(DIRECTIONS) == set(out["peaks"]) == set(out["truth"])
    assert all(len(c) == 32 for c in out["curves_mm_s"].values())
    assert set(out["peaks"]["radial"]) == {"psv", "tpsv", "pdv", "tpdv", "mean"}
    assert out["above_venc"]["voxels"] == 0 and "conventions" in out
    for d_ in DIRECTIONS:  # the noise-free target, at 32 frames
        t = out["truth"][d_]
        assert abs(t["psv_error_mm_s"]) < 0.5 and abs(t["pdv_error_mm_s"]) < 0.5
        assert abs(t["tpsv_error_frames"]) < 0.5 and abs(t["tpdv_error_frames"]) < 0.5
        assert t["curve_r"] > 0.999
        assert t["truth"] == case.info["truth"]["peaks"][d_]


def test_phase_file_and_venc_override(case_dir, capsys, tmp_path):
    d, case = case_dir
    nib.save(nib.Nifti1Image(case.phase, case.affine), tmp_path / "phase.nii.gz")
    from_file = run_json(capsys, "--case", str(d), "--phase", str(tmp_path / "phase.nii.gz"))
    assert from_file["source"] == "phase" and from_file["phase_file"].endswith("phase.nii.gz")
    assert from_file["above_venc"]["method"].startswith("in-plane neighbouring phase jumps")
    ref = run_json(capsys, "--case", str(d))
    for d_ in DIRECTIONS:
        assert from_file["peaks"][d_]["psv"] == pytest.approx(ref["peaks"][d_]["psv"], abs=0.05)
    # Half the venc halves every velocity decoded from the same phase.
    half = run_json(capsys, "--case", str(d), "--phase", str(tmp_path / "phase.nii.gz"),
                    "--venc", "100,100,150")
    assert half["venc_mm_s"] == [100.0, 100.0, 150.0]
    for d_ in DIRECTIONS:
        assert half["peaks"][d_]["mean"] == pytest.approx(from_file["peaks"][d_]["mean"] / 2,
                                                          rel=1e-4)


def test_npz_with_separate_mask_and_through_plane_sign(case_dir, capsys, tmp_path):
    _, case = case_dir
    np.savez(tmp_path / "cine.npz", magnitude=case.magnitude, phase=case.phase, venc=250.0,
             spacing_mm=1.5)
    np.save(tmp_path / "mask.npy", case.lv_mask)
    argv = ["--case", str(tmp_path / "cine.npz"), "--venc", "200,200,300",
            "--mask", str(tmp_path / "mask.npy")]
    out = run_json(capsys, *argv)
    assert out["source"] == "phase" and "truth" not in out and out["synthetic"] is False
    flipped = run_json(capsys, *argv, "--through-plane", "apex")
    np.testing.assert_allclose(flipped["curves_mm_s"]["longitudinal"],
                               -np.array(out["curves_mm_s"]["longitudinal"]), atol=1e-4)


def test_human_table(case_dir, capsys):
    d, _ = case_dir
    assert main(["cardiac-velocity", "--case", str(d)]) == 0
    text = capsys.readouterr().out
    assert "PSV" in text and "TPDV" in text and "dPSV" in text
    assert all(any(line.startswith(x) for line in text.splitlines()) for x in DIRECTIONS)
    assert "above venc" in text


@pytest.mark.parametrize(("extra", "message"), [
    (["--venc", "200,0,300"], "venc"),
    (["--venc", "a,b"], "venc"),
    (["--phase", "MISSING.nii.gz"], "no such file"),
    (["--oversample", "0"], "outside"),
])
def test_bad_arguments_are_one_line_errors(case_dir, capsys, extra, message):
    d, _ = case_dir
    assert main(["cardiac-velocity", "--case", str(d), *extra, "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("headtwin: error:") and message in err and err.count("\n") == 1


def test_missing_mask_and_bad_phase_shape(case_dir, capsys, tmp_path):
    d, case = case_dir
    np.savez(tmp_path / "nomask.npz", magnitude=case.magnitude, velocity=case.velocity)
    assert main(["cardiac-velocity", "--case", str(tmp_path / "nomask.npz")]) == 2
    assert "--mask" in capsys.readouterr().err
    np.save(tmp_path / "p.npy", case.phase[:, :, :, :8])
    assert main(["cardiac-velocity", "--case", str(d), "--phase", str(tmp_path / "p.npy")]) == 2
    assert "does not match" in capsys.readouterr().err
    assert main(["cardiac-velocity", "--case", str(tmp_path / "nowhere")]) == 2
    assert "no such file" in capsys.readouterr().err
