"""The command line turns bad input into one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from headtwin_app.cli.main import main
from headtwin_app.core.io import save_volume
from headtwin_app.core.volume import Volume


def test_info_json(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    save_volume(Volume.from_spacing(np.ones((4, 5, 6), np.float32), (1, 2, 3)), tmp_path / "a.mha")
    assert main(["info", "--image", str(tmp_path / "a.mha"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["shape"] == [4, 5, 6] and out["spacing_mm"] == [1.0, 2.0, 3.0]


def test_convert_round_trip(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    save_volume(Volume.from_spacing(data), tmp_path / "a.nii.gz")
    assert main(["convert", "--image", str(tmp_path / "a.nii.gz"), "--out",
                 str(tmp_path / "b.nrrd")]) == 0
    assert main(["info", "--image", str(tmp_path / "b.nrrd"), "--json"]) == 0


def test_missing_file_exit_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(["info", "--image", str(tmp_path / "missing.nii.gz")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("headtwin: error:") and "missing.nii.gz" in err
    assert err.count("\n") == 1


def test_console_script_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"\x1f\x8b garbage")
    proc = subprocess.run([sys.executable, "-m", "headtwin_app.cli.main", "info", "--image",
                           str(bad)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "bad.nii.gz" in proc.stderr


def test_closed_pipe_is_not_a_traceback(tmp_path: Path) -> None:
    """`headtwin ... --json | true`: the reader is gone before we write; no traceback."""
    save_volume(Volume.from_spacing(np.ones((4, 5, 6), np.float32)), tmp_path / "a.mha")
    cmd = (f"{sys.executable} -m headtwin_app.cli.main info --image {tmp_path / 'a.mha'} "
           "--json | true")
    done = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr
    assert "BrokenPipe" not in done.stderr
