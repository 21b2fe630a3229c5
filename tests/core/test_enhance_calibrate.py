"""Tunable-denoising calibration: the requested → context NRF table is measured the bench's way,
inverted correctly (clamped, out-of-reach flagged) and used by the enhancement job (storing it in
the model file: tests/cli/test_enhance_cli.py)."""

from __future__ import annotations

import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from headtwin_app.core.enhance import calibrate
from headtwin_app.core.enhance.ce_unet import EnhanceConfig, EnhanceNet
from headtwin_app.core.enhance.job import enhance_steps
from headtwin_app.core.enhance.predict import save_enhance_model
from headtwin_app.core.recon.predict import run_to_end


class Shrink(torch.nn.Module):
    """A stand-in network with a known answer: output = input / c^p for context NRF c, so its
    measured noise reduction is exactly c^p (p = 2 is the ideal shared-noise estimator)."""

    def __init__(self, power: float) -> None:
        super().__init__()
        self.power = power
        self.config = EnhanceConfig(width=4, depth=2, hidden=8)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        return x / torch.exp(ctx[:, :1, None, None]) ** self.power


def _head(n: int = 96) -> np.ndarray:
    yy, xx = np.mgrid[:n, :n]
    img = 0.5 + 0.5 * (((yy - n / 2) ** 2 + (xx - n / 2) ** 2) < (n / 5) ** 2)
    img = img * ((((yy - n / 2) / 0.42) ** 2 + ((xx - n / 2) / 0.36) ** 2) < n * n)
    return img.astype(np.float32)


def test_measured_reduction_of_known_networks() -> None:
    img = _head()
    s_in, ident = calibrate.reduction(EnhanceNet(EnhanceConfig(width=4, depth=2, hidden=8)),
                                      img, 2.0, [1.0, 3.0], 0.02, seed=1)
    assert s_in == pytest.approx(2.0, rel=0.05)  # the input noise is the exact NRF × σ_t
    assert ident == pytest.approx([1.0, 1.0], rel=1e-4)  # a fresh network is the identity
    _, sq = calibrate.reduction(Shrink(2.0), img, 1.5, [1.0, 2.0], 0.02, seed=1)
    assert sq == pytest.approx([1.0, 4.0], rel=1e-3)


def test_invert_interpolates_clamps_and_flags() -> None:
    levels = [0.5, 1.0, 2.0, 4.0]
    resp = [1.0, 2.0, 4.0, 16.0]
    assert calibrate.invert(4.0, levels, resp) == (pytest.approx(2.0), True)
    assert calibrate.invert(8.0, levels, resp)[0] == pytest.approx(3.0)  # linear in log r
    assert calibrate.invert(1.5, levels, resp)[0] == pytest.approx(
        0.5 + 0.5 * math.log(1.5) / math.log(2))
    assert calibrate.invert(1.0, levels[1:], [2.4, 2.6, 2.8]) == (1.0, False)  # cannot do less
    assert calibrate.invert(3.0, levels[1:], [2.4, 2.6, 2.8]) == (4.0, False)  # nor more
    assert calibrate.invert(2.9, levels[1:], [2.4, 2.6, 2.8]) == (4.0, True)  # within 5 %
    # the envelope [1, 3, 3] of a dip: between the first two points
    assert calibrate.invert(2.0, [1.0, 2.0, 4.0], [1.0, 3.0, 2.5])[0] == pytest.approx(
        1 + math.log(2) / math.log(3))


def test_mixing_reaches_below_the_network_at_nrf_1() -> None:
    """A network that halves the noise even at NRF 1 (Shrink with c^1 · 2): requests between
    1 and 2 are met by mixing its output with the input, measured, not assumed."""
    class Halve(Shrink):
        def forward(self, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
            return super().forward(x, ctx) / 2

    table = run_to_end(calibrate.calibrate_steps(Halve(1.0), [_head()], seed=0))
    assert all(table["reachable"])
    by = dict(zip(table["requested"], table["level"], strict=True))
    assert by[1.0] == pytest.approx(0.0, abs=1e-6)
    # level w < 1: output noise (w/2 + 1 − w) of the input's → reduction 1 / (1 − w/2)
    assert 1 / (1 - by[1.5] / 2) == pytest.approx(1.5, rel=0.05)
    assert by[2.0] == pytest.approx(1.0, abs=0.02) and by[4.0] == pytest.approx(2.0, rel=0.02)
    img = _head()
    assert np.array_equal(calibrate.mix(img * 0, img, 0.0), img)
    assert np.array_equal(calibrate.mix(img * 0, img, 1.5), img * 0)


def test_calibration_of_the_ideal_estimator_is_the_square_root() -> None:
    table = run_to_end(calibrate.calibrate_steps(Shrink(2.0), [_head()], seed=0))
    want = [math.sqrt(f) for f in table["requested"]]
    assert table["level"][0] == 0.0  # the ideal network is the identity at NRF 1: the input
    assert table["level"][1:] == pytest.approx(want[1:], rel=0.02)
    assert all(table["reachable"])
    assert np.all(np.diff(table["level"]) >= 0)
    assert table["input_noise_over_sigma_t"] == pytest.approx(table["requested"], rel=0.1)


def test_setting_uses_the_table_or_says_it_has_none() -> None:
    net = Shrink(2.0)
    assert calibrate.setting(net, 2.0) == (2.0, 1.0, "uncalibrated: the request itself")
    net.meta = {calibrate.META_KEY: {"requested": [1.0, 4.0], "level": [0.5, 2.0]}}
    nrf, weight, how = calibrate.setting(net, 2.0)
    assert (nrf, weight) == (pytest.approx(1.25), 1.0) and how.startswith("calibrated (within")
    nrf, weight, how = calibrate.setting(net, 1.0)
    assert (nrf, weight) == (1.0, 0.5) and "mixed 0.50 : 0.50" in how
    nrf, weight, how = calibrate.setting(net, 9.0)
    assert nrf == pytest.approx(2.0) and "clamped" in how
    net.meta = {calibrate.META_KEY: {"requested": [2.0, 1.0], "level": [1.0, 2.0]}}
    assert calibrate.setting(net, 2.0)[2].startswith("uncalibrated")  # a broken table


def test_the_job_puts_the_calibrated_nrf_in_the_context(tmp_path: Path) -> None:
    meta = {calibrate.META_KEY: {"requested": [1.0, 4.0], "level": [0.0, 2.0]}}
    model = save_enhance_model(EnhanceNet(EnhanceConfig(width=4, depth=2, hidden=8)),
                               tmp_path / "cal.pt", meta)
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random((24, 20, 2)).astype(np.float32),
                             np.eye(4)), tmp_path / "in.nii.gz")
    report = run_to_end(enhance_steps(tmp_path / "in.nii.gz", 4.0, tmp_path / "out.nii.gz",
                                      model_path=model))
    assert report["nrf"] == 4.0 and report["context_nrf"] == pytest.approx(2.0)
    assert report["context"]["nrf"] == pytest.approx(2.0) and report["mix"] == 1.0
    assert report["nrf_mapping"].startswith("calibrated")
    # asked for no reduction: level 0, the input itself comes back
    report = run_to_end(enhance_steps(tmp_path / "in.nii.gz", 1.0, tmp_path / "o1.nii.gz",
                                      model_path=model))
    assert report["mix"] == 0.0 and report["context_nrf"] == 1.0
    a = np.asarray(nib.load(tmp_path / "in.nii.gz").dataobj)
    assert np.allclose(np.asarray(nib.load(tmp_path / "o1.nii.gz").dataobj), a, atol=1e-6)


def test_the_shipped_model_is_calibrated() -> None:
    """models/enhance_ce.pt carries its table: every request 1–4 reachable, levels rising."""
    from headtwin_app.core.enhance.predict import load_enhance_model

    model = load_enhance_model()
    table = model.meta[calibrate.META_KEY]  # type: ignore[index]
    assert table["requested"][0] == 1.0 and all(table["reachable"])
    assert np.all(np.diff(table["level"]) >= 0)
    nrf, weight, how = calibrate.setting(model, 3.0)
    assert nrf > 1.0 and weight == 1.0 and how.startswith("calibrated (within")
