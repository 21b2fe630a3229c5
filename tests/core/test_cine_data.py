"""Cine data: phantom and pseudo-dynamic sequences, the split, the cache, NIfTI cine files."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from headtwin_app.core.cardiac import dataset as cardiac
from headtwin_app.core.recon import cine_data as cd


def _slice(n: int = 48) -> np.ndarray:
    y, x = np.mgrid[:n, :n] - n / 2
    img = (x**2 + y**2 < (0.4 * n) ** 2).astype(np.float32) * 0.6
    img += 0.3 * (np.sin(x / 2.0) * np.cos(y / 3.0) > 0) * (img > 0)
    return img


def test_phantom_cine_shape_scale_and_motion() -> None:
    seq = cd.phantom_cine(2400, frames=4, size=48)
    assert seq.shape == (4, 48, 48) and seq.dtype == np.float32
    assert np.percentile(seq, 99) == pytest.approx(1.0, rel=1e-4)
    assert np.abs(seq[0] - seq[2]).max() > 0.1  # the heart moves
    noisy = cd.phantom_cine(2400, frames=4, size=48, snr=None)
    assert np.abs(noisy - seq).mean() > 0  # the seed's drawn SNR adds noise
    with pytest.raises(ValueError, match="slice_index"):
        cd.phantom_cine(2400, frames=4, size=48, slice_index=3)


def test_deformation_is_periodic_smooth_and_never_folds() -> None:
    img = _slice()
    u = cd.displacement_fields(img, frames=10, seed=1, amplitude=4.0)
    assert u.shape == (10, 2, 48, 48)
    peak = np.sqrt((u**2).sum(axis=1)).max()
    assert 0 < peak <= 4.0 + 1e-4
    steps = [np.abs(u[t + 1] - u[t]).max() for t in range(9)]
    assert np.abs(u[0] - u[-1]).max() <= 1.01 * max(steps)  # frame nt ≡ frame 0
    assert cd.jacobian_determinant(u).min() > 0
    wild = cd.displacement_fields(img, frames=6, seed=2, amplitude=40.0)  # strain capped
    assert cd.jacobian_determinant(wild).min() > 0


def test_pseudo_dynamic_keeps_texture_and_moves_it() -> None:
    img = _slice()
    seq = cd.pseudo_dynamic(img, frames=6, seed=0, amplitude=3.0)
    assert seq.shape == (6, 48, 48) and seq.dtype == np.float32
    assert np.percentile(seq, 99) == pytest.approx(1.0, rel=1e-4)
    assert seq.min() >= 0
    assert np.abs(seq[0] - seq[3]).mean() > 0.005
    still = cd.pseudo_dynamic(img, frames=3, seed=0, amplitude=0.0)
    np.testing.assert_allclose(still[0], img / np.percentile(img, 99), atol=1e-5)
    with pytest.raises(ValueError, match="2D"):
        cd.pseudo_dynamic(np.zeros((2, 8, 8)), frames=4)


def test_split_is_disjoint() -> None:
    seeds = {k: set(v) for k, v in cd.PHANTOM_SEEDS.items()}
    assert not (seeds["train"] & seeds["val"] or seeds["train"] & seeds["test"]
                or seeds["val"] & seeds["test"])
    cardiac_seeds = set(cardiac.SEEDS_TRAIN) | set(cardiac.SEEDS_VAL) | set(cardiac.SEEDS_TEST)
    assert not (set().union(*seeds.values()) & cardiac_seeds)
    assert len(set(cd.REAL_SOURCES.values())) == 3
    assert cd.REAL_SOURCES["train"] == "mni_t1"  # the 2D cascade's training volume
    names = {split: {n for n, _ in cd._named_slices(cd.REAL_SOURCES[split])}
             for split in ("val", "test")}  # (the train slices take ~7 s to read: not here)
    assert names["val"] and names["test"] and not names["val"] & names["test"]
    assert not any(n.startswith("mni_t1") for n in names["val"] | names["test"])
    test_imgs = cd.real_slices("held_out")
    assert all(a.ndim == 2 and a.max() == pytest.approx(1.0) for a in test_imgs)
    with pytest.raises(ValueError, match="unknown real source"):
        cd.real_slices("nowhere")


def test_cine_set_alternates_kinds_and_caches(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADTWIN_CACHE", str(tmp_path))
    seqs = cd.cine_set("test", n=2, frames=4, size=32)
    assert [s.kind for s in seqs] == ["phantom", "pseudo-dynamic real"]
    assert seqs[0].name == "phantom_seed2400"
    assert all(s.image.shape == (4, 32, 32) and s.image.dtype == np.float32 for s in seqs)
    files = sorted((tmp_path / "cine" / f"gen{cd.CACHE_VERSION}" / "test").glob("*.npy"))
    assert len(files) == 2
    again = cd.cine_set("test", n=2, frames=4, size=32)
    for a, b in zip(seqs, again, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
    with pytest.raises(ValueError, match="split"):
        cd.cine_set("holdout")


def test_to_square_pads_then_resamples() -> None:
    out = cd.to_square(np.ones((20, 10), np.float32), 40)
    assert out.shape == (40, 40)
    assert out[20, 20] == pytest.approx(1.0, abs=0.05) and out[20, 2] == pytest.approx(0, abs=0.05)


def test_nifti_round_trip_keeps_layout_and_affine(tmp_path: Path) -> None:
    seq = np.random.default_rng(0).random((5, 12, 9)).astype(np.float32)
    affine = np.array([[0, -1.2, 0, 10], [1.5, 0, 0, -3], [0, 0, 8, 2], [0, 0, 0, 1]], float)
    p = cd.save_cine(tmp_path / "c.nii.gz", seq, frame_ms=40.0, affine=affine)
    img = nib.load(str(p))
    assert img.shape == (9, 12, 1, 5)  # x = columns, y = rows
    assert img.get_fdata()[4, 7, 0, 2] == pytest.approx(seq[2, 7, 4])
    assert img.header.get_zooms()[3] == pytest.approx(40.0)
    back, aff = cd.load_cine(p)
    np.testing.assert_array_equal(back, seq)
    np.testing.assert_allclose(aff, affine)
    plain, aff2 = cd.load_cine(cd.save_cine(tmp_path / "d.nii", seq, spacing=(2.0, 3.0)))
    np.testing.assert_array_equal(plain, seq)
    assert np.allclose(np.diag(aff2)[:2], (3.0, 2.0))  # (row, col) spacing → NIfTI (x, y)


def test_nifti_x_y_t_and_bad_shapes(tmp_path: Path) -> None:
    data = np.random.default_rng(1).random((9, 12, 5)).astype(np.float32)  # x, y, t
    timed = nib.Nifti1Image(data, np.eye(4))
    timed.header.set_xyzt_units("mm", "msec")
    nib.save(timed, str(tmp_path / "xyt.nii"))
    seq, _ = cd.load_cine(tmp_path / "xyt.nii")
    np.testing.assert_array_equal(seq, data.transpose(2, 1, 0))
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(tmp_path / "vol.nii"))
    with pytest.raises(ValueError, match="volume of slices"):
        cd.load_cine(tmp_path / "vol.nii")
    assert cd.load_cine(tmp_path / "vol.nii", third_axis_time=True)[0].shape == (5, 12, 9)
    nib.save(nib.Nifti1Image(np.zeros((9, 12, 3, 5), np.float32), np.eye(4)),
             str(tmp_path / "multi.nii"))
    with pytest.raises(ValueError, match="3 slices"):
        cd.load_cine(tmp_path / "multi.nii")
    nib.save(nib.Nifti1Image(np.zeros((9, 12, 1, 5, 2), np.float32), np.eye(4)),
             str(tmp_path / "five.nii"))
    with pytest.raises(ValueError, match="5D"):
        cd.load_cine(tmp_path / "five.nii")
    nib.save(nib.Nifti1Image(np.zeros((9, 12), np.float32), np.eye(4)), str(tmp_path / "2d.nii"))
    with pytest.raises(ValueError, match="2D"):
        cd.load_cine(tmp_path / "2d.nii")
    with pytest.raises(ValueError, match="NIfTI"):
        cd.save_cine(tmp_path / "c.mha", data.transpose(2, 1, 0))
    with pytest.raises(ValueError, match="no such file"):
        cd.load_cine(tmp_path / "missing.nii")
