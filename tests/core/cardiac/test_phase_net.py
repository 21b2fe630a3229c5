"""Phase synthesis (pix2pix): discriminator patch, fg/bg composition, metric weights, training."""

import numpy as np
import pytest
import torch

from headtwin_app.core.cardiac import phase_net as pn
from headtwin_app.core.cardiac.dataset import norm_magnitude, norm_phase
from headtwin_app.core.cardiac.phantom import make_case


@pytest.fixture(scope="module")
def tiny_case():
    return make_case(1, frames=12, slices=1, size=64, snr=0)


def test_discriminator_sees_16x16_patches():
    assert pn.receptive_field() == (16, 2) and pn.PATCH == 16
    disc = pn.PatchDiscriminator(6, 8).eval()
    x = torch.zeros(1, 3, 64, 64, requires_grad=True)
    y = torch.zeros(1, 3, 64, 64)
    out = disc(x, y)
    assert out.shape == (1, 1, 32, 32)
    out[0, 0, 16, 16].backward()  # one interior score: which input pixels reach it?
    grad = x.grad.abs().sum(dim=(0, 1))
    rows, cols = np.nonzero(grad.numpy())
    assert rows.max() - rows.min() + 1 == 16 and cols.max() - cols.min() + 1 == 16


def test_triplets_wrap_periodically():
    m = np.arange(2 * 2 * 1 * 4, dtype=np.float32).reshape(2, 2, 1, 4)
    t = pn.magnitude_triplets(m)
    assert t.shape == (4, 3, 2, 2)
    np.testing.assert_array_equal(t[0, 0], m[:, :, 0, 3])  # frame 0's predecessor is the last
    np.testing.assert_array_equal(t[3, 2], m[:, :, 0, 0])
    p = np.random.default_rng(0).normal(size=(5, 6, 2, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(pn.unstack_phase(pn.phase_stack(p), 2, 3), p)


def test_wider_frame_offsets_pick_the_frames_they_name():
    m = np.arange(2 * 2 * 1 * 6, dtype=np.float32).reshape(2, 2, 1, 6)
    t = pn.magnitude_triplets(m, (-2, 0, 3))
    assert t.shape == (6, 3, 2, 2)
    np.testing.assert_array_equal(t[1, 0], m[:, :, 0, 5])  # frame 1 − 2 wraps to 5
    np.testing.assert_array_equal(t[1, 1], m[:, :, 0, 1])
    np.testing.assert_array_equal(t[4, 2], m[:, :, 0, 1])  # frame 4 + 3 wraps to 1
    cfg = pn.PhaseConfig(frame_offsets=[-2, 0, 3])
    assert cfg.frame_offsets == (-2, 0, 3) and cfg.centre == 1
    assert pn.make_generator(cfg)(torch.zeros(1, 3, 16, 16)).shape == (1, 3, 16, 16)
    with pytest.raises(ValueError, match="include 0"):
        pn.PhaseConfig(frame_offsets=(-1, 1))


def test_cycle_maps_are_sin_cos_of_the_frame_after_the_magnitude_frames():
    m = np.random.default_rng(0).uniform(-1, 1, (8, 8, 2, 10)).astype(np.float32)
    cfg = pn.PhaseConfig(frame_offsets=(-1, 0, 1), cycle_maps=True)
    x = pn.network_input(m, cfg)
    assert x.shape == (20, 5, 8, 8) and cfg.in_channels == 5
    np.testing.assert_array_equal(x[:, :3], pn.magnitude_triplets(m))
    for i in (0, 3, 13):  # slice-major: sample i is frame i % 10
        angle = 2 * np.pi * (i % 10) / 10
        np.testing.assert_allclose(x[i, 3], np.sin(angle), atol=1e-6)
        np.testing.assert_allclose(x[i, 4], np.cos(angle), atol=1e-6)
    assert pn.network_input(m, pn.PhaseConfig()).shape == (20, 3, 8, 8)


def test_compose_fgbg_draws_background_from_the_stored_gaussian():
    rng = np.random.default_rng(1)
    gen = np.full((4, 3, 64, 64), 0.5, np.float32)
    fg = np.zeros((4, 64, 64), bool)
    fg[:, :, :32] = True
    out = pn.compose_fgbg(gen, fg, [-0.2, 0.0, 0.3], [0.05, 0.1, 0.2], rng)
    assert np.all(out.transpose(0, 2, 3, 1)[fg] == 0.5)
    bg = out.transpose(0, 2, 3, 1)[~fg]
    np.testing.assert_allclose(bg.mean(axis=0), [-0.2, 0.0, 0.3], atol=0.01)
    np.testing.assert_allclose(bg.std(axis=0), [0.05, 0.1, 0.2], rtol=0.05)


def test_synthesised_case_has_generator_foreground_and_gaussian_background(tiny_case, tmp_path):
    cfg = pn.PhaseConfig(base=4, depth=2, crop=32, pad_crop=48, batch=2)
    model = pn.PhaseModel(pn.make_generator(cfg).eval(), cfg,
                          {"mean": [0.4, -0.4, 0.0], "sd": [0.02, 0.02, 0.02]}, "fgbg")
    mag = tiny_case.magnitude.copy()
    mag[:20] = 0.0  # a band of background (no signal)
    phase = pn.synthesize_case(tiny_case, model=model, magnitude=mag)
    assert phase.shape == tiny_case.phase.shape
    scaled = norm_phase(phase)
    trip = pn.magnitude_triplets(norm_magnitude(mag))
    fg = pn.foreground(trip[:, 1])
    with torch.inference_mode():
        raw = np.clip(model.generator(torch.from_numpy(trip)).numpy(), -1, 1)
    stack = pn.phase_stack(scaled)
    np.testing.assert_allclose(stack.transpose(0, 2, 3, 1)[fg],
                               raw.transpose(0, 2, 3, 1)[fg], atol=1e-5)
    bg = stack.transpose(0, 2, 3, 1)[~fg]
    assert len(bg) >= 20 * 64 * 12
    np.testing.assert_allclose(bg.mean(axis=0), [0.4, -0.4, 0.0], atol=0.005)
    np.testing.assert_allclose(bg.std(axis=0), [0.02] * 3, rtol=0.1)


def test_background_stats_of_training_cases(tiny_case):
    st = pn.background_stats([tiny_case])
    bg = ~pn.foreground(norm_magnitude(tiny_case.magnitude))
    v = norm_phase(tiny_case.phase)[bg]
    np.testing.assert_allclose(st["mean"], v.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(st["sd"], v.std(axis=0), atol=1e-6)


def test_metric_weights_and_values():
    shape = (16, 16, 1, 2)
    mag = np.zeros(shape, np.float32)
    mag[4:12, 4:12] = 1.0  # foreground square
    lv = np.zeros(shape, np.uint8)
    lv[6:8, 6:8] = 1
    w1, w2 = pn.weight_maps(norm_magnitude(mag), lv)
    assert set(np.unique(w1)) == {0.1, 1.0} and w1[6, 6, 0, 0] == 1.0 and w1[0, 0, 0, 0] == 0.1
    assert w2[5, 5, 0, 0] == 1.0 and w2[0, 0, 0, 0] == 0.1
    truth = np.zeros(shape + (3,), np.float32)
    synth = truth.copy()
    synth[0, 0, 0, 0, 0] = 0.5 * np.pi  # one background error of 0.5 (scaled)
    synth[6, 6, 0, 0, 1] = 0.2 * np.pi  # one myocardium error of 0.2
    m = pn.phase_metrics(truth, synth, mag, lv)
    n = truth.size
    assert m["mse"] == pytest.approx((0.25 + 0.04) / n)
    assert m["msew1"] == pytest.approx((0.1 * 0.25 + 0.04) / n)
    assert m["msew2"] == pytest.approx((0.1 * 0.25 + 0.04) / n)
    assert m["psnr"] == pytest.approx(10 * np.log10(4 / m["mse"]))
    assert 0 < m["ssim"] < 1


def test_one_training_step_lowers_the_generator_loss(tiny_case):
    cfg = pn.PhaseConfig(base=4, depth=2, batch=4, lr_g=1e-3)
    model = pn.Pix2Pix(cfg, seed=0)
    s = pn._samples([tiny_case], 64)
    x, y, fg = s.x[:4], s.y[:4], s.fg[:4]

    def g_loss() -> float:
        with torch.no_grad():
            fake = model.gen(x)
            gan = ((model.disc(x, model._d_view(fake, fg)) - 1) ** 2).mean()
            w = pn.l1_weights(fg, torch.zeros_like(fg), cfg)
            return float(gan + cfg.lambda_l1 * pn._l1(fake, y, w))

    model.gen.train()
    model.disc.train()
    before = g_loss()
    model.step(x, y, fg)
    assert g_loss() < before


def test_train_phase_writes_checkpoint_and_curves(tiny_case, tmp_path):
    from headtwin_app.core.cardiac.store import save_case

    d = tmp_path / "case"
    save_case(tiny_case, d)
    cfg = pn.PhaseConfig(base=4, depth=2, batch=2, crop=32, pad_crop=48)
    out = tmp_path / "phase.pt"
    summary = pn.train_phase([d], out, minutes=1.0, scheme="vanilla", config=cfg, max_steps=2)
    assert summary["steps"] == 2 and out.is_file()
    assert (tmp_path / "phase.train.json").is_file()
    model = pn.load_phase(out)
    assert model.scheme == "vanilla" and model.config.base == 4
    assert len(model.background["mean"]) == 3
    again = pn.train_phase([d], tmp_path / "more.pt", minutes=1.0, scheme="vanilla",
                           max_steps=1, init_from=out)
    assert again["config"]["base"] == 4 and again["init_from"] == str(out)


def test_a_wide_context_model_trains_saves_and_synthesises(tiny_case, tmp_path):
    from headtwin_app.core.cardiac.store import save_case

    d = tmp_path / "case"
    save_case(tiny_case, d)
    cfg = pn.PhaseConfig(base=4, depth=2, batch=2, crop=32, pad_crop=48,
                         frame_offsets=(-2, -1, 0, 1, 2), myo_weight=5, augment=True,
                         cycle_maps=True)
    out = tmp_path / "wide.pt"
    pn.train_phase([d], out, minutes=1.0, scheme="fgbg", config=cfg, max_steps=2)
    model = pn.load_phase(out)
    assert model.config.frame_offsets == (-2, -1, 0, 1, 2) and model.config.augment
    assert model.config.cycle_maps and model.config.in_channels == 7
    phase = pn.synthesize_case(tiny_case, model=model)
    assert phase.shape == tiny_case.phase.shape and np.isfinite(phase).all()


def test_a_synthesis_abandoned_at_a_yield_leaves_gradients_on(tiny_case):
    """A job cancelled at a progress report must not leave its worker thread in inference mode
    (grad mode is per thread: the recon training dialog then failed on a reused pool thread)."""
    cfg = pn.PhaseConfig(base=4, depth=2, crop=32, pad_crop=48, batch=2)
    model = pn.PhaseModel(pn.make_generator(cfg).eval(), cfg,
                          {"mean": [0.0] * 3, "sd": [0.1] * 3}, "fgbg")
    steps = pn.synthesize_steps(tiny_case, model=model, batch=2)
    next(steps)
    next(steps)  # suspended after the first batch, as a cancelled job is
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    del steps


def test_l1_weights_follow_scheme_and_myocardium_weight():
    fg = torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])
    myo = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    w = pn.l1_weights(fg, myo, pn.PhaseConfig(scheme="fgbg", myo_weight=10))
    assert w.flatten().tolist() == [10.0, 0.0, 1.0, 1.0]
    w = pn.l1_weights(fg, myo, pn.PhaseConfig(scheme="vanilla"))
    assert w.flatten().tolist() == [1.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("seed", range(12))
def test_augmentation_keeps_phase_a_velocity_of_the_moved_grid(seed):
    """A field v(p) = A (p − c) about the grid centre; any rotation of the grid must give
    the field of the mapped matrix, M A Mᵀ — checked for an expansion plus a rotation plus a
    shear, so sign and swap errors show. Through-plane is moved, never negated."""
    n = 6
    c = (n - 1) / 2
    px, py = np.meshgrid(np.arange(n) - c, np.arange(n) - c, indexing="ij")
    a = np.array([[0.3, -0.7], [0.2, 0.5]])
    v = np.stack([a[0, 0] * px + a[0, 1] * py, a[1, 0] * px + a[1, 1] * py, px + 2 * py])
    y = torch.tensor(v[None], dtype=torch.float32)
    x = y.clone()
    mask = torch.tensor(px[None, None] > 0, dtype=torch.float32)
    rng = np.random.default_rng(seed)
    flips = np.random.default_rng(seed).integers(0, 2, 2)
    xa, ya, (ma,) = pn.augment_batch(x, y, [mask], rng)
    m = np.diag([-1.0 if flips[0] else 1.0, -1.0 if flips[1] else 1.0])
    if flips[0] != flips[1]:
        m = np.array([[0.0, 1.0], [1.0, 0.0]]) @ m
    assert np.linalg.det(m) == pytest.approx(1.0)  # a rotation: the twist keeps its sense
    b = m @ a @ m.T
    # the new grid's point q is the old point mᵀ q
    qx, qy = px, py
    ox, oy = (m.T[0, 0] * qx + m.T[0, 1] * qy), (m.T[1, 0] * qx + m.T[1, 1] * qy)
    want = np.stack([b[0, 0] * qx + b[0, 1] * qy, b[1, 0] * qx + b[1, 1] * qy, ox + 2 * oy])
    np.testing.assert_allclose(ya[0].numpy(), want, atol=1e-6)
    np.testing.assert_allclose(ma[0, 0].numpy(), (ox > 0).astype(np.float32))
    np.testing.assert_allclose(xa[0, 2].numpy(), want[2], atol=1e-6)  # input moved alike


def test_training_seeds_grow_from_1000_and_never_reach_validation():
    from headtwin_app.core.cardiac import dataset

    assert dataset.train_seeds(16) == dataset.SEEDS_TRAIN
    assert max(dataset.train_seeds(dataset.MAX_TRAIN_SUBJECTS)) < min(dataset.SEEDS_VAL)
    with pytest.raises(ValueError):
        dataset.train_seeds(dataset.MAX_TRAIN_SUBJECTS + 1)


def test_curve_selection_keeps_the_checkpoint_with_the_best_worst_direction_r(tiny_case,
                                                                                 tmp_path):
    from headtwin_app.core.cardiac.store import save_case

    d = tmp_path / "case"
    save_case(tiny_case, d)
    cfg = pn.PhaseConfig(base=4, depth=2, batch=2, crop=32, pad_crop=48, select="curve_r",
                         curve_every=100)
    out = tmp_path / "sel.pt"
    summary = pn.train_phase([d], out, minutes=2.0, scheme="vanilla", config=cfg,
                             max_steps=120, val_dirs=[d])
    v = summary["val_curves"]
    assert v["curve_step"] == [100, 120]  # every `curve_every` validation steps and the end
    assert summary["selection"] == "curve_r"
    best = int(np.argmax(v["curve_r_min"]))
    assert summary["best_step"] == v["curve_step"][best]
    assert summary["best_val_curve_r_min"] == pytest.approx(v["curve_r_min"][best])
    model = pn.load_phase(out)
    r = pn.curve_agreement(tiny_case, pn.synthesize_case(tiny_case, model=model))
    assert pn.curve_score(model, [tiny_case]) == pytest.approx(
        min(r["r_vs_true_phase"].values()))
    with pytest.raises(ValueError, match="select"):
        pn.PhaseConfig(select="psnr")


def test_shipped_models_use_the_wide_context_recipe():
    for scheme in pn.SCHEMES:
        model = pn.load_phase(scheme=scheme)
        assert model.scheme == scheme
        assert model.config.frame_offsets == (-6, -3, -1, 0, 1, 3, 6)
        assert model.config.myo_weight == 10 and model.config.augment


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_phase_training_runs_on_the_gpu(tiny_case, tmp_path):
    from headtwin_app.core.cardiac.store import save_case

    d = tmp_path / "case"
    save_case(tiny_case, d)
    cfg = pn.PhaseConfig(base=4, depth=2, batch=2, crop=32, pad_crop=48, augment=True)
    summary = pn.train_phase([d], tmp_path / "g.pt", minutes=1.0, config=cfg, max_steps=3,
                             device="cuda")
    assert summary["device"].startswith("cuda") and pn.load_phase(tmp_path / "g.pt")
