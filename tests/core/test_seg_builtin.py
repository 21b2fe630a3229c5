"""Built-in U-Net backend: trains a few iterations, predicts on the input's exact grid."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from headtwin_app.core.seg import Progress, TrainingCase, get_backend
from headtwin_app.core.seg.builtin import (
    BuiltinUNetBackend,
    TrainConfig,
    class_voxels,
    soft_targets,
    to_coarse,
)
from headtwin_app.core.seg.unet import UNet3D
from headtwin_app.core.volume import Volume


@pytest.fixture(scope="module")
def cases() -> list[TrainingCase]:
    from headtwin_app.core.phantom import make_phantom

    out = []
    for seed in (11, 12):
        ph = make_phantom(seed, spacing=4.0)
        out.append(TrainingCase(f"s{seed}", ph.image, ph.labels))
    return out


def test_unet_shapes() -> None:
    net = UNet3D(1, 5, base=4, depth=3)
    assert net(torch.zeros(1, 1, 8, 16, 12)).shape == (1, 5, 8, 16, 12)


def test_coarse_grid_and_soft_targets() -> None:
    img = np.random.default_rng(0).random((10, 12, 8)).astype(np.float32)
    assert to_coarse(img, (1.0, 1.0, 1.0), 2.0).shape == (1, 1, 5, 6, 4)
    lab = np.zeros((4, 4, 4), np.int16)
    lab[:2] = 3
    t = soft_targets(lab, [0, 3], (2, 2, 2)).float()
    assert torch.allclose(t.sum(0), torch.ones(2, 2, 2))
    assert float(t[1, 0].min()) == 1.0 and float(t[1, 1].max()) == 0.0


def test_patches_visit_small_structures_as_often_as_large_ones() -> None:
    lab = np.zeros((64, 64, 64), np.int16)
    lab[:, :, :32] = 1  # a large structure filling half the volume
    lab[50:52, 50:52, 50:52] = 2  # an 8-voxel one far from it
    y = soft_targets(lab, [0, 1, 2], lab.shape)
    voxels = class_voxels(y)
    assert [len(v) for v in voxels] == [64 * 64 * 32, 8]
    data = [(torch.zeros(1, *lab.shape), y, voxels, None)]
    cfg = TrainConfig(patch=32, batch=1, depth=2)
    rng = np.random.default_rng(0)
    hits = sum(float(BuiltinUNetBackend._batch(data, cfg, rng)[1][0, 2].sum()) > 0
               for _ in range(200))
    assert hits > 60  # uniform sampling over labelled voxels would almost never hit it


@pytest.mark.slow
def test_train_and_predict_keep_geometry(cases, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    be = BuiltinUNetBackend(tmp_path / "m.pt", device="cpu")
    steps = list(be.train(cases, tmp_path / "m.pt", spacing_mm=4.0, base=4, depth=3, patch=32,
                          iterations=6, batch=1, bf16=True))
    assert all(isinstance(p, Progress) for p in steps) and steps[-1].stage == "done"
    loaded = get_backend("builtin", model=tmp_path / "m.pt", device="cpu")
    img = cases[0].image
    # an odd grid with a non-trivial affine: the prediction must keep it exactly
    odd = Volume(img.data[1:, :-3, 2:], img.affine @ np.diag([1.0, 1.0, 1.0, 1.0]))
    odd.affine[:3, :3] = odd.affine[:3, :3] @ np.diag([1.0, -1.0, 1.0])
    pred = loaded.predict(odd)
    assert pred.shape == odd.shape and np.array_equal(pred.affine, odd.affine)
    assert set(np.unique(pred.data)) <= set(range(13))


def test_missing_and_bad_weights(tmp_path: Path) -> None:
    img = Volume.from_spacing(np.zeros((8, 8, 8), np.float32))
    with pytest.raises(ValueError, match="not found"):
        get_backend("builtin", model=tmp_path / "none.pt").predict(img)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a built-in segmentation checkpoint"):
        get_backend("builtin", model=bad).predict(img)


@pytest.mark.parametrize("iterations", [1, 2, 3, 7, 8, 20, 40, 5600])
def test_learning_rate_schedule_runs_for_any_length(iterations: int) -> None:
    # torch's one-cycle divided by zero for 20 iterations with a 5 % warm-up (a 1-step phase)
    from headtwin_app.core.seg.fit import one_cycle_lr

    rates = [one_cycle_lr(1e-3, i / iterations, iterations) for i in range(iterations)]
    assert all(0 < r <= 1e-3 for r in rates)
    if iterations >= 8:
        assert max(rates) > 0.9e-3 and rates[-1] < 0.05e-3  # warmed up, then cooled down


def test_time_limited_run_ends_cooled_down(monkeypatch: pytest.MonkeyPatch) -> None:
    # a run stopped by --minutes long before its iterations used to stop at the peak rate
    from headtwin_app.core.seg.fit import fit
    from headtwin_app.core.seg.refine import run_to_end

    made: list[torch.optim.Optimizer] = []

    class Recorded(torch.optim.AdamW):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(torch.optim, "AdamW", Recorded)

    def batch() -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        time.sleep(0.01)
        return (torch.rand(1, 1, 4, 4, 4),), torch.rand(1, 2, 4, 4, 4)

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ((logits - target) ** 2).mean()

    done, _ = run_to_end(fit(torch.nn.Conv3d(1, 2, 1), batch, loss, torch.device("cpu"), 1e-2,
                             10**6, False, 1.0, time.perf_counter()))
    assert 10 < done < 10**6
    assert made[0].param_groups[0]["lr"] < 0.05e-2
