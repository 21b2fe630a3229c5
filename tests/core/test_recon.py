"""Reconstruction core: DC layer, cascade, CS baseline, training loop, checkpoints, inference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from headtwin_app.core.fft import fft2c
from headtwin_app.core.metrics import psnr
from headtwin_app.core.recon.cascade import CascadeConfig, CascadeNet
from headtwin_app.core.recon.cs import cs_reconstruct
from headtwin_app.core.recon.data import held_out_images, recon_mask, undersample
from headtwin_app.core.recon.dc import DataConsistency, fft2c_t, ifft2c_t
from headtwin_app.core.recon.predict import (
    DEFAULT_MODEL,
    ModelFileError,
    cascade_reconstruct_iter,
    load_cascade,
    reconstruct,
    save_checkpoint,
)
from headtwin_app.core.recon.train import (
    TrainConfig,
    _zoom_out,
    recon_loss,
    ssim_t,
    train_iter,
)


def _disc_image(n: int = 64) -> np.ndarray:
    """A simple piecewise-constant test image: two discs and a bar."""
    y, x = np.mgrid[:n, :n] - n / 2
    img = (x**2 + y**2 < (0.38 * n) ** 2).astype(np.float32) * 0.6
    img[(x - 6) ** 2 + (y + 4) ** 2 < (0.12 * n) ** 2] = 1.0
    img[int(n * 0.6):int(n * 0.65), n // 4:3 * n // 4] = 0.3
    return img


def _line_mask(n: int, accel: int, seed: int = 0) -> np.ndarray:
    return recon_mask("cartesian", (n, n), accel, seed)


def test_torch_fft_matches_numpy() -> None:
    x = np.random.default_rng(0).standard_normal((2, 16, 12)).astype(np.complex64)
    np.testing.assert_allclose(fft2c_t(torch.from_numpy(x)).numpy(), fft2c(x), atol=1e-4)
    np.testing.assert_allclose(ifft2c_t(fft2c_t(torch.from_numpy(x))).numpy(), x, atol=1e-5)


def test_hard_dc_keeps_sampled_kspace_exactly() -> None:
    rng = np.random.default_rng(1)
    mask = _line_mask(32, 4)
    k0 = (rng.standard_normal((2, 32, 32)) + 1j * rng.standard_normal((2, 32, 32))) * mask
    x = torch.from_numpy(rng.standard_normal((2, 32, 32)).astype(np.complex64))
    dc = DataConsistency(None)
    out = dc(x, torch.from_numpy(k0.astype(np.complex64)), torch.from_numpy(mask))
    k = fft2c_t(out).numpy()
    np.testing.assert_allclose(k[:, mask], k0[:, mask], atol=1e-5)
    # unsampled points are the CNN's own
    np.testing.assert_allclose(k[:, ~mask], fft2c_t(x).numpy()[:, ~mask], atol=1e-5)


def test_soft_dc_blends_with_lambda() -> None:
    mask = np.ones((8, 8), bool)
    k0 = torch.ones(1, 8, 8, dtype=torch.complex64)
    x = torch.zeros(1, 8, 8, dtype=torch.complex64)
    out = DataConsistency(1.0, learnable=False)(x, k0, torch.from_numpy(mask))
    np.testing.assert_allclose(fft2c_t(out).numpy(), 0.5, atol=1e-6)  # (0 + 1·1)/(1+1)
    with pytest.raises(ValueError, match="λ"):
        DataConsistency(-1.0)


def test_zero_cascades_is_zero_filled() -> None:
    img = _disc_image(32)
    mask = _line_mask(32, 4)
    k0, zf = undersample(img, mask)
    model = CascadeNet(CascadeConfig(n_cascades=0))
    out = model(torch.from_numpy(zf[None]), torch.from_numpy(k0[None]), torch.from_numpy(mask))
    np.testing.assert_allclose(out.numpy()[0], zf, atol=1e-5)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="n_convs"):
        CascadeConfig(n_convs=1)
    with pytest.raises(ValueError, match="n_cascades"):
        CascadeConfig(n_cascades=-1)
    with pytest.raises(ValueError, match="loss"):
        TrainConfig(loss="huber")


def test_training_a_few_steps_lowers_the_loss() -> None:
    img = _disc_image(48)
    slices = np.empty(2, dtype=object)
    slices[0], slices[1] = img, img[::-1].copy()
    cfg = TrainConfig(model=CascadeConfig(2, 3, 8).to_dict(), steps=40, max_minutes=5,
                      batch_size=2, patch=0, lr=3e-3, families=["cartesian"], accel_min=4,
                      accel_max=4, val_every=1000, threads=1, include_phantom=False,
                      device="cpu", edge_weight=0.1)
    gen = train_iter(cfg, slices)
    losses = [s.train_loss for s in gen_steps(gen)]
    assert len(losses) == 40
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


def gen_steps(gen):  # type: ignore[no-untyped-def]
    """Drain a training generator, keeping the steps it yields and its returned value."""
    out = []
    while True:
        try:
            out.append(next(gen))
        except StopIteration as stop:
            gen_steps.value = stop.value  # type: ignore[attr-defined]
            return out


def test_ssim_loss_matches_scikit_image() -> None:
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(1)
    gt = rng.random((2, 30, 41))
    rec = np.abs(gt + 0.1 * rng.standard_normal(gt.shape))
    ours = ssim_t(torch.from_numpy(rec), torch.from_numpy(gt)).numpy()
    ref = [structural_similarity(g, r, data_range=g.max()) for g, r in zip(gt, rec, strict=True)]
    assert np.allclose(ours, ref, atol=1e-9)
    x = torch.from_numpy(gt.astype(np.complex64))
    assert recon_loss(x, x, ssim_weight=1.0).item() < 1e-6


def test_zoom_out_leaves_empty_surroundings() -> None:
    img = np.ones((64, 64), np.float32)
    out = _zoom_out(img, np.random.default_rng(0))
    assert out.shape == img.shape and 0.15 < (out > 0).mean() < 0.82
    assert out.max() == pytest.approx(1.0)


def test_fine_tuning_starts_from_the_checkpoint_in_bf16(tmp_path: Path) -> None:
    start = CascadeNet(CascadeConfig(2, 3, 8))
    save_checkpoint(start, tmp_path / "start.pt")
    slices = np.empty(2, dtype=object)
    slices[0], slices[1] = _disc_image(32), _disc_image(32)[::-1].copy()
    cfg = TrainConfig(steps=3, batch_size=2, patch=0, families=["cartesian"], accel_min=4,
                      accel_max=4, include_phantom=False, device="cpu", threads=1, lr=0.0,
                      init_from=str(tmp_path / "start.pt"), bf16=True, ssim_weight=1.0,
                      zoom_out=0.5)
    gen = train_iter(cfg, slices)
    steps = gen_steps(gen)
    model, hist = gen_steps.value  # type: ignore[attr-defined]
    assert len(steps) == 3 and np.isfinite([s.train_loss for s in steps]).all()
    assert model.config == start.config  # the checkpoint's architecture, not the default
    for a, b in zip(start.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.allclose(a, b)  # lr 0: the weights are the checkpoint's


def test_sobel_edge_loss_is_zero_for_equal_images() -> None:
    x = torch.from_numpy(_disc_image(16)[None].astype(np.complex64))
    assert recon_loss(x, x, "l1", edge_weight=1.0).item() < 1e-3
    assert recon_loss(x, 0.5 * x, "mse", edge_weight=1.0).item() > 0


def test_cs_beats_zero_filled_on_a_simple_image() -> None:
    img = _disc_image(64)
    mask = recon_mask("radial", img.shape, 4, 0)
    k0, zf = undersample(img, mask)
    cs = np.abs(cs_reconstruct(k0, mask, n_iter=40))
    assert psnr(img, cs) > psnr(img, np.abs(zf)) + 2.0


def test_cascade_progress_and_batches(tmp_path: Path) -> None:
    model = CascadeNet(CascadeConfig(1, 2, 4)).eval()
    img = np.stack([_disc_image(32)] * 5)
    mask = _line_mask(32, 4)
    k0, _ = undersample(img, mask)
    gen = cascade_reconstruct_iter(k0, mask, model, batch_size=2)
    progress = gen_steps(gen)
    assert progress == [(0, 5), (2, 5), (4, 5), (5, 5)]
    assert gen_steps.value.shape == (5, 32, 32)  # type: ignore[attr-defined]


def test_checkpoint_round_trip_and_errors(tmp_path: Path) -> None:
    model = CascadeNet(CascadeConfig(2, 3, 4, dc_lambda=0.5))
    path = save_checkpoint(model, tmp_path / "m.pt", {"note": "test"})
    loaded = load_cascade(path)
    assert loaded.config == model.config
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ModelFileError, match="not found"):
        load_cascade(tmp_path / "missing.pt")
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelFileError, match="damaged or of another kind"):
        load_cascade(bad)
    torch.save({"something": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match="not a HeadTwin"):
        load_cascade(tmp_path / "other.pt")


@pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="shipped weights not trained yet")
def test_shipped_weights_beat_zero_filled_on_held_out_image() -> None:
    model = load_cascade(DEFAULT_MODEL, "cpu")
    held = [h for h in held_out_images() if h.name.startswith("fsl_mni152_axial")][0].image
    img = held[64:192, 64:192].copy()  # a 128² crop keeps the test quick
    mask = _line_mask(128, 4, seed=3)
    k0, zf = undersample(img, mask)
    rec, _ = reconstruct("cascade", k0, mask, model)
    assert psnr(img, rec) > psnr(img, np.abs(zf)) + 3.0


def test_slices_to_volume_inverts_case_slices() -> None:
    from headtwin_app.core.recon.job import case_slices, slices_to_volume
    from headtwin_app.core.volume import Volume

    image = Volume.from_spacing(np.random.default_rng(0).random((6, 5, 4)).astype(np.float32))
    for dims in (2, 3):
        back = slices_to_volume(case_slices(image.data, dims), dims, image)
        np.testing.assert_array_equal(back.data, image.data)
        np.testing.assert_array_equal(back.affine, image.affine)
    with pytest.raises(ValueError, match="every slice"):
        slices_to_volume(case_slices(image.data, 2, 1), 2, image)
