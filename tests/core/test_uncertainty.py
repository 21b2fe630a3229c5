"""Uncertainty of the built-in model: scores against numpy references, the shipped model on a
small phantom crop (grid, range, cancel, mirror views, noise scoring above a head), ranking."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from headtwin_app.core.seg import Progress
from headtwin_app.core.seg.builtin import BuiltinUNetBackend
from headtwin_app.core.seg.uncertainty import (
    UncertaintyResult,
    case_score,
    estimate_uncertainty,
    expected_error,
    iter_uncertainty,
    iter_views,
    normalised_entropy,
    rank_by_uncertainty,
)
from headtwin_app.core.volume import Volume


@pytest.fixture(scope="module")
def head() -> Volume:
    """A 128 mm cube of an unseen phantom at the model's own 2 mm (jaw, TMJ, muscles, eyes):
    one 64³ tile per view, so each model run takes a fraction of a second."""
    from headtwin_app.core.phantom import make_phantom

    ph = make_phantom(905, spacing=2.0)
    affine = ph.image.affine.copy()
    affine[:3, 3] += affine[:3, :3] @ np.array([16.0, 40.0, 10.0])
    return Volume(np.ascontiguousarray(ph.image.data[16:80, 40:104, 10:74]), affine)


@pytest.fixture(scope="module")
def coarse() -> BuiltinUNetBackend:
    return BuiltinUNetBackend(device="cpu", refine=False)


@pytest.fixture(scope="module")
def head_result(coarse: BuiltinUNetBackend, head: Volume) -> UncertaintyResult:
    return estimate_uncertainty(coarse, head, views=2, refine=False)


def test_expected_error_matches_numpy_reference() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 6, 5, 3)) * 3
    p = np.exp(logits) / np.exp(logits).sum(0)
    hard = p.argmax(0)
    err, count = expected_error(torch.from_numpy(p).float(), torch.from_numpy(hard))
    for k in range(4):
        h = (hard == k).astype(float)
        ref = np.abs(h - p[k]).sum() / (h.sum() + p[k].sum())
        assert err[k] == pytest.approx(ref, rel=1e-5)
        assert count[k] == h.sum()
    sure = np.zeros((3, 4, 4, 4))
    sure[1, :2] = 1
    sure[0, 2:] = 1  # class 2 appears nowhere: no score
    err, _ = expected_error(torch.from_numpy(sure), torch.from_numpy(sure.argmax(0)))
    assert err[0] == 0 and err[1] == 0 and math.isnan(err[2])
    with pytest.raises(ValueError, match="do not match"):
        expected_error(torch.from_numpy(sure), torch.zeros(4, 4, dtype=torch.long))


def test_expected_error_of_labels_on_a_finer_grid() -> None:
    # the 2 mm stage alone: probabilities on the coarse grid, the proposal on the image grid
    rng = np.random.default_rng(1)
    logits = torch.from_numpy(rng.normal(size=(3, 4, 5, 6)) * 2).float()
    prob = torch.softmax(logits, 0)
    up = torch.nn.functional.interpolate(prob[None], size=(8, 10, 12), mode="trilinear",
                                         align_corners=False)[0]
    hard = up.argmax(0)
    got, count = expected_error(prob, hard)
    ref, ref_count = expected_error(up, hard)
    assert np.allclose(got, ref, atol=1e-6) and np.array_equal(count, ref_count)


def test_normalised_entropy_range() -> None:
    p = torch.zeros(5, 2, 2, 1)
    p[3] = 1.0
    p[:, 1] = 0.2  # uniform over the 5 classes
    h = normalised_entropy(p)
    assert h.dtype == torch.float32 and h.shape == (2, 2, 1)
    assert torch.allclose(h[0], torch.zeros(2, 1)) and torch.allclose(h[1], torch.ones(2, 1))


def test_result_on_the_image_grid(head_result: UncertaintyResult, head: Volume,
                                  coarse: BuiltinUNetBackend) -> None:
    r = head_result
    assert r.labels.shape == head.shape and np.array_equal(r.labels.affine, head.affine)
    assert r.uncertainty.shape == head.shape and np.array_equal(r.uncertainty.affine, head.affine)
    u = r.uncertainty.data
    assert u.dtype == np.float32 and u.min() >= 0.0 and u.max() <= 1.0
    # the proposal is exactly what `predict` gives (the first view)
    assert np.array_equal(r.labels.data, coarse.predict(head).data)
    assert r.views == 2 and r.grid == "coarse"
    assert set(r.scores) >= {"mandible", "masseter", "medial_pterygoid"}
    assert all(0.0 <= v <= 1.0 for v in r.scores.values())
    assert r.voxels["mandible"] > 100
    # boundaries are where the model hesitates: the structures' inside is surer than their rim
    from scipy import ndimage

    m = r.labels.data == 2
    inner = ndimage.binary_erosion(m, iterations=2)
    rim = m & ~ndimage.binary_erosion(m)
    assert u[inner].mean() < u[rim].mean()


def test_mirror_view_is_the_mirror_of_the_mirrored_image(coarse: BuiltinUNetBackend,
                                                          head: Volume) -> None:
    got: dict[str, list[torch.Tensor]] = {"plain": [], "mirrored": []}
    mirrored = head.with_data(np.ascontiguousarray(head.data[::-1]))
    for key, img in (("plain", head), ("mirrored", mirrored)):
        list(iter_views(coarse, img, 2, False, lambda v, p, key=key: got[key].append(p)))
    # view 2 of the head (mirrored inside, brought back) = view 1 of the mirrored head, mirrored
    assert torch.allclose(got["plain"][1], got["mirrored"][0].flip(2), atol=1e-5)
    assert not torch.allclose(got["plain"][0], got["plain"][1], atol=1e-3)  # a real second view


def test_generator_reports_progress_and_cancels(coarse: BuiltinUNetBackend,
                                                head: Volume) -> None:
    gen = iter_uncertainty(coarse, head, views=2, refine=False)
    first = next(gen)
    assert isinstance(first, Progress) and first.stage == "coarse" and first.fraction == 0.0
    second = next(gen)
    assert "view 2/2 (mirrored)" in second.message and second.fraction == 0.5
    gen.close()  # cancel: no error, nothing more runs
    with pytest.raises(StopIteration):
        next(gen)
    steps = []
    gen = iter_uncertainty(coarse, head, views=1, refine=False)
    while True:
        try:
            steps.append(next(gen))
        except StopIteration as stop:
            result = stop.value
            break
    assert [s.stage for s in steps] == ["coarse", "scores"]
    assert isinstance(result, UncertaintyResult) and result.views == 1


def test_noise_is_more_uncertain_than_a_head(coarse: BuiltinUNetBackend, head: Volume,
                                             head_result: UncertaintyResult) -> None:
    rng = np.random.default_rng(1)
    noise = head.with_data(rng.gamma(2.0, 200.0, head.shape).astype(np.float32))
    r = estimate_uncertainty(coarse, noise, views=2, refine=False)
    assert r.case_score > 2 * head_result.case_score
    # the contrast-agnostic model calls noise background with confidence (0.3 % of voxels
    # labelled against 14.5 % of the head), so its voxel uncertainty is low there; the case
    # score above, over the structures found, is what flags it
    assert (r.labels.data > 0).mean() < 0.1 * (head_result.labels.data > 0).mean()
    assert rank_by_uncertainty({"head": head_result.scores, "noise": r.scores}) == [
        "noise", "head"]


@pytest.mark.slow
def test_fine_stage_runs_per_view(head: Volume) -> None:
    be = BuiltinUNetBackend(device="cpu")
    if be.refine_weights is None:
        pytest.skip("no fine stage beside the shipped weights")
    small = Volume(np.ascontiguousarray(head.data[16:48, 8:40, 16:48]), head.affine)
    steps, gen = [], iter_uncertainty(be, small, views=2)
    while True:
        try:
            steps.append(next(gen))
        except StopIteration as stop:
            r = stop.value
            break
    assert r.grid == "fine" and any(s.stage == "refine" for s in steps)
    assert r.uncertainty.shape == small.shape and r.labels.shape == small.shape
    assert 0 <= r.uncertainty.data.min() and r.uncertainty.data.max() <= 1
    assert np.array_equal(r.labels.data, be.predict(small).data)


def test_bad_arguments(coarse: BuiltinUNetBackend, head: Volume) -> None:
    for views in (0, 3):
        with pytest.raises(ValueError, match="views must be 1-2"):
            estimate_uncertainty(coarse, head, views=views)
    flat = Volume.from_spacing(np.zeros((8, 8, 1), np.float32))
    with pytest.raises(ValueError, match="3D image"):
        estimate_uncertainty(coarse, flat)


def test_case_score_and_ranking() -> None:
    cases = {"b": {"skull": 0.1, "mandible": 0.3}, "a": {"skull": 0.2, "mandible": 0.2},
             "c": {"skull": 0.05, "mandible": 0.5}, "empty": {},
             "nan": {"skull": float("nan")}}
    before = {k: dict(v) for k, v in cases.items()}
    assert case_score(cases["c"]) == pytest.approx(0.275)
    assert case_score(cases["c"], "max") == 0.5
    assert math.isnan(case_score({}))
    # mean: c 0.275 > a 0.2 = b 0.2 (tie by name); unscored cases last, by name
    assert rank_by_uncertainty(cases) == ["c", "a", "b", "empty", "nan"]
    assert rank_by_uncertainty(cases, how="max") == ["c", "b", "a", "empty", "nan"]
    assert cases == before or all(  # pure: the input is untouched (NaN != NaN aside)
        k == "nan" or cases[k] == before[k] for k in cases)
    assert rank_by_uncertainty({}) == []
    with pytest.raises(ValueError, match="how"):
        case_score(cases["a"], "median")


def test_single_view_scores_on_the_image_grid() -> None:
    """The cheap per-proposal confidence: a label map that agrees with sure probabilities scores
    ~0, one that disagrees scores high; the labels are read at the working grid's centres."""
    from headtwin_app.core.seg.uncertainty import single_view_scores

    prob = torch.zeros(2, 4, 4, 4)
    prob[0] = 1.0
    prob[0, :2], prob[1, :2] = 0.0, 1.0  # class 1 (label 5) sure on the first half
    labels = np.zeros((8, 8, 8), np.int16)
    labels[:4] = 5
    good = single_view_scores(prob, labels, [0, 5])
    assert list(good) == ["masseter"] and good["masseter"] < 1e-6
    labels[:, :4] = 0  # half of the structure missed
    bad = single_view_scores(prob, labels, [0, 5])
    assert 0.2 < bad["masseter"] < 0.5
