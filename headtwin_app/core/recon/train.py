"""Training the cascade: a generator loop that yields (step, train_loss, val_loss) so a GUI can
plot a live curve and cancel between steps, and a `train` helper for the command line.

Data: 2D slices of real MR (the MNI T1 template, all three axes) and synthetic phantom heads
when available; random crops of `patch` pixels, flips/rotations and a random gamma; each batch
gets one mask from a random family at a random R in [accel_min, accel_max]. Inputs are scaled
per slice by the 99th percentile (or max) of the zero-filled magnitude. Loss: MSE or L1 on the
(real, imag) channels plus an optional Sobel edge loss on the magnitude (dynamic-MRI paper,
eq. 2) and an optional 1 − SSIM term on the magnitude (fastMRI-style; it is what teaches the net
to leave empty background exactly empty, which MSE barely notices). Optional "zoom-out"
augmentation shrinks a crop into an empty canvas, so the net sees skull-stripped-like slices
with wide empty surroundings. Validation: a seeded 10 % of the slices, full size, fixed masks.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Generator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from headtwin_app.core.atomic import atomic_write, atomic_write_text
from headtwin_app.core.masks import FAMILY_NAMES
from headtwin_app.core.recon.cascade import CascadeConfig, CascadeNet
from headtwin_app.core.recon.data import recon_mask, slice_scale, training_slices, undersample
from headtwin_app.core.recon.predict import load_cascade, resolve_device, save_checkpoint


@dataclass
class TrainConfig:
    """Everything a training run depends on (stored in the checkpoint's metadata).

    Args:
        model: the architecture (CascadeConfig fields).
        steps: maximum optimiser steps; max_minutes: wall-time budget (whichever comes first).
        batch_size, patch: slices per step and crop side in pixels (0 = whole slices).
        lr: Adam learning rate, cosine-decayed over the budget to lr/50.
        loss: "mse" or "l1"; edge_weight: weight of the Sobel edge loss (0 = off).
        families, accel_min, accel_max: the masks drawn per batch.
        val_fraction, val_every: held-out validation split and how often it is evaluated.
        seed: seeds the split, crops, masks and weights.
        threads: torch CPU threads (0 = leave torch's default).
        include_phantom: add phantom heads to the data when the phantom module is there.
        relative_loss: divide each slice's loss by its target energy (NMSE-like).
        ssim_weight: weight of 1 − SSIM (7×7 window, data range = the target's maximum).
        zoom_out: probability that a crop is shrunk (0.4–0.9×) into an empty canvas.
        init_from: a checkpoint to start from (its architecture replaces `model`).
        bf16: bfloat16 autocast for the convolutions (about 2× faster on CPUs with
            AVX512-BF16); FFTs and data consistency stay in float32.
    """

    model: dict[str, Any] = field(default_factory=lambda: CascadeConfig(5, 5, 24).to_dict())
    steps: int = 2000
    max_minutes: float = 30.0
    batch_size: int = 8
    patch: int = 128
    lr: float = 1e-3
    loss: str = "mse"
    edge_weight: float = 0.1
    families: list[str] = field(default_factory=lambda: list(FAMILY_NAMES))
    accel_min: float = 2.0
    accel_max: float = 10.0
    val_fraction: float = 0.1
    val_every: int = 50
    seed: int = 0
    threads: int = 1
    include_phantom: bool = True
    device: str = "auto"
    relative_loss: bool = True
    ssim_weight: float = 0.0
    zoom_out: float = 0.0
    init_from: str = ""
    bf16: bool = False

    def __post_init__(self) -> None:
        if self.loss not in ("mse", "l1"):
            raise ValueError(f"loss must be 'mse' or 'l1', got {self.loss!r}")
        if not 1.0 <= self.accel_min <= self.accel_max:
            raise ValueError("need 1 <= accel_min <= accel_max")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")
        if self.patch and self.patch < 16:
            raise ValueError(f"patch must be 0 or >= 16, got {self.patch}")
        if self.ssim_weight < 0 or not 0 <= self.zoom_out <= 1:
            raise ValueError("need ssim_weight >= 0 and 0 <= zoom_out <= 1")
        if not self.lr >= 0 or not self.max_minutes > 0 or self.edge_weight < 0:
            raise ValueError("need lr >= 0, max_minutes > 0 and edge_weight >= 0")
        if not 0 < self.val_fraction < 1 or self.val_every < 1 or self.threads < 0:
            raise ValueError("need 0 < val_fraction < 1, val_every >= 1 and threads >= 0")
        if not self.families or any(f not in FAMILY_NAMES for f in self.families):
            raise ValueError(f"families must be a non-empty list of {', '.join(FAMILY_NAMES)}")
        CascadeConfig.from_dict(self.model)  # validates

    @staticmethod
    def from_json(path: str | Path) -> TrainConfig:
        """Read a config file: a JSON object whose keys are TrainConfig fields, each of the
        field's type (a clear error names the first field that is not)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read training config {path}: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a training config is a JSON object {{...}}, got "
                             f"{type(data).__name__}")
        known = set(TrainConfig.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown config key(s) {', '.join(unknown)}")
        defaults = TrainConfig()
        for key, value in data.items():
            _check_field(path, key, value, getattr(defaults, key))
        try:
            return TrainConfig(**data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from None


def _check_field(path: Path, key: str, value: Any, default: Any) -> None:
    """`value` must have the type of the field's default (an int is fine for a float)."""
    want: tuple[type, ...] = (type(default),)
    if isinstance(default, float):
        want = (int, float)
    ok = isinstance(value, want) and not (isinstance(value, bool) and not isinstance(default,
                                                                                       bool))
    if ok and isinstance(value, float) and not math.isfinite(value):
        ok = False
    if ok and isinstance(default, list):
        ok = all(isinstance(v, str) for v in value)
    if not ok:
        kind = {bool: "true/false", int: "a whole number", float: "a number", str: "a string",
                list: "a list of strings", dict: "an object"}.get(type(default), "another type")
        raise ValueError(f"{path}: config field '{key}' must be {kind}, got {value!r}")


class TrainStep(NamedTuple):
    step: int
    train_loss: float
    val_loss: float | None  # None on steps without validation


def sobel_edges(mag: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of (B, H, W) images."""
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], device=mag.device)
    w = torch.stack((kx, kx.T))[:, None]
    g = F.conv2d(mag[:, None], w, padding=1)
    return torch.sqrt(g.pow(2).sum(1) + 1e-8)


def ssim_t(pred: torch.Tensor, target: torch.Tensor, win: int = 7) -> torch.Tensor:
    """Per-image SSIM of (B, H, W) magnitudes as scikit-image computes it (uniform win×win
    window, K1 0.01, K2 0.03, sample covariance, data range = the target's maximum, mean over
    windows fully inside the image); differentiable."""
    dr = target.amax((1, 2)).clamp_min(1e-8)[:, None, None, None]
    x, y = pred[:, None] / dr, target[:, None] / dr
    mean = lambda a: F.avg_pool2d(a, win, stride=1)  # noqa: E731
    mx, my = mean(x), mean(y)
    cov = win * win / (win * win - 1)
    vx, vy = cov * (mean(x * x) - mx * mx), cov * (mean(y * y) - my * my)
    vxy = cov * (mean(x * y) - mx * my)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean((1, 2, 3))


def recon_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "mse",
               edge_weight: float = 0.0, relative: bool = False,
               ssim_weight: float = 0.0) -> torch.Tensor:
    """MSE or L1 on (real, imag), plus `edge_weight`·L1 between Sobel edge maps of magnitudes
    (dynamic-MRI paper, eq. 2). `relative` divides each slice's terms by its target's energy
    (NMSE-like), so a batch whose scale came out small cannot dominate the gradient.
    `ssim_weight` adds that weight times 1 − SSIM of the magnitudes (scale-free already)."""
    d = torch.view_as_real(pred) - torch.view_as_real(target)
    dims = tuple(range(1, d.ndim))
    per = d.pow(2).mean(dims) if kind == "mse" else d.abs().mean(dims)
    if edge_weight > 0:
        edges = sobel_edges(pred.abs()) - sobel_edges(target.abs())
        per = per + edge_weight * edges.abs().mean((1, 2))
    if relative:
        t = target.abs()
        ref = t.pow(2).mean((1, 2)) if kind == "mse" else t.mean((1, 2))
        per = per / ref.clamp_min(1e-6)
    if ssim_weight > 0:
        per = per + ssim_weight * (1 - ssim_t(pred.abs(), target.abs()))
    return per.mean()


def _zoom_out(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`img` shrunk by 0.4–0.9 (area averaging) and placed at random in an empty canvas of
    its own size."""
    h, w = img.shape
    f = rng.uniform(0.4, 0.9)
    nh, nw = max(2, int(h * f)), max(2, int(w * f))
    small = F.interpolate(torch.from_numpy(np.ascontiguousarray(img))[None, None],
                          size=(nh, nw), mode="area")[0, 0].numpy()
    out = np.zeros_like(img)
    y, x = int(rng.integers(h - nh + 1)), int(rng.integers(w - nw + 1))
    out[y:y + nh, x:x + nw] = small
    return out


def _augment(img: np.ndarray, rng: np.random.Generator, patch: int,
             zoom_out: float = 0.0) -> np.ndarray:
    img = np.rot90(img, int(rng.integers(4)))
    if rng.random() < 0.5:
        img = img[:, ::-1]
    img = img ** rng.uniform(0.7, 1.4)
    if patch:
        h, w = img.shape
        if h < patch or w < patch:
            img = np.pad(img, ((0, max(0, patch - h)), (0, max(0, patch - w))))
            h, w = img.shape
        for _ in range(8):  # prefer crops that hold tissue, not only background
            y, x = int(rng.integers(h - patch + 1)), int(rng.integers(w - patch + 1))
            crop = img[y:y + patch, x:x + patch]
            if np.mean(crop > 0.1) > 0.3:
                break
        img = crop
    if zoom_out and rng.random() < zoom_out:
        img = _zoom_out(img, rng)
    return np.ascontiguousarray(img, dtype=np.float32)


def _batch(images: list[np.ndarray]) -> np.ndarray:
    """Stack images, centre-cropped to their common (even) size when whole slices differ."""
    h = min(i.shape[0] for i in images) // 2 * 2
    w = min(i.shape[1] for i in images) // 2 * 2
    out = []
    for im in images:
        y, x = (im.shape[0] - h) // 2, (im.shape[1] - w) // 2
        out.append(im[y:y + h, x:x + w])
    return np.stack(out)


def _draw_mask(family: str, shape: tuple[int, int], accel: float, seed: int) -> np.ndarray:
    """A mask near R = `accel`: line families only reach R = rows / whole number of lines."""
    ny, nx = shape
    for r in (accel, ny / max(1, round(ny / accel)), ny * nx / max(1, round(ny * nx / accel))):
        try:
            return recon_mask(family, shape, r, seed)
        except ValueError:
            continue
    return recon_mask("random_points", shape, accel, seed)


def _tensors(images: np.ndarray, mask: np.ndarray, norm: str, dev: torch.device):
    k0, zf = undersample(images, mask)
    s = slice_scale(zf, norm)[:, None, None]
    to = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(dev)  # noqa: E731
    return (to(zf / s), to(k0 / s), to(mask.astype(np.float32)),
            to((images / s).astype(np.complex64)))


def train_iter(cfg: TrainConfig, slices: np.ndarray | None = None,
               ) -> Generator[TrainStep, None, tuple[CascadeNet, dict[str, Any]]]:
    """Train a cascade; yields a TrainStep per optimiser step (stop any time by closing the
    generator) and returns (model, history) with the losses and timing."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    dev = resolve_device(cfg.device)
    if cfg.init_from:
        model = load_cascade(cfg.init_from, dev).train()
        mcfg = model.config
    else:
        mcfg = CascadeConfig.from_dict(cfg.model)
        model = CascadeNet(mcfg).to(dev)
    data = training_slices(include_phantom=cfg.include_phantom) if slices is None else slices
    if len(data) < 2:
        raise ValueError("training needs at least 2 slices")
    order = rng.permutation(len(data))
    n_val = max(1, int(round(cfg.val_fraction * len(data))))
    val_idx, train_idx = order[:n_val][:8], order[n_val:]
    val_sets = []
    for j, i in enumerate(val_idx):
        img = np.asarray(data[i], np.float32)[None]
        fam = "cartesian" if j % 2 == 0 else cfg.families[j % len(cfg.families)]
        m = _draw_mask(fam, img.shape[-2:], 4.0 if j % 4 < 2 else 8.0, seed=1000 + j)
        val_sets.append(_tensors(img, m, mcfg.normalisation, dev))
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr) if params else None
    hist: dict[str, Any] = {"step": [], "train_loss": [], "val_step": [], "val_loss": []}
    t0 = time.perf_counter()
    budget = cfg.max_minutes * 60.0

    def validate() -> float:
        model.eval()
        with torch.inference_mode():
            v = [recon_loss(model(x, k, m), y, cfg.loss, 0.0, cfg.relative_loss,
                            cfg.ssim_weight).item() for x, k, m, y in val_sets]
        model.train()
        return float(np.mean(v))

    step = 0
    while step < cfg.steps and (time.perf_counter() - t0) < budget:
        step += 1
        frac = max(step / cfg.steps, (time.perf_counter() - t0) / budget)
        imgs = _batch([_augment(np.asarray(data[i], np.float32), rng, cfg.patch, cfg.zoom_out)
                       for i in rng.choice(train_idx, cfg.batch_size)])
        fam = str(rng.choice(cfg.families))
        accel = float(rng.uniform(cfg.accel_min, cfg.accel_max))
        mask = _draw_mask(fam, imgs.shape[-2:], accel, int(rng.integers(1 << 30)))
        x, k0, m, y = _tensors(imgs, mask, mcfg.normalisation, dev)
        if opt is not None:
            for g in opt.param_groups:
                g["lr"] = cfg.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                pred = model(x, k0, m)
            loss = recon_loss(pred, y, cfg.loss, cfg.edge_weight, cfg.relative_loss,
                              cfg.ssim_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            tl = float(loss.item())
        else:
            with torch.inference_mode():
                tl = float(recon_loss(model(x, k0, m), y, cfg.loss, cfg.edge_weight,
                                      cfg.relative_loss, cfg.ssim_weight).item())
        hist["step"].append(step)
        hist["train_loss"].append(tl)
        vl = None
        if step % cfg.val_every == 0 or step == 1:
            vl = validate()
            hist["val_step"].append(step)
            hist["val_loss"].append(vl)
        yield TrainStep(step, tl, vl)
    if not hist["val_step"] or hist["val_step"][-1] != step:
        hist["val_step"].append(step)
        hist["val_loss"].append(validate())
    hist["seconds"] = time.perf_counter() - t0
    hist["steps"] = step
    hist["device"] = str(dev)
    hist["n_train_slices"] = int(len(train_idx))
    hist["n_val_slices"] = int(n_val)
    return model.eval(), hist


def save_loss_curve(hist: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """Train (smoothed) and validation loss against step, as a PNG (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(6, 4))
    tr = np.asarray(hist["train_loss"], float)
    if len(tr):
        k = max(1, len(tr) // 50)
        smooth = np.convolve(tr, np.ones(k) / k, mode="valid")
        ax.plot(hist["step"][k - 1:], smooth, label="train (smoothed)")
    ax.plot(hist["val_step"], hist["val_loss"], "o-", label="validation")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title or "cascade training")
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100))
    plt.close(fig)
    return path


def train(cfg: TrainConfig, out: str | Path, log=print) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Run `train_iter` to the end, save the checkpoint at `out` and its loss curve beside it
    (`out` with suffix .loss.png); returns the history."""
    gen = train_iter(cfg)
    while True:
        try:
            s = next(gen)
        except StopIteration as stop:
            model, hist = stop.value
            break
        if s.val_loss is not None and log is not None:
            log(f"step {s.step}: train {s.train_loss:.5f} val {s.val_loss:.5f}")
    out = Path(out)
    meta = {"train_config": asdict(cfg), "steps": hist["steps"],
            "seconds": round(hist["seconds"], 1), "device": hist["device"],
            "final_val_loss": hist["val_loss"][-1], "torch": torch.__version__}
    save_checkpoint(model, out, meta)
    save_loss_curve(hist, out.with_suffix(".loss.png"), f"{out.name}: {hist['steps']} steps")
    atomic_write_text(out.with_suffix(".history.json"), json.dumps(hist))
    return hist
