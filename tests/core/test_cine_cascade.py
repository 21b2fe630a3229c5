"""The 2D+t cascade: per-frame data consistency, blocks and options, data sharing, the paper's
losses, checkpoints, and a short training that lowers its loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from headtwin_app.core.fft import fft2c
from headtwin_app.core.recon.cine_cascade import CineCascade, CineConfig, data_shared
from headtwin_app.core.recon.cine_losses import (
    edge_loss,
    feature_loss,
    mse,
    random_vgg16_control,
)
from headtwin_app.core.recon.cine_predict import (
    cascade3d_iter,
    load_cine_model,
    save_cine_model,
    undersample_cine,
)
from headtwin_app.core.recon.predict import run_to_end
from headtwin_app.core.recon.train import sobel_edges
from headtwin_app.core.weights import ModelFileError


def _seq(nt: int = 6, n: int = 32, seed: int = 0) -> np.ndarray:
    """A moving bright disc on a textured background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    bg = 0.2 + 0.05 * rng.random((n, n))
    frames = []
    for t in range(nt):
        cy = n / 2 + 4 * np.sin(2 * np.pi * t / nt)
        frames.append(bg + ((yy - cy) ** 2 + (xx - n / 2) ** 2 < (n / 5) ** 2))
    return np.asarray(frames, np.float32)


def _lines_mask(nt: int, n: int, keep: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = np.zeros((nt, n, n), bool)
    for t in range(nt):
        m[t, rng.choice(n, keep, replace=False)] = True
        m[t, n // 2 - 1:n // 2 + 1] = True
    return m


def _tensors(seq: np.ndarray, mask: np.ndarray):  # type: ignore[no-untyped-def]
    k0, zf = undersample_cine(seq, mask)
    return (torch.from_numpy(zf)[None], torch.from_numpy(k0)[None],
            torch.from_numpy(mask.astype(np.float32))[None])


@pytest.mark.parametrize("block", ["simple", "complex"])
@pytest.mark.parametrize("n", [32, 33])
def test_hard_dc_keeps_every_frames_samples_exactly(block: str, n: int) -> None:
    seq, mask = _seq(5, n), _lines_mask(5, n, 6)
    torch.manual_seed(0)
    net = CineCascade(CineConfig(block, 2, 4, batch_norm=True, dropout=0.2,
                                 data_sharing=1)).eval()
    x, k0, m = _tensors(seq, mask)
    with torch.no_grad():
        out = net(x, k0, m)[0].numpy()
    assert out.shape == seq.shape
    k = fft2c(out)
    np.testing.assert_allclose(k[mask], k0[0].numpy()[mask], atol=1e-4)
    assert not np.allclose(k[~mask], 0)  # the CNN filled what was not measured


def test_soft_dc_blends_with_a_learnable_lambda() -> None:
    net = CineCascade(CineConfig("simple", 1, 4, dc_lambda=1.0))
    lam = [p for n_, p in net.named_parameters() if n_.endswith("lam")]
    assert len(lam) == 1 and lam[0].requires_grad


def test_zero_cascades_is_the_zero_filled_sequence() -> None:
    seq, mask = _seq(4, 16), _lines_mask(4, 16, 4)
    x, k0, m = _tensors(seq, mask)
    out = CineCascade(CineConfig("simple", 0))(x, k0, m)
    np.testing.assert_allclose(out.detach().numpy(), x.numpy(), atol=1e-5)


def test_data_sharing_fills_a_line_from_the_neighbouring_frames() -> None:
    nt, n = 3, 8
    k0 = torch.zeros(1, nt, n, n, dtype=torch.complex64)
    mask = torch.zeros(1, nt, n, 1)
    mask[0, 0, 2], mask[0, 1, 5], mask[0, 2, 5] = 1, 1, 1
    k0[0, 0, 2], k0[0, 1, 5], k0[0, 2, 5] = 1.0, 2.0, 4.0
    from headtwin_app.core.recon.dc import fft2c_t

    k = fft2c_t(data_shared(k0, mask, 1))[0]
    assert torch.allclose(k[0, 5], torch.full((n,), 3.0, dtype=torch.complex64), atol=1e-5)
    assert torch.allclose(k[1, 5], torch.full((n,), 2.0, dtype=torch.complex64), atol=1e-5)
    assert torch.allclose(k[1, 2], torch.full((n,), 1.0, dtype=torch.complex64), atol=1e-5)


def test_config_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="block"):
        CineConfig("deep")
    with pytest.raises(ValueError, match="dropout"):
        CineConfig(dropout=1.5)
    with pytest.raises(ValueError, match="n_cascades"):
        CineConfig(n_cascades=-1)


def test_edge_loss_follows_eq2_and_its_schedule() -> None:
    torch.manual_seed(0)
    pred = torch.randn(1, 3, 16, 16, dtype=torch.complex64)
    gt = torch.randn(1, 3, 16, 16, dtype=torch.complex64)
    assert torch.allclose(edge_loss(pred, gt, 99), mse(pred, gt))
    s = sobel_edges(pred.abs()[0]) - sobel_edges(gt.abs()[0])
    want = 0.8 * mse(pred, gt) + 0.2 * s.pow(2).mean()
    assert torch.allclose(edge_loss(pred, gt, 100), want)
    assert torch.allclose(edge_loss(pred, gt, 100, alpha=0.5, start=200), mse(pred, gt))


def test_random_control_is_frozen_vgg_shaped_and_calibrated() -> None:
    enc = random_vgg16_control(3)
    assert enc.widths == (64, 128) and not any(p.requires_grad for p in enc.parameters())
    frames = torch.rand(4, 32, 32)
    enc.calibrate(frames)
    for f in enc.features(frames):
        assert float(f.pow(2).mean()) == pytest.approx(float(frames.pow(2).mean()), rel=1e-3)
    same = torch.rand(1, 2, 32, 32).to(torch.complex64)
    assert float(feature_loss(same, same, enc)) == pytest.approx(0.0, abs=1e-9)
    other = random_vgg16_control(4)
    assert not torch.equal(other.block1[0].weight, enc.block1[0].weight)


def test_checkpoint_round_trip_and_bad_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    net = CineCascade(CineConfig("complex", 1, 4))
    path = save_cine_model(net, tmp_path / "m.pt", {"note": "test"})
    back = load_cine_model(path)
    assert back.config == net.config and back.meta == {"note": "test"}
    seq, mask = _seq(4, 16), _lines_mask(4, 16, 4)
    k0, _ = undersample_cine(seq, mask)
    rec = run_to_end(cascade3d_iter(k0, mask, back))
    assert rec.shape == seq.shape and rec.dtype == np.complex64
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError):
        load_cine_model(tmp_path / "bad.pt")
    with pytest.raises(ModelFileError, match="not found"):
        load_cine_model(tmp_path / "missing.pt")


def test_mask_shape_must_match_the_cine() -> None:
    with pytest.raises(ValueError, match="does not match"):
        undersample_cine(_seq(4, 16), np.ones((4, 16, 8), bool))
    with pytest.raises(ValueError, match="frames"):
        undersample_cine(np.ones((16, 16)), np.ones((16, 16), bool))


@pytest.mark.parametrize("loss", ["mse", "edge", "random_feature"])
def test_a_short_training_lowers_the_validation_loss(loss: str) -> None:
    from headtwin_app.core.recon.cine_train import CineTrainConfig, train_cine_steps

    train = [_seq(8, 40, s) for s in range(3)]
    val = [_seq(8, 40, 9)]
    cfg = CineTrainConfig(model={"block": "simple", "n_cascades": 1, "width": 6}, steps=24,
                          frames=6, patch=32, loss=loss, edge_start=8, val_every=12, n_val=1,
                          family="kt_random", lr=3e-3)
    gen = train_cine_steps(cfg, train, val)
    reports = []
    while True:
        try:
            reports.append(next(gen))
        except StopIteration as stop:
            net, hist = stop.value
            break
    assert [r.metrics["step"] for r in reports] == [12, 24]
    assert hist["best_val_loss"] == min(hist["val_loss"]) < hist["val_loss"][0] * 1.001
    losses = hist["train_loss"]
    if loss == "edge":  # eq. 2's schedule: the Sobel term joins at iteration edge_start
        assert losses[8] > 2 * losses[7]
    else:
        assert np.mean(losses[-6:]) < np.mean(losses[:6])
    assert not net.training


def test_training_config_errors_name_the_field() -> None:
    from headtwin_app.core.recon.cine_train import CineTrainConfig

    with pytest.raises(ValueError, match="loss"):
        CineTrainConfig.from_dict({"loss": "vgg"})
    with pytest.raises(ValueError, match="unknown cine config key"):
        CineTrainConfig.from_dict({"task": "cine", "epochs": 3})
    with pytest.raises(ValueError, match="optimizer"):
        CineTrainConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="clock"):
        CineTrainConfig(clock="gpu")
    with pytest.raises(ValueError, match="lr_schedule"):
        CineTrainConfig(lr_schedule="step")


def test_cpu_clock_and_cosine_schedule_run() -> None:
    from headtwin_app.core.recon.cine_train import CineTrainConfig, train_cine_steps

    cfg = CineTrainConfig(model={"block": "simple", "n_cascades": 1, "width": 4}, steps=4,
                          frames=4, patch=16, clock="cpu", lr_schedule="cosine", val_every=2,
                          n_val=1, family="kt_random")
    gen = train_cine_steps(cfg, [_seq(6, 24, 1)], [_seq(6, 24, 2)])
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            _, hist = stop.value
            break
    assert hist["steps"] == 4 and hist["cpu_seconds"] > 0


def test_training_continues_from_a_checkpoint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """init_from: the run starts from the stored weights (its step-0 model is the checkpoint's)
    and takes the stored architecture, whatever `model` says."""
    from headtwin_app.core.recon.cine_train import CineTrainConfig, train_cine_steps

    torch.manual_seed(3)
    start = CineCascade(CineConfig(block="simple", n_cascades=1, width=5))
    path = save_cine_model(start, tmp_path / "start.pt")
    cfg = CineTrainConfig(init_from=str(path), model={"block": "complex", "width": 8}, steps=1,
                          lr=1e-12, frames=4, patch=16, val_every=1, n_val=1)
    net, hist = run_to_end(train_cine_steps(cfg, [_seq(6, 24, 1)], [_seq(6, 24, 2)]))
    assert net.config == start.config and hist["config"]["model"] == start.config.to_dict()
    for k, v in start.state_dict().items():
        assert torch.allclose(net.state_dict()[k].float(), v.float(), atol=1e-6), k


def test_training_crops_avoid_empty_background() -> None:
    from headtwin_app.core.recon.cine_train import CineTrainConfig, _crop

    seq = np.zeros((6, 96, 96), np.float32)
    seq[:, 70:90, 70:90] = 1.0  # signal in one corner only
    cfg = CineTrainConfig(frames=4, patch=32)
    rng = np.random.default_rng(0)
    crops = [_crop(seq, cfg, rng) for _ in range(40)]
    assert sum(float(np.percentile(c, 99)) > 0.2 for c in crops) >= 20  # one draw: ~6 of 40
