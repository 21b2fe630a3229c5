"""`headtwin simulate` / `headtwin sweep`: the JSON contract, output files and errors."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from headtwin_app.cli.main import main
from headtwin_app.core.io import save_volume
from headtwin_app.core.volume import Volume

KEYS = ("mask", "accel_requested", "accel_achieved", "psnr", "ssim", "nmse", "scan_time_s")


def _blob(shape: tuple[int, int, int]) -> np.ndarray:
    g = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    r2 = sum(x**2 for x in g)
    rng = np.random.default_rng(0)
    return ((r2 < 0.6) * 80 + (r2 < 0.2) * 40 + rng.random(shape) * 5).astype(np.float32)


@pytest.fixture()
def volume(tmp_path: Path) -> Path:
    p = tmp_path / "vol.nii.gz"
    save_volume(Volume.from_spacing(_blob((32, 40, 16)), (1.0, 1.0, 2.0)), p)
    return p


@pytest.fixture()
def image2d(tmp_path: Path) -> Path:
    p = tmp_path / "slice.npy"
    np.save(p, _blob((32, 40, 16))[:, :, 8])
    return p


def test_simulate_json_and_outputs_3d(volume: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out_dir = tmp_path / "out"
    code = main(["simulate", "--image", str(volume), "--mask", "radial", "--accel", "4",
                 "--seed", "3", "--out", str(out_dir), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    for key in KEYS:
        assert out[key] is not None, key
    assert out["mask"] == "radial" and out["dims"] == 3
    assert out["accel_requested"] == 4.0
    assert abs(out["accel_achieved"] / 4 - 1) <= 0.02
    assert out["mask_shape"] == [40, 16]  # (ky, kz): Y and Z of the volume
    assert out["scan_time_s"] == pytest.approx(out["scan_time_full_s"] / out["accel_achieved"])
    for name in ("mask", "zero_filled", "difference"):
        img = nib.load(out_dir / f"{name}.nii.gz")
        assert img.shape == (32, 40, 16), name
    mask = np.asarray(nib.load(out_dir / "mask.nii.gz").dataobj)
    assert (mask == mask[:1]).all()  # readout (X) fully sampled in 3D mode


def test_simulate_2d_slice_of_a_volume(volume: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(["simulate", "--image", str(volume), "--mask", "equispaced", "--accel", "4",
                 "--dims", "2", "--slice", "5", "--center-fraction", "0.1", "--noise", "0.01",
                 "--out", str(tmp_path / "o"), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dims"] == 2 and out["slice"] == 5 and out["mask_shape"] == [40, 32]
    zf = nib.load(tmp_path / "o" / "zero_filled.nii.gz")
    assert zf.shape[:2] == (32, 40)
    np.testing.assert_allclose(zf.affine[2, 3], -15 + 2 * 5)  # the slice's position


def test_simulate_npy_2d_default_dims(image2d: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["simulate", "--image", str(image2d), "--mask", "kmax", "--accel", "2",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dims"] == 2 and out["psnr"] > 10


def test_simulate_combined_and_pf(volume: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["simulate", "--image", str(volume), "--mask", "upper_half", "--accel", "4",
                 "--combine-with", "random_line", "--dims", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["combined_with"] == "random_line" and out["accel_achieved"] == 4.0
    assert main(["simulate", "--image", str(volume), "--mask", "random_points", "--accel", "4",
                 "--pf-fraction", "0.75", "--json"]) == 0


@pytest.mark.parametrize("args,needle", [
    (["--mask", "zigzag", "--accel", "2"], "unknown mask family"),
    (["--mask", "radial", "--accel", "0.5"], "--accel: 0.5 is outside [1, 1000]"),
    (["--mask", "upper_half", "--accel", "4"], "R <= 2"),
    (["--mask", "random_line", "--accel", "3", "--dims", "2"], "cannot be reached"),
    (["--mask", "radial", "--accel", "2", "--center-fraction", "0.1"], "center_fraction"),
])
def test_simulate_errors_exit_2(volume: Path, capsys, args, needle) -> None:  # type: ignore[no-untyped-def]
    code = main(["simulate", "--image", str(volume), *args, "--json"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("headtwin: error:") and needle in err and err.count("\n") == 1


def test_unreadable_image_exit_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not an image at all")
    assert main(["simulate", "--image", str(bad), "--mask", "radial", "--accel", "2"]) == 2
    assert main(["sweep", "--image", str(tmp_path / "none.nii"), "--accels", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("headtwin: error:") == 2


def test_sweep_json_csv_plot(volume: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    csv_path, png = tmp_path / "s.csv", tmp_path / "s.png"
    code = main(["sweep", "--image", str(volume), "--accels", "2,4,8", "--masks", "all",
                 "--dims", "3", "--csv", str(csv_path), "--plot", str(png), "--json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 30
    assert {r["mask"] for r in rows} == {
        "random_line", "random_points", "cartesian", "upper_half", "radial", "spiral",
        "equispaced", "kmax", "partial_fourier", "elliptical"}
    for r in rows:
        for key in KEYS:
            assert key in r
        assert r["error"] is None and abs(r["accel_achieved"] / r["accel_requested"] - 1) <= 0.02
    with open(csv_path, newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 30
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_errors(volume: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["sweep", "--image", str(volume), "--accels", "2,x"]) == 2
    assert main(["sweep", "--image", str(volume), "--accels", "0.5"]) == 2
    assert main(["sweep", "--image", str(volume), "--masks", "radial,nope"]) == 2
    assert capsys.readouterr().err.count("headtwin: error:") == 3


def test_console_entry_point(volume: Path) -> None:
    exe = shutil.which("headtwin", path=os.path.dirname(sys.executable) + os.pathsep
                       + os.environ.get("PATH", ""))
    cmd = [exe] if exe else [sys.executable, "-m", "headtwin_app.cli.main"]
    ok = subprocess.run([*cmd, "simulate", "--image", str(volume), "--mask", "spiral",
                         "--accel", "4", "--json"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["mask"] == "spiral"
    bad = subprocess.run([*cmd, "simulate", "--image", str(volume), "--mask", "nope",
                          "--accel", "4"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("headtwin: error: unknown mask family")
