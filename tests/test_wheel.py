"""The built wheel works alone: models and the label table travel inside it (package data read
through importlib.resources). Built here, installed into a fresh virtual environment outside the
repository, then `headtwin phantom`, `segment` and `mesh` run from there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> str:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout


@pytest.mark.slow
def test_wheel_runs_without_the_repository(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["HEADTWIN_CACHE"] = str(tmp_path / "cache")
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "--no-build-isolation",
          "-q", "-w", dist], tmp_path, env)
    wheel = next(dist.glob("headtwin_studio-*.whl"))
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], tmp_path, env)
    py = venv / "bin" / "python"
    _run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], tmp_path, env)
    # the dependencies (torch, VTK, ...) come from this environment's site-packages, added as
    # a plain path: its .pth files (the editable install of the checkout) are not run
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     tmp_path, env).strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    where = _run([py, "-c", "import headtwin_app; print(headtwin_app.__file__)"], tmp_path, env)
    assert where.startswith(str(venv)), where
    headtwin = venv / "bin" / "headtwin"
    case = tmp_path / "case"
    _run([headtwin, "phantom", "--seed", "2", "--spacing", "4", "--out", case, "--json"],
         tmp_path, env)
    seg = json.loads(_run([headtwin, "segment", "--image", case / "image.nii.gz", "--out",
                           tmp_path / "labels.nii.gz", "--no-refine", "--json"], tmp_path, env))
    assert "skull" in seg["labels"]  # the shipped weights were found inside the wheel
    models = Path(where).parent / "models"
    assert {p.name for p in models.iterdir()} >= {"seg_builtin.pt", "seg_builtin.refine.pt",
                                                  "recon_cascade.pt", "seg_builtin.md"}
    mesh = json.loads(_run([headtwin, "mesh", "--labels", tmp_path / "labels.nii.gz", "--out",
                            tmp_path / "meshes", "--json"], tmp_path, env))
    assert {s["name"] for s in mesh["structures"]} >= {"skull", "mandible"}  # the label table
