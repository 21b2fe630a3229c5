"""`headtwin enhance` and `train-enhance`: DICOM in → derived DICOM out with the same geometry,
other images in their own grid, the context's sources in the JSON, one-line errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.data import get_testdata_file

from headtwin_app.cli.main import main
from headtwin_app.core.enhance.ce_unet import EnhanceConfig, EnhanceNet
from headtwin_app.core.enhance.predict import save_enhance_model

SIEMENS = "MR-SIEMENS-DICOM-WithOverlays.dcm"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_enhance_model(EnhanceNet(EnhanceConfig(width=4, depth=2, hidden=8)),
                              tmp_path_factory.mktemp("m") / "tiny.pt")


def _run(argv: list[str], capsys) -> tuple[int, dict | None, str]:  # type: ignore[no-untyped-def]
    code = main(argv)
    cap = capsys.readouterr()
    out = json.loads(cap.out) if code == 0 and "--json" in argv else None
    return code, out, cap.err


def test_dicom_in_derived_series_out(tiny_model: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = get_testdata_file(SIEMENS, download=False)
    out_dir = tmp_path / "derived"
    code, out, err = _run(["enhance", "--image", src, "--nrf", "2.5", "--model", str(tiny_model),
                           "--out", str(out_dir), "--json"], capsys)
    assert code == 0, err
    assert out["format"] == "DICOM" and out["files"] == 1 and out["nrf"] == 2.5
    assert out["context"]["is_3d"] == 1.0 and out["context"]["nrf"] == 2.5
    assert "AcquisitionMatrix" in out["context_sources"]["phase_kmax"]
    (derived,) = sorted(out_dir.iterdir())
    ds, orig = pydicom.dcmread(derived), pydicom.dcmread(src)
    assert list(ds.ImageType[:2]) == ["DERIVED", "SECONDARY"] and "2.5" in ds.DerivationDescription
    assert ds.SeriesInstanceUID != orig.SeriesInstanceUID
    a, b = sitk.ReadImage(str(derived)), sitk.ReadImage(src)
    assert a.GetSize() == b.GetSize()
    assert np.allclose(a.GetOrigin(), b.GetOrigin()) and np.allclose(a.GetSpacing(), b.GetSpacing())
    assert np.allclose(a.GetDirection(), b.GetDirection())


def test_nifti_keeps_its_grid_and_a_context_file_is_used(tiny_model: Path, tmp_path: Path,
                                                         capsys) -> None:  # type: ignore[no-untyped-def]
    affine = np.array([[0, 0, -1.2, 40], [1.1, 0, 0, -20], [0, 1.3, 0, 7], [0, 0, 0, 1.0]])
    img = np.random.default_rng(0).random((40, 36, 3)).astype(np.float32)
    nib.save(nib.Nifti1Image(img, affine), tmp_path / "in.nii.gz")
    (tmp_path / "ctx.json").write_text(json.dumps({"phase_kmax": 0.6, "nrf": 9}))
    code, out, err = _run(["enhance", "--image", str(tmp_path / "in.nii.gz"), "--nrf", "1.5",
                           "--context", str(tmp_path / "ctx.json"), "--model", str(tiny_model),
                           "--out", str(tmp_path / "out.nii.gz"), "--json"], capsys)
    assert code == 0, err
    assert out["context"]["phase_kmax"] == 0.6 and out["context"]["nrf"] == 1.5
    res = nib.load(tmp_path / "out.nii.gz")
    assert res.shape == img.shape and np.allclose(res.affine, affine)


@pytest.mark.parametrize(("extra", "message"), [
    (["--nrf", "0.5"], "--nrf"),
    (["--nrf", "2", "--model", "missing.pt"], "not found"),
    (["--nrf", "2", "--context", "nope.json"], "cannot read the context file"),
])
def test_errors_are_one_line(tiny_model: Path, tmp_path: Path, extra: list[str], message: str,
                             capsys) -> None:  # type: ignore[no-untyped-def]
    src = get_testdata_file("MR_small.dcm", download=False)
    argv = ["enhance", "--image", src, "--out", str(tmp_path / "o"), *extra]
    if "--model" not in extra:
        argv += ["--model", str(tiny_model)]
    code, _, err = _run(argv, capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_a_bad_context_key_and_a_full_output_folder(tiny_model: Path, tmp_path: Path,
                                                    capsys) -> None:  # type: ignore[no-untyped-def]
    src = get_testdata_file("MR_small.dcm", download=False)
    (tmp_path / "ctx.json").write_text(json.dumps({"phase_kmx": 0.5}))
    code, _, err = _run(["enhance", "--image", src, "--nrf", "2", "--model", str(tiny_model),
                         "--context", str(tmp_path / "ctx.json"), "--out", str(tmp_path / "o")],
                        capsys)
    assert code == 2 and "unknown context key" in err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.dcm").write_bytes(b"x")
    code, _, err = _run(["enhance", "--image", src, "--nrf", "2", "--model", str(tiny_model),
                         "--out", str(tmp_path / "full")], capsys)
    assert code == 2 and "new or empty folder" in err


def test_calibrate_enhance_stores_its_table_and_refuses_plain(tmp_path: Path,
                                                               capsys) -> None:  # type: ignore[no-untyped-def]
    """`calibrate-enhance` rewrites the model with its table (the file's other metadata kept);
    then `enhance` reports the calibrated context NRF; the plain ablation is refused."""
    from headtwin_app.core.enhance.calibrate import META_KEY
    from headtwin_app.core.enhance.predict import load_enhance_model

    model = save_enhance_model(EnhanceNet(EnhanceConfig(width=4, depth=2, hidden=8)),
                               tmp_path / "ce.pt", {"note": "kept"})
    code, out, err = _run(["calibrate-enhance", "--model", str(model), "--images", "1",
                           "--threads", "1", "--json"], capsys)
    assert code == 0, err
    back = load_enhance_model(model)
    assert back.meta["note"] == "kept"  # type: ignore[index]
    assert back.meta[META_KEY]["level"] == out["level"]  # type: ignore[index]
    # a fresh network is the identity: only "no reduction" is within reach, and it says so
    assert out["reachable"][0] and not any(out["reachable"][1:])
    nib.save(nib.Nifti1Image(np.ones((16, 12, 2), np.float32), np.eye(4)), tmp_path / "i.nii")
    code, out, err = _run(["enhance", "--image", str(tmp_path / "i.nii"), "--nrf", "3",
                           "--model", str(model), "--out", str(tmp_path / "o.nii.gz"), "--json"],
                          capsys)
    assert code == 0, err
    assert out["nrf"] == 3 and out["nrf_mapping"].startswith("calibrated")
    plain = save_enhance_model(EnhanceNet(EnhanceConfig(variant="plain", width=4, depth=2)),
                               tmp_path / "plain.pt")
    code, _, err = _run(["calibrate-enhance", "--model", str(plain)], capsys)
    assert code == 2 and "plain" in err and "Traceback" not in err
