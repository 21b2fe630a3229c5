"""main.py's paths are made absolute at start: ITK's lazy loader (the idle preload, a first Grow)
changes the process's working folder for a moment from another thread."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from headtwin_app.ui.app import parse_args


def test_paths_are_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HEADTWIN_CACHE", "cache")
    args = parse_args(["head.nii.gz", "--screenshot", "shot.png"])
    assert args.image == str(tmp_path / "head.nii.gz")
    assert args.screenshot == str(tmp_path / "shot.png")
    assert os.environ["HEADTWIN_CACHE"] == str(tmp_path / "cache")
    assert parse_args([]).image is None
