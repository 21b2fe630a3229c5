"""The synthetic head phantom: labels, adult volumes, plausible positions, PD contrast,
determinism per seed, variation across seeds, saving, and the cached sample case.

Most checks run at 2 mm (fast); the sample-case test is the one 1 mm case (generated once per
machine into $HEADTWIN_CACHE and reused)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from headtwin_app.core.io import load_volume
from headtwin_app.core.labels import default_label_table
from headtwin_app.core.phantom import (
    PHANTOM_FILES,
    TWIN_NAMES,
    Phantom,
    make_phantom,
    sample_case_dir,
    save_phantom,
)
from headtwin_app.core.seg.plausibility import ADULT_VOLUME_ML

# Expected adult volumes in ml (both sides together): the plausibility checks' ranges (sources in
# core/seg/plausibility.py), with the eyes narrower for the phantom (its eyes are 11-18 ml), and
# brain MRI segmentations of adults: GM ~500-900, WM ~350-650, CSF ~100-500 ml.
ADULT_RANGES_ML = {
    **ADULT_VOLUME_ML,
    "eyeballs": (11.0, 18.0),
    "csf": (100.0, 500.0),
    "gray_matter": (500.0, 950.0),
    "white_matter": (330.0, 700.0),
}
# intracranial volume of adults: ~1100-1900 ml
ICV_RANGE_ML = (1100.0, 1900.0)


@pytest.fixture(scope="module")
def ph0() -> Phantom:
    return make_phantom(0, spacing=2.0)


@pytest.fixture(scope="module")
def ph1() -> Phantom:
    return make_phantom(1, spacing=2.0)


def _vols(ph: Phantom):  # type: ignore[no-untyped-def]
    return (ph.image, ph.labels, ph.brain_tissue, ph.brain_regions, ph.brain_hemispheres)


def _centroid(ph: Phantom, mask: np.ndarray) -> np.ndarray:
    idx = np.argwhere(mask).mean(axis=0)
    return (ph.image.affine @ np.append(idx, 1.0))[:3]


def _twin(name: str) -> int:
    return default_label_table().by_name(name).id


def test_grid_dtypes_and_ras(ph0: Phantom) -> None:
    assert ph0.seed == 0 and ph0.spacing == 2.0
    for vol in _vols(ph0):
        assert vol.shape == ph0.image.shape
        np.testing.assert_array_equal(vol.affine, ph0.image.affine)
    assert ph0.image.spacing == (2.0, 2.0, 2.0)
    assert np.all(np.diag(ph0.image.affine)[:3] > 0)  # RAS+: axes run L→R, P→A, I→S
    assert ph0.image.data.dtype == np.float32 and np.isfinite(ph0.image.data).all()
    assert all(v.data.dtype == np.uint8 for v in _vols(ph0)[1:])
    # field of view: a head of ~16 cm width, vertex to the neck (>= 24 cm tall)
    extent = np.asarray(ph0.image.shape) * 2.0
    assert extent[0] >= 180 and extent[1] >= 230 and extent[2] >= 240


def test_all_labels_present(ph0: Phantom) -> None:
    table = default_label_table()
    assert set(np.unique(ph0.labels.data)) - {0} == {table.by_name(n).id for n in TWIN_NAMES}
    assert set(np.unique(ph0.brain_tissue.data)) == {0, 21, 22, 23}
    assert set(np.unique(ph0.brain_hemispheres.data)) == {0, 31, 32}
    regions = set(np.unique(ph0.brain_regions.data)) - {0}
    assert regions <= set(table.layer("regions").ids())
    assert len(regions) >= 40  # the Talairach gyrus atlas has 55 regions


def test_brain_layers_agree(ph0: Phantom) -> None:
    brain = ph0.brain_tissue.data > 0
    np.testing.assert_array_equal(ph0.brain_hemispheres.data > 0, brain)
    assert not np.any((ph0.brain_regions.data > 0) & ~brain)
    assert not np.any((ph0.labels.data > 0) & brain)  # twin labels and the brain never overlap
    left = _centroid(ph0, ph0.brain_hemispheres.data == 31)
    right = _centroid(ph0, ph0.brain_hemispheres.data == 32)
    assert left[0] < -20 and right[0] > 20


@pytest.mark.parametrize("seed", [0, 1])
def test_volumes_in_adult_range(seed: int, ph0: Phantom, ph1: Phantom) -> None:
    ph = ph0 if seed == 0 else ph1
    vols = ph.label_volumes_ml()
    bad = {n: vols.get(n, 0.0) for n, (lo, hi) in ADULT_RANGES_ML.items()
           if not lo <= vols.get(n, 0.0) <= hi}
    assert not bad, f"outside adult ranges: {bad}"
    icv = vols["csf"] + vols["gray_matter"] + vols["white_matter"]
    assert ICV_RANGE_ML[0] <= icv <= ICV_RANGE_ML[1]


def test_positions_are_anatomical(ph0: Phantom) -> None:
    lab = ph0.labels.data
    c = {n: _centroid(ph0, lab == _twin(n)) for n in TWIN_NAMES}
    brain = _centroid(ph0, ph0.brain_tissue.data > 0)
    x, y, z = 0, 1, 2
    assert c["eyeballs"][y] > brain[y] + 40 and c["eyeballs"][z] < brain[z]
    assert c["mandible"][z] < c["eyeballs"][z] - 40
    assert c["tmj_articular_discs"][z] > c["mandible"][z]
    assert c["spinal_cord"][z] < brain[z] - 60 and c["cervical_vertebrae"][z] < brain[z] - 80
    assert c["upper_airway"][y] > c["cervical_vertebrae"][y] + 10  # airway in front of spine
    assert abs(c["upper_airway"][x]) < 10 and abs(c["spinal_cord"][x]) < 10
    # muscles per side: masseter lateral to the medial pterygoid, temporalis above both
    for side in (-1, 1):
        half = (np.arange(lab.shape[0]) * 2.0 + ph0.image.affine[0, 3]) * side > 0
        sided = np.zeros_like(lab, dtype=bool)
        sided[half] = True
        cs = {n: _centroid(ph0, (lab == _twin(n)) & sided) for n in
              ("masseter", "medial_pterygoid", "lateral_pterygoid", "temporalis")}
        assert abs(cs["masseter"][x]) > abs(cs["medial_pterygoid"][x]) + 10
        assert cs["temporalis"][z] > cs["lateral_pterygoid"][z] > cs["medial_pterygoid"][z]
    # the skull surrounds the brain: brain voxels lie within the skull's bounding box
    skull = np.argwhere(lab == _twin("skull"))
    b = np.argwhere(ph0.brain_tissue.data > 0)
    assert np.all(b[:, :2].min(0) >= skull[:, :2].min(0))
    assert np.all(b[:, :2].max(0) <= skull[:, :2].max(0))


def test_pd_contrast(ph0: Phantom) -> None:
    img, lab, tis = ph0.image.data, ph0.labels.data, ph0.brain_tissue.data
    med = {n: float(np.median(img[lab == _twin(n)])) for n in TWIN_NAMES}
    csf, gm, wm = (float(np.median(img[tis == k])) for k in (21, 22, 23))
    muscles = [med[n] for n in ("temporalis", "masseter", "medial_pterygoid",
                                "lateral_pterygoid")]
    # neighbouring muscles share intensity: segmentation cannot rely on grey level alone
    assert max(muscles) / min(muscles) < 1.2
    assert csf > gm > wm > max(muscles)  # PD: CSF bright, GM over WM, muscle darker
    # cortical bone dark (the skull's diploe is fatty marrow, so look at its darker part)
    # (at 2 mm the 2 mm-thin tables mix with marrow and soft tissue; 1 mm is darker still)
    assert float(np.percentile(img[lab == _twin("skull")], 10)) < 0.5 * min(muscles)
    assert med["upper_airway"] < 0.1 * csf  # air black
    assert med["eyeballs"] > 0.8 * csf  # vitreous bright
    assert med["tmj_articular_discs"] < min(muscles)  # fibrocartilage dark
    background = img[:3, :3, -3:]
    assert float(background.mean()) < 0.05 * csf  # noise floor only


def test_deterministic_per_seed(ph0: Phantom) -> None:
    again = make_phantom(0, spacing=2.0)
    for a, b in zip(_vols(ph0), _vols(again), strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_seeds_are_different_subjects(ph0: Phantom, ph1: Phantom) -> None:
    assert not np.array_equal(ph0.image.data, ph1.image.data)
    for name in ("skull", "mandible", "eyeballs"):
        a, b = ph0.labels.data == _twin(name), ph1.labels.data == _twin(name)
        dice = 2 * np.sum(a & b) / (a.sum() + b.sum())
        assert dice < 0.9, f"{name} barely changes between seeds (Dice {dice:.2f})"
    v0, v1 = ph0.label_volumes_ml(), ph1.label_volumes_ml()
    assert v0["white_matter"] != v1["white_matter"]


@pytest.mark.parametrize("spacing", [0, -1.0, 4.5, float("nan"), "1", True])
def test_bad_spacing(spacing) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="spacing"):
        make_phantom(0, spacing=spacing)


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_bad_seed(seed) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="seed"):
        make_phantom(seed, spacing=4.0)


def test_save_phantom_round_trip(ph0: Phantom, tmp_path: Path) -> None:
    paths = save_phantom(ph0, tmp_path / "case")
    assert set(paths) == {*PHANTOM_FILES, "json"}
    for name in PHANTOM_FILES:
        vol = load_volume(paths[name])
        assert paths[name].name == f"{name}.nii.gz"
        np.testing.assert_allclose(vol.affine, ph0.image.affine)
        np.testing.assert_array_equal(vol.data, getattr(ph0, name).data)
    info = json.loads(paths["json"].read_text())
    assert info["seed"] == 0 and info["spacing_mm"] == 2.0
    assert info["volumes_ml"]["eyeballs"] == ph0.label_volumes_ml()["eyeballs"]


def test_sample_case_is_cached_1mm() -> None:
    first = sample_case_dir()
    stamp = (first / "image.nii.gz").stat().st_mtime_ns
    assert sample_case_dir() == first  # reused, not regenerated
    assert (first / "image.nii.gz").stat().st_mtime_ns == stamp
    info = json.loads((first / "phantom.json").read_text())
    assert info["seed"] == 0 and info["spacing_mm"] == 1.0
    labels = load_volume(first / "labels.nii.gz")
    assert labels.spacing == (1.0, 1.0, 1.0)
    vols = info["volumes_ml"]
    bad = {n: vols.get(n) for n, (lo, hi) in ADULT_RANGES_ML.items()
           if not lo <= vols.get(n, 0.0) <= hi}
    assert not bad, f"1 mm sample outside adult ranges: {bad}"


def test_sample_case_replaces_stale_folder_atomically(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from headtwin_app.core.phantom import storage

    monkeypatch.setenv("HEADTWIN_CACHE", str(tmp_path))
    monkeypatch.setattr(storage, "SAMPLE_SPACING", 4.0)  # keep this test fast
    stale = tmp_path / "sample"
    stale.mkdir()
    (stale / "image.nii.gz").write_bytes(b"half written")
    out = sample_case_dir()
    assert out == stale
    assert load_volume(out / "image.nii.gz").spacing == (4.0, 4.0, 4.0)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers
