"""Temporal interpolation: the plan, the baselines against exact answers, the metrics' definitions,
and the network (shapes, start at linear interpolation, one training step lowers the loss)."""

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from headtwin_app.core.cardiac.interp import (
    dice,
    downsample_indices,
    frame_metrics,
    horn_schunck,
    hs_interpolate,
    interp_plan,
    linear_interpolate,
    omega1,
    omega2,
)
from headtwin_app.core.cardiac.interp_net import (
    InterpConfig,
    InterpNet,
    _batch,
    _sample,
    _subjects,
    interp_loss,
    interpolate_case,
    load_interp,
    train_interp,
)


@pytest.fixture(scope="module")
def tiny_case():
    from headtwin_app.core.cardiac.phantom import make_case

    return make_case(1, frames=14, slices=1, size=64, snr=0)


def test_downsample_keeps_every_k_plus_1th_frame():
    assert downsample_indices(50, 6).tolist() == [0, 7, 14, 21, 28, 35, 42, 49]
    assert downsample_indices(10, 1).tolist() == [0, 2, 4, 6, 8]
    with pytest.raises(ValueError):
        downsample_indices(10, -1)


def test_plan_wraps_periodically_after_the_last_kept_frame():
    gaps = interp_plan(11, 2)  # kept 0, 3, 6, 9
    assert [g.t for g in gaps] == [1, 2, 4, 5, 7, 8, 10]
    g = gaps[0]
    assert (g.start, g.end, g.k, g.span, g.fraction) == (0, 3, 1, 3, 1 / 3)
    last = gaps[-1]  # frame 10 lies between frame 9 and frame 0 of the next beat
    assert (last.start, last.end, last.k, last.span) == (9, 0, 1, 2)
    # when K + 1 divides T the wrap is the paper's M_{tau+K+1-T} = frame 0
    g50 = interp_plan(50, 4)
    assert len(g50) == 40 and g50[-1].t == 49 and (g50[-1].start, g50[-1].end) == (45, 0)
    assert all(g.span == 5 for g in g50)


def test_linear_interpolation_is_exact_on_a_linear_ramp():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 16, 16))
    frames = [a + b * t for t in range(5)]  # K = 3 between frames 0 and 4
    s0 = np.ones((16, 16), np.uint8)
    s1 = np.full((16, 16), 2, np.uint8)
    for k in (1, 2, 3):
        m, lab = linear_interpolate(frames[0], frames[4], s0, s1, k / 4)
        np.testing.assert_allclose(m, frames[k], rtol=1e-5, atol=1e-5)
        assert np.all(lab == (1 if k == 1 else 2 if k == 3 else 1))  # tie at k=2: lower label


def test_horn_schunck_recovers_a_small_translation():
    x, y = np.meshgrid(np.arange(64), np.arange(64), indexing="ij")
    i0 = sum(np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s ** 2))
             for cx, cy, s in [(30, 28, 6), (20, 44, 4), (44, 40, 5)])
    d = (0.7, -0.5)
    i1 = ndimage.shift(i0, d, order=3, mode="nearest")  # i1(x + d) = i0(x)
    u, v = horn_schunck(i0, i1, alpha=0.02, iterations=200)
    region = i0 > 0.3
    assert abs(np.median(u[region]) - d[0]) < 0.1
    assert abs(np.median(v[region]) - d[1]) < 0.1


def test_hs_interpolation_beats_linear_on_a_moving_blob():
    x, y = np.meshgrid(np.arange(48), np.arange(48), indexing="ij")

    def blob(cx):
        return np.exp(-((x - cx) ** 2 + (y - 24) ** 2) / (2 * 4.0 ** 2))

    m0, m1, mid = blob(20), blob(24), blob(22)
    s0, s1, smid = ((b > 0.5).astype(np.uint8) for b in (m0, m1, mid))
    mh, sh = hs_interpolate(m0, m1, s0, s1, 0.5)
    ml, sl = linear_interpolate(m0, m1, s0, s1, 0.5)
    assert np.abs(mh - mid).mean() < 0.5 * np.abs(ml - mid).mean()
    assert dice(sh == 1, smid == 1) > 0.9


def test_metric_definitions():
    gt = np.full((32, 32), -1.0)
    mask = np.zeros((32, 32), np.uint8)
    mask[8:16, 8:16] = 1  # myocardium, 64 px
    mask[16:20, 8:16] = 2
    gt[4:24, 4:24] = 0.5  # foreground 400 px
    pred = gt + 0.1
    m = frame_metrics(gt, pred, mask, mask)
    assert m["mse"] == pytest.approx(0.01)
    assert m["msew1"] == pytest.approx(0.01 * (64 + 0.1 * (1024 - 64)) / 1024)
    assert m["msew2"] == pytest.approx(0.01 * (400 + 0.1 * (1024 - 400)) / 1024)
    assert m["psnr"] == pytest.approx(10 * math.log10(4 / 0.01))
    assert m["dice"] == 1.0 and m["dice_lv"] == 1.0
    np.testing.assert_allclose(omega1(mask), np.where(mask == 1, 1.0, 0.1), rtol=1e-6)
    np.testing.assert_allclose(omega2(gt), np.where(gt > -0.95, 1.0, 0.1), rtol=1e-6)
    shifted = np.roll(mask, 4, axis=0)  # myocardium overlaps by half
    m2 = frame_metrics(gt, gt, mask, shifted)
    assert m2["dice"] == pytest.approx(0.5) and m2["mse"] == 0 and math.isinf(m2["psnr"])
    assert m2["ssim"] == pytest.approx(1.0)
    assert dice(np.zeros(3, bool), np.zeros(3, bool)) == 1.0


def test_net_shapes_and_start_at_linear_interpolation():
    net = InterpNet(base=4, depth=2, t=1).eval()
    m0, m1 = torch.randn(2, 2, 1, 16, 16)
    s0 = torch.zeros(2, 2, 16, 16)
    s1 = torch.zeros(2, 2, 16, 16)
    s0[:, 0, 4:8] = 1
    s1[:, 1, 4:8] = 1
    f = torch.tensor([0.25, 0.5])
    mag, logits = net(m0, m1, s0, s1, f, torch.tensor([0.0, 0.5]))
    assert mag.shape == (2, 1, 16, 16) and logits.shape == (2, 3, 16, 16)
    lin = (1 - f.view(2, 1, 1, 1)) * m0 + f.view(2, 1, 1, 1) * m1
    torch.testing.assert_close(mag, lin)  # zero-initialised tails: exactly eq. 2 at the start
    with pytest.raises(ValueError):
        net(m0[..., :15, :15], m1[..., :15, :15], s0[..., :15, :15], s1[..., :15, :15], f, f)


def test_one_training_step_lowers_the_loss():
    # a noisy case: on a noise-free one, eq. 2 is exact on the still background, where any
    # first step away from the zero-initialised tails raises the L1 loss
    from headtwin_app.core.cardiac.phantom import make_case

    noisy = make_case(2, frames=14, slices=1, size=64, snr=20)
    torch.manual_seed(0)
    cfg = InterpConfig(base=4, depth=2, t=1, crop=32, batch=4)
    net = InterpNet(cfg.base, cfg.depth, cfg.t)
    b = _batch([_sample(_subjects([noisy])[0], np.random.default_rng(i), cfg.crop, 6)
                for i in range(cfg.batch)])
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)

    def loss_now():
        mag, logits = net(b["m0"], b["m1"], b["s0"], b["s1"], b["f"], b["phase"])
        return interp_loss(mag, logits, b["mt"], b["st"])[0]

    net.train()
    first = loss_now()
    opt.zero_grad()
    first.backward()
    opt.step()
    with torch.no_grad():
        assert float(loss_now()) < float(first)


def test_interpolate_case_with_each_method(tiny_case, tmp_path):
    from headtwin_app.core.cardiac.store import save_case

    case_dir = tmp_path / "case"
    save_case(tiny_case, case_dir)
    model = tmp_path / "m.pt"
    summary = train_interp([case_dir], model, 5.0, val_dirs=[case_dir], max_steps=2,
                           config=InterpConfig(base=4, depth=2, t=1, crop=32, batch=2,
                                               val_every=1))
    assert summary["steps"] == 2 and (tmp_path / "m.train.json").is_file()
    assert load_interp(model).config.base == 4
    kept = downsample_indices(14, 2)
    for method in ("linear", "hs", "net"):
        mag, lab, met = interpolate_case(tiny_case, 2, method, model)
        assert mag.shape == tiny_case.magnitude.shape and lab.shape == tiny_case.lv_mask.shape
        np.testing.assert_array_equal(mag[..., kept], tiny_case.magnitude[..., kept])
        np.testing.assert_array_equal(lab[..., kept], tiny_case.lv_mask[..., kept])
        assert met["n_frames"] == 14 - len(kept) and met["kept_frames"] == kept.tolist()
        assert 0.5 < met["dice"] <= 1.0 and met["mse"] < 0.05
    with pytest.raises(ValueError, match="method"):
        interpolate_case(tiny_case, 2, "cubic")
