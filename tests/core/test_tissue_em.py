"""Atlas-guided EM: N4 removes a smooth bias; the cavity edge follows the image, not the prior."""

from __future__ import annotations

import numpy as np

from headtwin_app.core.seg.tissue_em import classify, n4_corrected, refine_cavity


def _ball(shape: tuple[int, int, int], radius: float) -> np.ndarray:
    grid = np.indices(shape) - (np.asarray(shape)[:, None, None, None] - 1) / 2
    return np.sqrt((grid**2).sum(0)) <= radius


def test_n4_flattens_a_smooth_bias() -> None:
    shape = (40, 40, 40)
    inside = _ball(shape, 16)
    bias = np.exp(0.25 * np.linspace(-1, 1, shape[0]))[:, None, None] * np.ones(shape)
    image = np.where(inside, 100.0, 5.0) * bias
    flat = n4_corrected(image, inside, shrink=2, iterations=20)
    cv = lambda a: a[inside].std() / a[inside].mean()  # noqa: E731
    assert cv(flat) < 0.5 * cv(image)


def test_cavity_edge_follows_the_bright_csf() -> None:
    rng = np.random.default_rng(0)
    shape = (36, 36, 36)
    truth = _ball(shape, 12)  # bright CSF-filled cavity in dark bone
    image = np.where(truth, 1.0, 0.1) + rng.normal(0, 0.03, shape)
    prior = _ball(shape, 10).astype(np.float32)  # the registration's cavity is 2 voxels short
    zero = np.zeros(shape, np.float32)
    found = refine_cavity(image, zero, zero, prior)
    dice = 2 * (found & truth).sum() / (found.sum() + truth.sum())
    prior_dice = 2 * ((prior > 0) & truth).sum() / ((prior > 0).sum() + truth.sum())
    assert dice > 0.97 > prior_dice


def test_classify_puts_tissue_boundaries_where_the_intensities_are() -> None:
    rng = np.random.default_rng(1)
    shape = (30, 30, 30)
    cavity, brain, wm_true = _ball(shape, 13), _ball(shape, 11), _ball(shape, 6)
    truth = np.where(wm_true, 3, np.where(brain, 2, np.where(cavity, 1, 0)))
    pd = np.array([0.05, 0.97, 0.80, 0.66])  # bone, CSF, GM, WM (the phantom's PD values)
    image = pd[truth] + rng.normal(0, 0.02, shape)
    # a misregistered template: its WM reaches 2 voxels too far, its GM too
    wm_prior = np.where(_ball(shape, 8), 0.7, 0.15) * brain
    gm_prior = np.where(_ball(shape, 12.5), 0.9, 0.0) - wm_prior
    labels = classify(image, gm_prior, wm_prior, cavity.astype(np.float32), bias=False)
    assert (labels == truth)[cavity].mean() > 0.97
    prior_labels = np.argmax(np.stack([1 - gm_prior - wm_prior, gm_prior, wm_prior]), 0) + 1
    assert (prior_labels == truth)[cavity].mean() < 0.8
    assert (labels[~_ball(shape, 16)] == 0).all()
