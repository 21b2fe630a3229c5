"""The all-in-one degradation simulator: exact NRF bookkeeping, sampling fractions, 3D axes,
determinism, errors, quantisation and the component option."""

from __future__ import annotations

import math

import numpy as np
import pytest

from headtwin_app.core.enhance.context import Context
from headtwin_app.core.enhance.degrade import (
    Degradation,
    expected_nrf,
    make_sampling,
    measured_nrf,
    random_degradation,
    simulate_pair,
)


def _phantom(shape: tuple[int, ...]) -> np.ndarray:
    """A smooth disc with a gradient and an inner ellipse: signal in the centre, zero outside."""
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    r2 = sum(g * g for g in grids)
    img = (r2 < 0.7).astype(np.float64) * (1.0 + 0.3 * grids[-1])
    img += 0.5 * ((grids[-2] / 0.3) ** 2 + (grids[-1] / 0.5) ** 2 < 1)
    return img


NRF_CASES = {
    "noise only": Degradation(noise_sigma_rel=1.5),
    "kmax 0.6 phase+freq": Degradation(noise_sigma_rel=2.0, phase_kmax=0.6, freq_kmax=0.6),
    "pf 0.75": Degradation(noise_sigma_rel=1.0, phase_pf=0.75),
    "uniform R2": Degradation(noise_sigma_rel=1.2, uniform_r=2.0),
    "random R2": Degradation(noise_sigma_rel=1.2, random_r=2.0),
    "elliptical": Degradation(noise_sigma_rel=1.0, elliptical=True),
    "filter 1.0": Degradation(noise_sigma_rel=4.0, filter_strength=1.0),
    "all + filter": Degradation(noise_sigma_rel=8.0, phase_kmax=0.8, freq_kmax=0.7, phase_pf=0.7,
                                uniform_r=1.5, random_r=1.3, elliptical=True,
                                filter_strength=0.8, intensity_field=0.3),
    "clamped to 1": Degradation(noise_sigma_rel=0.3, phase_kmax=0.5, freq_kmax=0.5),
}


@pytest.mark.parametrize("name", list(NRF_CASES))
def test_measured_nrf_matches_formula(name: str) -> None:
    deg = NRF_CASES[name]
    shape = (256, 256)
    rng = np.random.default_rng(1)
    seed = int(np.random.default_rng(1).integers(0, 2 ** 31 - 1))  # the seed measured_nrf draws
    expected = expected_nrf(deg, shape, seed)
    measured = measured_nrf(deg, shape, rng, repeats=4)
    assert expected >= 1.0
    assert measured == pytest.approx(expected, rel=0.02), name
    if name == "clamped to 1":
        assert expected == pytest.approx(1.0)
    else:
        assert expected > 1.05  # not clamped: the formula itself is under test


def test_context_nrf_is_the_formula_and_high_snr_magnitude_keeps_it() -> None:
    deg = Degradation(noise_sigma_rel=2.0, phase_kmax=0.7, phase_pf=0.8)
    img = _phantom((256, 256)) + 1j * 0  # complex input is accepted
    pair = simulate_pair(img, deg, np.random.default_rng(3), target_noise_rel=0.002)
    frac = pair.info["weighted_fraction"]
    assert pair.context.nrf == pytest.approx(math.sqrt((1 + 2.0 ** 2) * frac))
    # magnitude at high SNR: noise of the input minus the noise-free input pipeline
    clean = simulate_pair(np.real(img), Degradation(noise_sigma_rel=0.0, phase_kmax=0.7,
                                                    phase_pf=0.8),
                          np.random.default_rng(3), target_noise_rel=1e-9)
    inside = _phantom((256, 256)) > 0.5
    noise_in = (pair.input - clean.input)[inside]
    ratio = np.std(noise_in) / np.std((pair.target - clean.target)[inside])
    assert ratio == pytest.approx(pair.context.nrf, rel=0.03)


def test_target_keeps_grid_and_mean_signal() -> None:
    img = _phantom((128, 96))
    for component in ("real", "magnitude"):
        deg = Degradation(noise_sigma_rel=1.0, phase_kmax=0.6, uniform_r=2.0,
                          component=component)
        pair = simulate_pair(img, deg, np.random.default_rng(0), target_noise_rel=0.01)
        assert pair.input.shape == pair.target.shape == pair.k_mask.shape == img.shape
        assert pair.input.dtype == pair.target.dtype == np.float32
        assert pair.target.mean() == pytest.approx(img.mean(), rel=0.02)
        if component == "real":  # linear: DC sampled, so the mean is kept (magnitude rectifies
            # the aliases and ringing, which raises it)
            assert pair.input.mean() == pytest.approx(img.mean(), rel=0.01)
        assert isinstance(pair.context, Context)


def test_sampling_fraction_matches_context() -> None:
    deg = Degradation(phase_kmax=0.8, freq_kmax=0.75, phase_pf=0.7, uniform_r=2.0, random_r=1.5)
    pair = simulate_pair(_phantom((256, 256)), deg, np.random.default_rng(5), 0.01)
    c = pair.context
    implied = c.phase_kmax * c.freq_kmax * c.phase_pf / (c.uniform_r * c.random_r)
    assert pair.k_mask.mean() == pytest.approx(implied, rel=1e-9)  # exact by construction
    for name in ("phase_kmax", "freq_kmax", "phase_pf", "uniform_r", "random_r"):
        assert getattr(c, name) == pytest.approx(getattr(deg, name), rel=0.02), name
    assert c.slice_kmax == c.slice_pf == 1.0 and c.is_3d == 0.0 and c.elliptical == 0.0
    # the DC line and DC column are sampled; kmax is centred
    assert pair.k_mask[128, 128]
    rows = np.flatnonzero(pair.k_mask.any(axis=1))
    assert rows.min() >= 128 - 0.4 * 256 - 1 and rows.max() <= 128 + 0.4 * 256
    # elliptical drops the corners: π/4 of the kmax box
    ell = make_sampling(Degradation(elliptical=True, phase_kmax=0.8), (256, 256))
    assert ell.mask.mean() == pytest.approx(0.8 * math.pi / 4, rel=0.02)


def test_3d_slice_kmax_and_pf_act_along_axis_0() -> None:
    shape = (32, 64, 64)
    deg = Degradation(noise_sigma_rel=2.0, slice_kmax=0.5, slice_pf=0.75)
    pair = simulate_pair(_phantom(shape), deg, np.random.default_rng(2), 0.01)
    slices = np.flatnonzero(pair.k_mask.any(axis=(1, 2)))
    # kmax 0.5 of 32: indices 8..23, PF 0.75 keeps the first 12: 8..19 (past the DC index 16)
    assert slices.tolist() == list(range(8, 20))
    assert pair.k_mask[slices].all()  # in-plane fully sampled
    c = pair.context
    assert (c.is_3d, c.slice_kmax, c.slice_pf, c.phase_kmax, c.freq_kmax) == (1.0, 0.5, 0.75,
                                                                           1.0, 1.0)
    m = measured_nrf(deg, shape, np.random.default_rng(4), repeats=2)
    assert m == pytest.approx(expected_nrf(deg, shape), rel=0.02)
    # a 2D slice refuses slice parameters
    with pytest.raises(ValueError, match="slice"):
        simulate_pair(_phantom((64, 64)), deg, np.random.default_rng(0), 0.01)


def test_determinism_by_seed() -> None:
    img = _phantom((64, 64))
    deg = Degradation(noise_sigma_rel=1.0, random_r=2.0, intensity_field=0.3, quantise_bits=12)
    a = simulate_pair(img, deg, np.random.default_rng(11), 0.02)
    b = simulate_pair(img, deg, np.random.default_rng(11), 0.02)
    c = simulate_pair(img, deg, np.random.default_rng(12), 0.02)
    assert np.array_equal(a.input, b.input) and np.array_equal(a.target, b.target)
    assert np.array_equal(a.k_mask, b.k_mask) and a.context == b.context
    assert not np.array_equal(a.input, c.input)
    assert random_degradation(np.random.default_rng(7)) == random_degradation(
        np.random.default_rng(7))


@pytest.mark.parametrize("kwargs", [
    {"phase_kmax": 0.0}, {"freq_kmax": 1.2}, {"phase_pf": 0.4}, {"slice_pf": 1.1},
    {"uniform_r": 0.5}, {"random_r": float("nan")}, {"noise_sigma_rel": -1.0},
    {"component": "phase"}, {"quantise_bits": 4}, {"filter_strength": 1.5},
    {"intensity_field": -0.1}, {"elliptical": 1},
])
def test_bad_degradation_parameters(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Degradation(**kwargs)


def test_bad_simulate_inputs() -> None:
    deg = Degradation()
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="target_noise_rel"):
        simulate_pair(_phantom((64, 64)), deg, rng, 0.0)
    with pytest.raises(ValueError, match="empty"):
        simulate_pair(np.zeros((64, 64)), deg, rng, 0.01)
    with pytest.raises(ValueError, match="2D"):
        simulate_pair(np.ones(64), deg, rng, 0.01)
    with pytest.raises(ValueError, match="NaN"):
        simulate_pair(np.full((64, 64), np.nan), deg, rng, 0.01)
    with pytest.raises(ValueError, match="repeats"):
        measured_nrf(deg, (64, 64), rng, repeats=0)


def test_quantisation_and_component() -> None:
    img = _phantom((64, 64))
    deg = Degradation(noise_sigma_rel=1.0, quantise_bits=12, component="real")
    pair = simulate_pair(img, deg, np.random.default_rng(0), 0.05)
    ints = pair.input.astype(np.float64) * pair.info["quant_scale"]
    assert np.allclose(ints, np.rint(ints), atol=1e-2)
    assert np.abs(ints).max() <= 4095 + 1e-2
    assert pair.input.min() < 0  # real component keeps the sign of the background noise
    mag = simulate_pair(img, Degradation(noise_sigma_rel=1.0), np.random.default_rng(0), 0.05)
    assert mag.input.min() >= 0 and mag.target.min() >= 0
    assert mag.info["quant_scale"] == 1.0


@pytest.mark.parametrize("is_3d", [False, True])
def test_random_degradations_give_valid_pairs(is_3d: bool) -> None:
    shape = (16, 64, 64) if is_3d else (64, 64)
    img = _phantom(shape)
    rng = np.random.default_rng(21)
    nrfs = []
    for _ in range(6):
        deg = random_degradation(rng, is_3d=is_3d)
        assert deg.noise_sigma_rel >= 0.1
        pair = simulate_pair(img, deg, rng, 0.02)
        assert pair.context.nrf >= 1.0 and pair.context.is_3d == float(is_3d)
        assert np.all(np.isfinite(pair.input)) and pair.input.shape == shape
        nrfs.append(pair.context.nrf)
    assert max(nrfs) < 6.0
