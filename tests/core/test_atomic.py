"""Atomic writes: the target is whole or untouched; temporaries of dead writers are cleaned up,
those of live ones are not; outputs that are inputs are refused."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from headtwin_app.core.atomic import (
    atomic_folder,
    atomic_output,
    atomic_write_text,
    refuse_inputs,
    remove_stale_temporaries,
)
from headtwin_app.core.errors import OutputError, UserError


def test_a_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = atomic_write_text(tmp_path / "a.json", "old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("the writer broke")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["a.json"]


def test_temporary_keeps_the_suffix(tmp_path: Path) -> None:
    with atomic_output(tmp_path / "labels.nii.gz") as tmp:
        assert tmp.name.endswith(".nii.gz") and tmp.parent == tmp_path
        tmp.write_bytes(b"x")


def test_stale_temporaries_of_dead_writers_only(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".labels.{dead}-0123abcd.htw-tmp.nii.gz"
    live = tmp_path / f".labels.{os.getpid()}-89abcdef.htw-tmp.nii.gz"
    legacy = tmp_path / ".labels.nii.gz.k3j_8a2q.tmp.nii.gz"
    for p in (stale, live, legacy):
        p.write_bytes(b"x")
    old = time.time() - 3600
    os.utime(legacy, (old, old))
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert live.exists() and legacy.exists()  # a legacy-looking name outside a project stays
    assert remove_stale_temporaries(tmp_path, legacy=True) == [legacy]


def test_folder_swap_refuses_to_replace_other_files(tmp_path: Path) -> None:
    keep = tmp_path / "out"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="holds other files"), \
            atomic_folder(keep, lambda f: all(p.suffix == ".dcm" for p in f.iterdir())):
        pass
    assert (keep / "notes.txt").read_text() == "mine"


def test_output_equal_to_input_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "image.nii.gz"
    src.write_bytes(b"x")
    os.symlink(src, tmp_path / "link.nii.gz")
    with pytest.raises(UserError, match="destroy"):
        refuse_inputs([tmp_path / "link.nii.gz"], [src])
