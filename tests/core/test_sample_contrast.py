"""The built-in sample head in each contrast: one cached folder per contrast, same anatomy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from headtwin_app.core.io import load_volume
from headtwin_app.core.phantom import (
    sample_case_dir,
    sample_contrast,
    sample_is_cached,
    sequence_summary,
)


@pytest.fixture
def small_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from headtwin_app.core.phantom import storage

    monkeypatch.setenv("HEADTWIN_CACHE", str(tmp_path))
    monkeypatch.setattr(storage, "SAMPLE_SPACING", 4.0)  # keep these tests fast
    return tmp_path


def test_one_folder_per_contrast_same_anatomy(small_cache: Path) -> None:
    assert not sample_is_cached("t1")
    pd = sample_case_dir()
    t1 = sample_case_dir("t1")
    assert pd == small_cache / "sample" and t1 == small_cache / "sample-t1"
    assert sample_is_cached("t1") and sample_is_cached("pd") and not sample_is_cached("flair")
    info = json.loads((t1 / "phantom.json").read_text())
    assert info["sequence"]["tr"] == 500.0 and info["sequence"]["te"] == 10.0
    for name in ("labels", "brain_tissue", "tissue_classes"):
        np.testing.assert_array_equal(load_volume(pd / f"{name}.nii.gz").data,
                                      load_volume(t1 / f"{name}.nii.gz").data)
    img_pd = load_volume(pd / "image.nii.gz")
    img_t1 = load_volume(t1 / "image.nii.gz")
    np.testing.assert_allclose(img_pd.affine, img_t1.affine)
    assert not np.allclose(img_pd.data, img_t1.data)
    stamp = (t1 / "image.nii.gz").stat().st_mtime_ns
    assert sample_case_dir("T1") == t1  # reused (and the name is not case-sensitive)
    assert (t1 / "image.nii.gz").stat().st_mtime_ns == stamp
    assert not [p for p in small_cache.iterdir() if p.name.startswith(".")]


def test_a_folder_of_another_contrast_is_redone(small_cache: Path) -> None:
    pd = sample_case_dir()
    wrong = small_cache / "sample-t2"
    wrong.mkdir()
    for f in pd.iterdir():  # a PD head where the T2 one should be
        (wrong / f.name).write_bytes(f.read_bytes())
    assert not sample_is_cached("t2")
    out = sample_case_dir("t2")
    assert out == wrong
    assert json.loads((out / "phantom.json").read_text())["sequence"]["te"] == 100.0


def test_sample_contrast_of_a_path(small_cache: Path, tmp_path: Path) -> None:
    assert sample_contrast(small_cache / "sample") == "pd"
    assert sample_contrast(small_cache / "sample-flair") == "flair"
    assert sample_contrast(small_cache / "sample-xyz") is None
    assert sample_contrast(tmp_path / "elsewhere" / "sample") is None
    assert sample_contrast(None) is None


@pytest.mark.parametrize("bad", ["t3", "", "dwi", 1])
def test_unknown_contrast_is_a_clear_error(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="sample contrast must be one of t1, t2, pd, flair"):
        sample_case_dir(bad)


def test_sequence_summary() -> None:
    assert sequence_summary("t1") == "T1: spin echo TR 500 / TE 10 ms"
    assert sequence_summary("flair") == "FLAIR: inversion recovery TR 9000 / TE 120 / TI 2450 ms"
