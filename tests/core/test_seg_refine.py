"""The built-in model's 1 mm fine stage: starts as the coarse model, skips sure tiles, trains,
is picked up beside the coarse weights and refuses weights for other labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from headtwin_app.core.seg import Progress, TrainingCase
from headtwin_app.core.seg.builtin import BuiltinUNetBackend, refine_path
from headtwin_app.core.seg.refine import RefineNet, fine_labels, fine_prior, refine_tiles


def _prior(shape: tuple[int, int, int], classes: int, seed: int = 0) -> torch.Tensor:
    logits = torch.from_numpy(np.random.default_rng(seed).normal(0, 2, (classes, *shape)))
    return torch.softmax(logits.float(), 0)[None]


def test_untrained_refiner_returns_the_coarse_probabilities() -> None:
    prior = fine_prior(_prior((20, 24, 18), 4), (20, 24, 18))
    net = RefineNet(4, base=4, depth=2).eval()
    image = torch.rand(1, 1, 20, 24, 18)
    with torch.inference_mode():
        out = refine_tiles(net, image, prior, patch=16, stride=8)
    expected = prior.float() / 255
    assert out.shape == (1, 4, 20, 24, 18)
    assert torch.equal(out[0].argmax(0), expected.argmax(0))
    # softmax(log p) = p, up to the 1e-3 floor on tiny probabilities and the uint8 steps
    assert float((out[0] - expected).abs().max()) < 1e-2


def test_sure_tiles_are_not_run_through_the_network() -> None:
    shape = (32, 16, 16)
    coarse = torch.zeros(1, 3, *shape)
    coarse[0, 0] = 1.0  # certain background everywhere...
    coarse[0, :, 20:24, 6:10, 6:10] = 1 / 3  # ...but an unsure spot in the second half
    calls = []

    class Counting(RefineNet):
        def forward(self, image: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
            calls.append(image.shape)
            return super().forward(image, prior)

    net = Counting(3, base=4, depth=2).eval()
    with torch.inference_mode():
        out = refine_tiles(net, torch.zeros(1, 1, *shape), fine_prior(coarse, shape), 16, 16)
    assert len(calls) == 1  # two tiles along x; only the one holding the unsure spot runs
    assert torch.equal(out[0, 0, :16], torch.ones(16, 16, 16))


def test_fine_labels_map_ids_to_class_indices_and_resample() -> None:
    lab = np.zeros((4, 4, 4), np.int16)
    lab[:2] = 8
    idx = fine_labels(lab, [0, 3, 8], (8, 8, 8))
    assert idx.dtype == torch.uint8 and idx.shape == (8, 8, 8)
    assert set(torch.unique(idx).tolist()) == {0, 2} and int(idx[0, 0, 0]) == 2


@pytest.fixture(scope="module")
def coarse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[TrainingCase]]:
    from headtwin_app.core.phantom import make_phantom

    cases = []
    for seed in (11, 12):
        ph = make_phantom(seed, spacing=4.0)
        cases.append(TrainingCase(f"s{seed}", ph.image, ph.labels))
    weights = tmp_path_factory.mktemp("refine") / "m.pt"
    be = BuiltinUNetBackend(weights, device="cpu")
    list(be.train(cases, weights, spacing_mm=8.0, base=4, depth=2, patch=16, iterations=3,
                  batch=1))
    return weights, cases


@pytest.mark.slow
def test_train_refiner_is_used_beside_the_coarse_weights(coarse) -> None:  # type: ignore[no-untyped-def]
    weights, cases = coarse
    be = BuiltinUNetBackend(weights, device="cpu")
    assert be.refine_weights is None  # nothing beside the coarse weights yet
    before = be.predict(cases[0].image)
    steps = list(be.train_refiner(cases, refine_path(weights), spacing_mm=4.0, base=4,
                                  depth=2, patch=16, stride=8, iterations=4, batch=1))
    assert all(isinstance(p, Progress) for p in steps) and steps[-1].stage == "done"
    assert [p.stage for p in steps[:2]] == ["prepare", "prepare"]
    ck = torch.load(str(refine_path(weights)), weights_only=True)
    assert ck["stage"] == "refine" and ck["iterations_done"] == 4

    fresh = BuiltinUNetBackend(weights, device="cpu")
    assert fresh.refine_weights == refine_path(weights)
    image = cases[0].image
    pred = fresh.predict(image)
    assert pred.shape == image.shape and np.array_equal(pred.affine, image.affine)
    assert set(np.unique(pred.data).tolist()) <= set(fresh.label_ids)
    items = list(fresh.iter_predict(image))  # the form the labelling workspace cancels
    assert np.array_equal(items[-1].data, pred.data)
    steps = [p for p in items[:-1] if isinstance(p, Progress)]
    assert len(steps) == len(items) - 1 and steps[0].stage == "coarse"
    assert steps[-1].stage == "refine" and steps[-1].fraction == 1.0
    coarse_only = BuiltinUNetBackend(weights, device="cpu", refine=False).predict(image)
    assert np.array_equal(coarse_only.data, before.data)


def test_refiner_rejects_other_labels(coarse, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    weights, cases = coarse
    be = BuiltinUNetBackend(weights, device="cpu")
    ck = torch.load(str(weights), weights_only=True)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": RefineNet(3, 4, 2).state_dict(), "label_ids": [0, 1, 2],
                "config": {"base": 4, "depth": 2, "spacing_mm": 4.0, "patch": 16, "stride": 8}},
               str(other))
    assert len(ck["label_ids"]) != 3
    with pytest.raises(ValueError, match="other labels"):
        BuiltinUNetBackend(weights, device="cpu", refine=other).predict(cases[0].image)
    with pytest.raises(ValueError, match="not found"):
        BuiltinUNetBackend(weights, device="cpu", refine=tmp_path / "none.pt").predict(
            cases[0].image)
    odd = TrainingCase("odd", cases[0].image,
                       cases[0].labels.with_data(np.full(cases[0].labels.shape, 99, np.int16)))
    with pytest.raises(ValueError, match="does not know"):
        next(iter(be.train_refiner([odd], tmp_path / "r.pt")))
