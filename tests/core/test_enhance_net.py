"""The Context-Enhanced U-Net and its ablations: shapes, the context really used (per sample
for the dynamic kernels), checkpoints, slice-by-slice enhancement, and a short training on
simulated pairs that lowers its loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from headtwin_app.core.enhance.ce_unet import EnhanceConfig, EnhanceNet, n_parameters
from headtwin_app.core.enhance.context import CONTEXT_SIZE, Context
from headtwin_app.core.enhance.predict import (
    enhance_iter,
    load_enhance_model,
    neighbourhood,
    save_enhance_model,
)
from headtwin_app.core.enhance.train import (
    EnhanceTrainConfig,
    axial_stacks,
    make_example,
    train_enhance_steps,
)
from headtwin_app.core.recon.predict import run_to_end
from headtwin_app.core.weights import ModelFileError

SMALL = {"width": 4, "depth": 2, "hidden": 16}


def _net(variant: str = "ce", in_slices: int = 1, seed: int = 0) -> EnhanceNet:
    """A small network with every weight random (the default zero output layer would hide
    whether the context reaches the output)."""
    torch.manual_seed(seed)
    net = EnhanceNet(EnhanceConfig(variant=variant, in_slices=in_slices, **SMALL))
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.3)
    return net.requires_grad_(False).eval()


def _ctx(nrf: float = 1.0, **kw: float) -> torch.Tensor:
    return torch.from_numpy(Context(nrf=nrf, **kw).to_vector())[None]


def _image(n: int = 48, seed: int = 0) -> np.ndarray:
    """A bright disc and a square with a little texture: edges for the degradations to blur."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    img = 0.3 * ((yy - n / 2) ** 2 + (xx - n / 2) ** 2 < (n / 3) ** 2)
    img += 0.6 * ((abs(yy - n / 2 - 3) < n / 8) & (abs(xx - n / 2 + 2) < n / 6))
    return (img + 0.05 * rng.random((n, n))).astype(np.float32)


@pytest.mark.parametrize("variant", ["ce", "film", "plain"])
@pytest.mark.parametrize("in_slices", [1, 7])
def test_shapes_any_size(variant: str, in_slices: int) -> None:
    net = _net(variant, in_slices)
    for h, w in ((33, 47), (16, 16), (5, 9)):
        x = torch.randn(2, in_slices, h, w)
        y = net(x, _ctx().repeat(2, 1))
        assert y.shape == (2, 1, h, w)
        assert torch.isfinite(y).all()


def test_fresh_network_is_the_identity_on_the_middle_slice() -> None:
    net = EnhanceNet(EnhanceConfig(in_slices=7, **SMALL)).eval()
    x = torch.randn(1, 7, 20, 24)
    assert torch.equal(net(x, _ctx()), x[:, 3:4])


def test_bad_inputs_and_configs() -> None:
    net = _net()
    with pytest.raises(ValueError, match="takes"):
        net(torch.zeros(1, 7, 16, 16), _ctx())
    with pytest.raises(ValueError, match="context"):
        net(torch.zeros(1, 1, 16, 16), torch.zeros(1, CONTEXT_SIZE + 1))
    for bad in ({"variant": "xx"}, {"in_slices": 3}, {"width": 0}, {"depth": 9},
                {"width": 2.5}, {"width": True}, {"widht": 8}, {"width": 128, "depth": 6}):
        with pytest.raises(ValueError):
            EnhanceConfig.from_dict(bad)


@pytest.mark.parametrize("variant,uses", [("ce", True), ("film", True), ("plain", False)])
def test_context_is_used_except_by_plain(variant: str, uses: bool) -> None:
    net = _net(variant)
    x = torch.randn(1, 1, 32, 32)
    a = net(x, _ctx(1.0))
    b = net(x, _ctx(3.0, phase_kmax=0.5, uniform_r=2.0))
    if uses:
        assert (a - b).abs().max() > 1e-3
    else:
        assert torch.equal(a, b)


def test_nrf_map_channel_reaches_every_pixel() -> None:
    """With nrf_map the log NRF is an input channel: a network whose modulation ignores the
    context (zeroed MLP head) still answers the NRF; the plain ablation refuses the option."""
    torch.manual_seed(0)
    net = EnhanceNet(EnhanceConfig(nrf_map=True, **SMALL))
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.3)
        net.modulation.mlp[-1].weight.zero_()  # type: ignore[index]
        net.modulation.mlp[-1].bias.zero_()  # type: ignore[index]
    net.eval()
    x = torch.randn(1, 1, 20, 28)
    assert (net(x, _ctx(1.0)) - net(x, _ctx(2.0))).abs().max() > 1e-3
    assert torch.equal(net(x, _ctx(2.0)), net(x, _ctx(2.0, phase_kmax=0.5)))  # only the NRF
    assert net.down[0][0].in_channels == 2  # type: ignore[index]
    with pytest.raises(ValueError, match="plain"):
        EnhanceConfig(variant="plain", nrf_map=True)
    with pytest.raises(ValueError, match="nrf_map"):
        EnhanceConfig.from_dict({"nrf_map": 1})


def test_dynamic_kernels_are_per_sample() -> None:
    """Two samples with different contexts in one batch = each run on its own (the grouped
    convolution must not mix samples' kernels)."""
    net = _net("ce", 7)
    x = torch.randn(2, 7, 24, 40)
    c = torch.cat([_ctx(1.0), _ctx(2.5, freq_kmax=0.6, is_3d=1.0)])
    together = net(x, c)
    alone = torch.cat([net(x[:1], c[:1]), net(x[1:], c[1:])])
    scale = float(together.abs().max())  # random weights: large values, float32 rounding
    assert (together - alone).abs().max() < 1e-5 * scale
    assert (together[0] - net(x[:1], c[1:])[0]).abs().max() > 1e-2 * scale  # contexts differ


def test_parameter_counts_of_defaults() -> None:
    counts = {(v, s): n_parameters(EnhanceNet(EnhanceConfig(variant=v, in_slices=s)))
              for v in ("ce", "film", "plain") for s in (1, 7)}
    assert all(1e5 < n < 2e6 for n in counts.values())
    assert counts["plain", 1] < counts["film", 1] < counts["ce", 1]


def test_checkpoint_round_trip_and_bad_files(tmp_path) -> None:
    net = _net("film", 7)
    path = save_enhance_model(net, tmp_path / "m.pt", {"note": "test", "when": object()})
    back = load_enhance_model(path)
    assert back.config == net.config and back.meta["note"] == "test"  # type: ignore[index]
    x = torch.randn(1, 7, 16, 16)
    assert torch.equal(back(x, _ctx(2.0)), net(x, _ctx(2.0)))

    with pytest.raises(ModelFileError, match="not found"):
        load_enhance_model(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError):
        load_enhance_model(tmp_path / "junk.pt")
    ck = torch.load(path, weights_only=True)
    for change, match in (({"format": "headtwin-recon-cine"}, "not a HeadTwin enhance"),
                          ({"config": {**ck["config"], "width": 10_000}}, "outside"),
                          ({"config": {**ck["config"], "variant": "zz"}}, "bad enhance config"),
                          ({"config": {**ck["config"], "context_size": 3}}, "context of 3"),
                          ({"config": {**ck["config"], "width": 5}}, "do not match"),
                          ({"state_dict": {"a": 1}}, "no tensor weights")):
        torch.save({**ck, **change}, tmp_path / "bad.pt")
        with pytest.raises(ModelFileError, match=match):
            load_enhance_model(tmp_path / "bad.pt")


def test_neighbourhood_repeats_edges() -> None:
    vol = np.arange(4, dtype=np.float32)[:, None, None] * np.ones((1, 2, 2), np.float32)
    assert neighbourhood(vol, 0, 7)[:, 0, 0].tolist() == [0, 0, 0, 0, 1, 2, 3]
    assert neighbourhood(vol, 3, 7)[:, 0, 0].tolist() == [0, 1, 2, 3, 3, 3, 3]


@pytest.mark.parametrize("in_slices", [1, 7])
def test_enhance_iter_progress_shape_and_slices(in_slices: int) -> None:
    net = _net("ce", in_slices)
    vol = np.random.default_rng(0).random((5, 21, 30)).astype(np.float32)
    ctx = Context(nrf=2.0, is_3d=float(in_slices == 7))
    gen = enhance_iter(vol, ctx, net)
    reports = []
    while True:
        try:
            reports.append(next(gen))
            assert not torch.is_inference_mode_enabled()  # never held across a yield
        except StopIteration as stop:
            out = stop.value
            break
    assert out.shape == vol.shape and out.dtype == np.float32
    assert [r.fraction for r in reports] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    # each output slice is the network on that slice's own neighbourhood
    c = torch.from_numpy(ctx.to_vector())[None]
    x = torch.from_numpy(neighbourhood(vol, 4, in_slices))[None]
    with torch.no_grad():
        assert np.allclose(out[4], net(x, c)[0, 0].numpy(), atol=1e-5)


def test_enhance_iter_stops_midway_and_rejects_bad_input() -> None:
    net = _net()
    gen = enhance_iter(np.ones((10, 16, 16), np.float32), Context(), net)
    next(gen)
    next(gen)
    gen.close()  # the GUI's Cancel: nothing left running, torch back to normal
    assert not torch.is_inference_mode_enabled()
    with torch.enable_grad():
        assert torch.ones(1, requires_grad=True).mul(2).requires_grad
    for bad in (np.ones((16, 16)), np.full((2, 8, 8), np.nan), np.ones((2, 8, 8), complex)):
        with pytest.raises(ValueError):
            run_to_end(enhance_iter(bad, Context(), net))
    with pytest.raises(ValueError, match="Context"):
        run_to_end(enhance_iter(np.ones((2, 8, 8)), {"nrf": 1.0}, net))  # type: ignore[arg-type]


def test_train_config_validation() -> None:
    cfg = EnhanceTrainConfig.from_dict({"target_noise_rel": [0.02, 0.03], "model": SMALL})
    assert cfg.target_noise_rel == (0.02, 0.03) and cfg.in_slices == 1
    for bad, match in (({"stepz": 3}, "unknown"), ({"clock": "sun"}, "clock"),
                       ({"patch": 15}, "patch"), ({"target_noise_rel": [0.1]}, "lo, hi"),
                       ({"target_noise_rel": [0.3, 0.1]}, "lo <= hi"),
                       ({"model": {"variant": "x"}}, "variant"), ({"steps": 0}, "steps"),
                       ({"lr_drop_at": 0}, "lr_drop_at"), ({"n_train": 0}, "n_train")):
        with pytest.raises(ValueError, match=match):
            EnhanceTrainConfig.from_dict(bad, where="cfg.json")


def test_examples_2d_and_3d() -> None:
    rng = np.random.default_rng(1)
    cfg = EnhanceTrainConfig(model=SMALL, patch=32)
    x, c, y = make_example(_image(40), cfg, rng)
    assert x.shape == (1, 32, 32) and y.shape == (1, 32, 32) and c.shape == (CONTEXT_SIZE,)
    assert c[-1] == 0  # a 2D context
    x, c, y = make_example(_image(24), cfg, rng)  # smaller than the patch: zero-padded
    assert x.shape == (1, 32, 32) and not x[:, 24:].any()
    cfg7 = EnhanceTrainConfig(model={**SMALL, "in_slices": 7}, patch=16)
    stack = np.stack([_image(24, s) for s in range(11)])
    x, c, y = make_example(stack, cfg7, rng)
    assert x.shape == (7, 16, 16) and y.shape == (1, 16, 16) and c[-1] == 1
    with pytest.raises(ValueError, match="7-slice"):
        run_to_end(train_enhance_steps(cfg7, [_image(24)], [stack]))


def test_axial_stacks() -> None:
    vol = np.zeros((20, 24, 40), np.float32)
    vol[5:15, 6:18, :] = 1.0
    stacks = axial_stacks(vol, depth=16, stride=8)
    assert len(stacks) == 4 and stacks[0].shape == (16, 24, 20)
    assert all(s.max() == 1.0 for s in stacks)
    vol[:, :, :20] = 0
    assert len(axial_stacks(vol, depth=16, stride=8)) < 4  # background stacks skipped


def test_a_few_steps_lower_the_loss(monkeypatch) -> None:
    """24 steps of the 2D ce network on 32² crops of real simulated pairs (one degradation
    family, noise at NRF ≈ 2, so a few steps can learn it): the validation L1 falls below that
    of the input itself (step 0: the untrained network is the identity), and so does training."""
    from headtwin_app.core.enhance import degrade

    monkeypatch.setattr(degrade, "random_degradation",
                        lambda rng, is_3d=False: degrade.Degradation(noise_sigma_rel=2.0))
    train = [_image(40, s) for s in range(4)]
    cfg = EnhanceTrainConfig(model=SMALL, steps=24, batch_size=4, patch=32, lr=3e-3,
                             target_noise_rel=(0.05, 0.05), n_val=2, val_every=12, seed=0)
    gen = train_enhance_steps(cfg, train, [_image(40, 9)])
    reports = []
    while True:
        try:
            reports.append(next(gen))
        except StopIteration as stop:
            net, hist = stop.value
            break
    assert [r.metrics["step"] for r in reports] == [12, 24]
    assert hist["steps"] == 24 and hist["val_step"] == [0, 12, 24]
    assert hist["lr_drop_step"] == 19  # 10/13 of the budget
    assert hist["best_val_loss"] < hist["val_loss"][0]
    losses = hist["train_loss"]
    assert np.mean(losses[-6:]) < np.mean(losses[:6])
    assert not net.training
