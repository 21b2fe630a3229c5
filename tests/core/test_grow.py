"""Grow from seeds: FastGrowCut in a box around the seeds, the 255 background convention, the
prior's extra seeds, and a re-grow after more scribbles."""

from __future__ import annotations

import numpy as np
import pytest

from headtwin_app.core.edit.grow import (
    BACKGROUND_SEED,
    Grower,
    Prior,
    grow_from_seeds,
    prior_seeds,
    seed_box,
)
from headtwin_app.core.edit.growcut import GrowCut

SHAPE = (48, 40, 36)


def _ball(centre: tuple[float, float, float], radius: float) -> np.ndarray:
    x, y, z = np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij", sparse=True)
    return (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2 <= radius**2


def _scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two balls of different brightness on a dark background, with a little noise; the truth
    is 1 (left ball) and 2 (right ball)."""
    truth = np.zeros(SHAPE, np.int16)
    truth[_ball((14, 20, 18), 8)] = 1
    truth[_ball((34, 20, 18), 8)] = 2
    image = np.choose(truth, [100.0, 400.0, 800.0]).astype(np.float32)
    image += np.random.default_rng(seed).normal(0, 10, SHAPE).astype(np.float32)
    return image, truth


def _seeds() -> np.ndarray:
    seeds = np.zeros(SHAPE, np.uint8)
    seeds[12:17, 20, 18] = 1
    seeds[32:37, 20, 18] = 2
    seeds[2, 4:36, 18] = BACKGROUND_SEED
    seeds[45, 4:36, 18] = BACKGROUND_SEED
    seeds[20:28, 3, 18] = BACKGROUND_SEED
    return seeds


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


def test_two_balls_each_grow_to_their_ball() -> None:
    image, truth = _scene()
    result = grow_from_seeds(image, _seeds(), margin_mm=40.0)
    labels = result.full(SHAPE)
    assert labels.dtype == np.int16
    assert _dice(labels == 1, truth == 1) > 0.9
    assert _dice(labels == 2, truth == 2) > 0.9
    assert BACKGROUND_SEED not in labels  # background seeds grow background: 0
    assert set(result.voxels) == {1, 2}
    assert result.voxels[1] == int((labels == 1).sum())
    assert result.seconds > 0 and result.scale == 1


def test_box_is_seeds_plus_margin_clipped_and_zero_outside() -> None:
    image, _ = _scene()
    seeds = np.zeros(SHAPE, np.uint8)
    seeds[1:4, 20, 18] = 1
    seeds[10, 20, 18] = BACKGROUND_SEED
    box = seed_box(seeds, (1.0, 2.0, 1.0), margin_mm=4.0)
    assert box == (slice(0, 15), slice(18, 23), slice(14, 23))  # 4 mm = 2 voxels along y
    result = grow_from_seeds(image, seeds, spacing=(1.0, 2.0, 1.0), margin_mm=4.0)
    assert result.box == box and result.labels.shape == (15, 5, 9)
    full = result.full(SHAPE)
    outside = np.ones(SHAPE, bool)
    outside[box] = False
    assert not full[outside].any() and (full[box] == 1).any()


def test_seeds_keep_their_value_and_bad_seeds_are_refused() -> None:
    image, _ = _scene()
    seeds = _seeds()
    seeds[24, 20, 18] = 1  # a seed on the dark gap between the balls stays 1
    assert grow_from_seeds(image, seeds, margin_mm=40.0).full(SHAPE)[24, 20, 18] == 1
    with pytest.raises(ValueError, match="not on the image grid"):
        grow_from_seeds(image, seeds[:-1])
    with pytest.raises(ValueError, match="no seeds"):
        grow_from_seeds(image, np.zeros(SHAPE, np.uint8))
    only_one = np.zeros(SHAPE, np.int16)
    only_one[14, 20, 18] = 1
    with pytest.raises(ValueError, match="one kind only"):
        grow_from_seeds(image, only_one)
    only_background = np.where(_seeds() == BACKGROUND_SEED, BACKGROUND_SEED, 0)
    with pytest.raises(ValueError, match="no structure seeds"):
        grow_from_seeds(image, only_background)
    with pytest.raises(ValueError, match="0-254"):
        grow_from_seeds(image, np.full(SHAPE, 300, np.int16))


def test_regrow_after_more_scribbles_changes_it_where_they_are() -> None:
    """The right ball made to look like the left one and joined to it by a bar: seeds in the
    left ball (and background) grow into both. A background scribble in the right ball then
    takes it back — incrementally, and as a fresh grow would."""
    image, truth = _scene()
    noise = np.random.default_rng(1).normal(0, 10, SHAPE).astype(np.float32)
    image[truth == 2] = 400.0 + noise[truth == 2]
    image[14:34, 18:23, 16:21] = 400.0 + noise[14:34, 18:23, 16:21]
    seeds = _seeds()
    seeds[seeds == 2] = 0
    grower = Grower(image, margin_mm=40.0)
    first = grower.preview(seeds)
    assert not first.incremental
    labels = first.full(SHAPE)
    assert (labels[truth == 1] == 1).mean() > 0.95 and (labels[truth == 2] == 1).mean() > 0.95
    seeds[32:37, 20, 18] = BACKGROUND_SEED
    second = grower.preview(seeds)
    assert second.incremental
    again = second.full(SHAPE)
    assert (again[truth == 1] == 1).mean() > 0.95 and (again[truth == 2] == 1).mean() < 0.05
    np.testing.assert_array_equal(again, grow_from_seeds(image, seeds, margin_mm=40).full(SHAPE))
    seeds[32:37, 20, 18] = 0  # a removed scribble starts over
    assert not grower.preview(seeds).incremental


def test_coarse_preview_and_full_resolution_grow() -> None:
    image, truth = _scene()
    grower = Grower(image, margin_mm=40.0, preview_voxels=10_000)
    quick = grower.preview(_seeds())
    assert quick.scale == 2  # 48·40·36 voxels / 10 000 → a grid 2× coarser
    assert quick.labels.shape == tuple(n for n in SHAPE)
    assert _dice(quick.full(SHAPE) == 1, truth == 1) > 0.85
    exact = grower.grow(_seeds())
    assert exact.scale == 1
    assert _dice(exact.full(SHAPE) == 1, truth == 1) > 0.9
    assert _dice(exact.full(SHAPE) == 2, truth == 2) > 0.9


def test_box_only_grows() -> None:
    image, _ = _scene()
    grower = Grower(image, margin_mm=2.0)
    seeds = _seeds()
    seeds[:, :, :] = 0
    seeds[12:17, 20, 18] = 1
    seeds[14, 26, 18] = BACKGROUND_SEED
    first = grower.preview(seeds).box
    seeds[14, 22, 18] = BACKGROUND_SEED  # inside the box: kept
    assert grower.preview(seeds).box == first
    seeds[40, 20, 30] = BACKGROUND_SEED  # outside: the box takes both
    box = grower.preview(seeds).box
    assert box[0].start == first[0].start and box[0].stop == 43 and box[2].stop == 33


def test_prior_seeds_for_seeded_structures_and_background() -> None:
    _, truth = _scene()
    prob = np.zeros((3, *SHAPE), np.float32)
    for c in range(3):
        prob[c][truth == c] = 0.97
    prob[0][truth == 0] = 0.5  # unsure background stays unseeded
    prob[0][:4] = 0.99
    prior = Prior(prob, (0, 1, 2), threshold=0.95, erosion_voxels=1)
    box = (slice(0, SHAPE[0]), slice(0, SHAPE[1]), slice(0, SHAPE[2]))
    extra = prior_seeds(prior, box, seeded_ids=[1])
    assert set(np.unique(extra)) == {0, 1, BACKGROUND_SEED}
    assert extra[14, 20, 18] == 1  # the seeded structure's confident voxels: its seeds
    assert extra[34, 20, 18] == BACKGROUND_SEED  # a structure not seeded: background
    assert extra[0, 20, 18] == BACKGROUND_SEED  # confident background
    assert extra[24, 20, 18] == 0  # unsure: no seed
    assert extra[14, 20, 10] == 0 and extra[14, 20, 12] == 1  # the rim is eroded away


def test_prior_supplies_the_background_seeds() -> None:
    image, truth = _scene()
    seeds = np.zeros(SHAPE, np.uint8)
    seeds[12:17, 20, 18] = 1  # the user scribbled one ball only
    with pytest.raises(ValueError, match="one kind only"):
        grow_from_seeds(image, seeds, margin_mm=40.0)
    prob = np.stack([(truth == 0), (truth == 1), (truth == 2)]).astype(np.float32)
    result = grow_from_seeds(image, seeds, margin_mm=40.0, prior=Prior(prob, (0, 1, 2)))
    labels = result.full(SHAPE)
    assert _dice(labels == 1, truth == 1) > 0.9
    assert set(result.voxels) == {1}  # the unseeded ball is background for this grow
    with pytest.raises(ValueError, match="one channel per label"):
        Prior(prob, (0, 1))
    with pytest.raises(ValueError, match="not on the image grid"):
        Grower(image[:-1], prior=Prior(prob, (0, 1, 2)))


def test_growcut_axis_order_and_border_seeds() -> None:
    """Arrays go to ITK without a copy (axes reversed with the spacing): an anisotropic image
    grows the same as its transpose, and a seed on the box border still grows."""
    image, truth = _scene()
    seeds = _seeds()
    spacing = (1.0, 1.5, 2.0)
    a = GrowCut(image, spacing).run(seeds)
    b = GrowCut(image.transpose(2, 1, 0).copy(), spacing[::-1]).run(
        seeds.transpose(2, 1, 0).copy()).transpose(2, 1, 0)
    assert (a != b).mean() < 0.001  # ties may break differently
    border = np.zeros(SHAPE, np.uint8)
    border[0, 20, 18] = 1
    border[47, 20, 18] = BACKGROUND_SEED
    grown = GrowCut(image, spacing).run(border)
    assert (grown[:10] == 1).all()


def test_prior_from_a_probability_grid() -> None:
    """The model's coarse probabilities, read only in the box through ProbabilityGrid."""
    from headtwin_app.core.seg.prob_grid import ProbabilityGrid

    image, truth = _scene()
    seeds = np.zeros(SHAPE, np.uint8)
    seeds[12:17, 20, 18] = 1
    coarse = np.stack([(truth == c)[::2, ::2, ::2] for c in range(3)]).astype(np.float32)
    prior = Prior(ProbabilityGrid(coarse, SHAPE), (0, 1, 2))
    labels = grow_from_seeds(image, seeds, margin_mm=40.0, prior=prior).full(SHAPE)
    assert _dice(labels == 1, truth == 1) > 0.9


def test_preview_updates_the_full_resolution_grow_once_there_is_one() -> None:
    image, truth = _scene()
    grower = Grower(image, margin_mm=40.0, preview_voxels=10_000)
    seeds = _seeds()
    assert grower.preview(seeds).scale == 2
    exact = grower.grow(seeds)
    seeds[20:23, 30, 18] = BACKGROUND_SEED  # only added: the full-resolution state is updated
    update = grower.preview(seeds)
    assert update.scale == 1 and update.incremental
    np.testing.assert_array_equal(update.labels[exact.labels != 0] != 0, True)
    seeds[20:23, 30, 18] = 0  # removed: back to the coarse preview
    assert grower.preview(seeds).scale == 2
