"""Domain randomisation: random contrasts drawn from tissue-class maps, scanner-like degradation,
and the built-in model's training using them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from headtwin_app.core.phantom.tissues import CODE
from headtwin_app.core.seg import TrainingCase
from headtwin_app.core.seg.builtin import BuiltinUNetBackend, stripped_targets
from headtwin_app.core.seg.synth import (
    N_CODES,
    SynthConfig,
    class_fractions,
    degrade,
    draw_contrast,
    gaussian_blur,
    random_lut,
    render_classes,
    render_fractions,
    strip_lut,
    whole_scale,
)
from headtwin_app.core.volume import Volume

QUIET = SynthConfig(texture=0.0, max_thickness_mm=0.0, max_blur_mm=0.0, bias=0.0, max_noise=0.0,
                    gamma=0.0)


def test_random_contrasts_vary_and_keep_air_and_bone_dark() -> None:
    rng = np.random.default_rng(1)
    luts = np.stack([random_lut(rng) for _ in range(200)])
    assert np.allclose(luts.max(1), 1.0)
    assert luts[:, CODE["air"]].max() <= 0.1
    assert np.median(luts[:, CODE["cortical_bone"]]) < 0.1
    gm, wm = luts[:, CODE["grey_matter"]], luts[:, CODE["white_matter"]]
    assert 0.2 < float(np.mean(gm > wm)) < 0.8  # either order happens: no contrast to lean on


def test_fractions_give_exact_partial_volume() -> None:
    classes = np.full((8, 8, 8), CODE["muscle"], np.uint8)
    classes[:4] = CODE["fat"]
    classes[4, ::2] = CODE["fat"]
    frac = class_fractions(classes, (4, 4, 4))
    assert frac.shape == (N_CODES, 4, 4, 4)
    assert torch.allclose(frac.float().sum(0), torch.ones(4, 4, 4), atol=1e-3)
    lut, sd = draw_contrast(np.random.default_rng(0), QUIET)
    img = render_fractions(frac, lut, sd, 1.0, 2.0, np.random.default_rng(0), QUIET)
    mixed = 0.75 * float(lut[CODE["muscle"]]) + 0.25 * float(lut[CODE["fat"]])
    assert abs(float(img[2, 0, 0]) - mixed) < 1e-2
    assert abs(float(img[0, 0, 0]) - float(lut[CODE["fat"]])) < 1e-3


def test_blur_keeps_the_mean_and_spreads_a_point() -> None:
    x = torch.zeros(21, 21, 21)
    x[10, 10, 10] = 1.0
    y = gaussian_blur(x, [2.0, 0.0, 1.0])
    assert abs(float(y.sum()) - 1.0) < 1e-4
    assert float(y[10, 9, 10]) == 0.0 and float(y[9, 10, 10]) > 0.0  # no blur along y


def test_degradation_adds_noise_bias_and_keeps_scale() -> None:
    base = torch.full((24, 24, 24), 0.5)
    out = degrade(base, 2.0, np.random.default_rng(3))
    assert out.shape == base.shape and float(out.std()) > 0
    assert 0.2 < float(out.mean()) < 1.0


def test_render_classes_whole_volume() -> None:
    classes = np.full((12, 12, 12), CODE["air"], np.uint8)
    classes[3:9, 3:9, 3:9] = CODE["white_matter"]
    img = render_classes(classes, 1.0, np.random.default_rng(5), QUIET)
    assert img.shape == classes.shape and img[6, 6, 6] > img[0, 0, 0]


def test_stripping_leaves_brain_and_cord_only() -> None:
    lut = torch.from_numpy(random_lut(np.random.default_rng(2)))
    out = strip_lut(lut)
    kept = [CODE[n] for n in ("csf", "grey_matter", "white_matter", "cord")]
    others = [c for c in range(N_CODES) if c not in kept]
    assert float(out[others].abs().max()) == 0.0
    assert abs(float(out.max()) - 1.0) < 1e-6
    classes = np.full((12, 12, 12), CODE["muscle"], np.uint8)
    classes[3:9, 3:9, 3:9] = CODE["white_matter"]
    img = render_classes(classes, 1.0, np.random.default_rng(5), QUIET, strip=True)
    assert img[0, 0, 0] == 0.0 and img[6, 6, 6] > 0.5


def test_stripped_targets_keep_only_the_cord() -> None:
    ids = list(range(13))
    y = torch.rand(13, 4, 4, 4)
    y = y / y.sum(0, keepdim=True)
    out = stripped_targets(y, ids)
    assert torch.allclose(out.sum(0), torch.ones(4, 4, 4), atol=1e-5)
    assert torch.equal(out[12], y[12]) and float(out[1:12].abs().max()) == 0.0
    assert float(stripped_targets(y, list(range(12)))[1:].abs().max()) == 0.0  # no cord label


def test_whole_scale_is_the_bright_end() -> None:
    classes = np.full((30, 30, 30), CODE["air"], np.uint8)
    classes[5:25, 5:25, 5:25] = CODE["csf"]
    frac = class_fractions(classes, (15, 15, 15))
    lut = torch.zeros(N_CODES)
    lut[CODE["csf"]] = 0.8
    assert abs(whole_scale(frac, lut) - 0.8) < 1e-3


@pytest.mark.slow
def test_randomised_training_runs_on_tissue_maps(tmp_path: Path) -> None:
    from headtwin_app.core.phantom import make_phantom

    cases = []
    for seed in (11, 12):
        ph = make_phantom(seed, spacing=4.0)
        cases.append(TrainingCase(f"s{seed}", ph.image, ph.labels, ph.tissue_classes))
    be = BuiltinUNetBackend(tmp_path / "m.pt", device="cpu")
    steps = list(be.train(cases, tmp_path / "m.pt", spacing_mm=4.0, base=4, depth=3, patch=32,
                          iterations=4, batch=2, randomise=1.0, strip=0.5))
    assert steps[-1].stage == "done" and np.isfinite(steps[-1].metrics["loss"])
    ck = torch.load(tmp_path / "m.pt", weights_only=True)
    assert ck["config"]["randomise"] == 1.0 and ck["config"]["strip"] == 0.5
    fine = list(be.train_refiner(cases, tmp_path / "m.refine.pt", spacing_mm=4.0, base=4,
                                 depth=2, patch=16, stride=8, iterations=2, batch=1,
                                 randomise=1.0, renders=3, strip=0.5, focus=8,
                                 focus_share=1.0))
    assert [p.stage for p in fine].count("prepare") == 6 and fine[-1].stage == "done"


def test_case_tissue_map_must_share_the_grid() -> None:
    img = Volume(np.zeros((4, 4, 4), np.float32), np.eye(4))
    with pytest.raises(ValueError):
        TrainingCase("x", img, Volume(np.zeros((4, 4, 4), np.uint8), np.eye(4)),
                     Volume(np.zeros((4, 4, 5), np.uint8), np.eye(4)))
