"""Undersampling, zero filling, noise and the simulate() pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from headtwin_app.core import kspace as K
from headtwin_app.core import masks as M
from headtwin_app.core import metrics as Mt
from headtwin_app.core import scantime as S


def phantom(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """A smooth blob image with some texture, (ky, kx[, kz]) layout."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    r2 = sum(g**2 for g in grids)
    img = (r2 < 0.6).astype(np.float32) * 80 + (r2 < 0.2) * 40
    return (img + rng.random(shape) * 5).astype(np.float32)


def test_full_mask_reconstructs_exactly() -> None:
    img = phantom((32, 40))
    res = K.simulate(img, "kmax", 1.0)
    np.testing.assert_allclose(res.zero_filled, img, atol=1e-3)
    assert res.metrics["psnr"] > 80 and res.metrics["ssim"] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("shape", [(24, 20, 18), (23, 19, 17)])
@pytest.mark.parametrize("family", ["radial", "random_line", "elliptical"])
def test_3d_fast_path_equals_direct_fft(shape: tuple[int, ...], family: str) -> None:
    img = phantom(shape)
    sim = K.KSpaceSimulator(img, 3)
    accel = shape[0] / (shape[0] // 2)  # a whole number of lines for the line family
    mask = M.make_mask(family, sim.plane, accel, seed=1)
    res = sim.run(mask)
    direct = K.zero_filled(K.undersample(K.to_kspace(img), mask, 3))
    np.testing.assert_allclose(res.zero_filled, direct, atol=1e-3)
    np.testing.assert_allclose(res.kspace, K.undersample(sim.kspace, mask, 3), atol=1e-3)
    assert res.metrics["ssim"] == pytest.approx(Mt.ssim(img, direct), abs=1e-5)


@pytest.mark.parametrize("shape", [(32, 40), (33, 27)])
def test_2d_fast_path_equals_direct_fft(shape: tuple[int, int]) -> None:
    img = phantom(shape)
    sim = K.KSpaceSimulator(img, 2)
    mask = M.make_mask("random_points", sim.plane, 3.0, seed=1)
    res = sim.run(mask)
    direct = K.zero_filled(K.undersample(K.to_kspace(img), mask, 2))
    np.testing.assert_allclose(res.zero_filled, direct, atol=1e-3)


@pytest.mark.parametrize("dims,shape", [(2, (32, 32)), (3, (20, 18, 16))])
def test_noise_is_seeded_only_on_samples_and_consistent(dims: int, shape) -> None:
    img = phantom(shape)
    sim = K.KSpaceSimulator(img, dims)
    mask = M.make_mask("kmax", sim.plane, 2.0, seed=0)
    a = sim.run(mask, noise=0.05, seed=3)
    b = sim.run(mask, noise=0.05, seed=3)
    c = sim.run(mask, noise=0.05, seed=4)
    np.testing.assert_array_equal(a.zero_filled, b.zero_filled)
    assert not np.array_equal(a.zero_filled, c.zero_filled)
    full = np.broadcast_to(M.expand_mask(mask, dims), shape)
    assert np.all(a.kspace[~full] == 0)
    np.testing.assert_allclose(K.zero_filled(a.kspace), a.zero_filled, atol=1e-3)
    clean = sim.run(mask)
    assert a.metrics["psnr"] < clean.metrics["psnr"]


def test_noise_std_matches_the_request() -> None:
    k = np.zeros((256, 256), np.complex64)
    noisy = K.add_noise(k, 2.0, seed=0)
    assert np.std(noisy) == pytest.approx(2.0, rel=0.02)
    assert np.std(noisy.real) == pytest.approx(2.0 / np.sqrt(2), rel=0.02)


def test_simulate_returns_everything_and_difference_is_signed() -> None:
    img = phantom((48, 40))
    res = K.simulate(img, "equispaced", 4.0, seed=2)
    assert res.mask.shape == (48, 40) and res.kspace.shape == (48, 40)
    np.testing.assert_allclose(res.difference, res.zero_filled - img, atol=1e-4)
    assert res.accel_achieved == pytest.approx(4.0, rel=0.02)
    row = K.result_row(res)
    for key in ("mask", "accel_requested", "accel_achieved", "psnr", "ssim", "nmse",
                "scan_time_s"):
        assert key in row
    assert row["scan_time_s"] == pytest.approx(S.default_model(2).tr_s * 12)


def test_more_acceleration_is_worse_for_centre_families() -> None:
    img = phantom((64, 64))
    for fam in ("kmax", "radial", "cartesian"):
        p = [K.simulate(img, fam, r).metrics["psnr"] for r in (2, 4, 8)]
        assert p[0] > p[1] > p[2], fam


def test_encoding_layout_round_trip() -> None:
    data = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    assert K.encoding_image(data, 3).shape == (5, 4, 6)
    np.testing.assert_array_equal(K.volume_data(K.encoding_image(data, 3)), data)
    sl = K.encoding_image(data, 2)
    np.testing.assert_array_equal(sl, data[:, :, 3].T)
    np.testing.assert_array_equal(K.volume_data(sl)[:, :, 0], data[:, :, 3])
    with pytest.raises(ValueError, match="slice"):
        K.encoding_image(data, 2, slice_index=6)
    with pytest.raises(ValueError, match="3D"):
        K.encoding_image(data[:, :, :1], 3)


def test_sweep_rows_and_capped_families() -> None:
    img = phantom((32, 32, 16))
    rows = K.sweep(img, M.FAMILY_NAMES, (2, 4), dims=3)
    assert len(rows) == 20
    for row in rows:
        assert row["error"] is None, row
        assert abs(row["accel_achieved"] / row["accel_requested"] - 1) <= 0.02
    uh4 = next(r for r in rows if r["mask"] == "upper_half" and r["accel_requested"] == 4)
    assert uh4["combined_with"] == "random_line"
    with_pf = K.sweep(img, ("partial_fourier", "radial"), (2, 4), dims=3, pf_fraction=0.75)
    assert all(r["error"] is None for r in with_pf), with_pf


def test_scan_time_model() -> None:
    m = M.random_points((64, 64), 4.0)
    assert S.estimate(m, "random_points", 2).readouts == m.any(axis=1).sum()  # no 2D saving
    lines = M.random_line((64, 64), 4.0)
    t2 = S.estimate(lines, "random_line", 2)
    assert t2.readouts == 16 and t2.seconds == pytest.approx(16 * 0.5)
    assert t2.speedup == pytest.approx(4.0)
    t3 = S.estimate(m, "random_points", 3, S.ScanTimeModel(tr_s=0.01, nex=2))
    assert t3.seconds == pytest.approx(m.sum() * 0.02)
    r = M.radial((64, 64), 4.0)
    assert S.estimate(r, "radial", 2).readouts == int(np.ceil(r.sum() / 64))
    assert "TR" in S.describe(3)
    with pytest.raises(ValueError):
        S.ScanTimeModel(tr_s=0)
