"""Phase image synthesis: pix2pix from magnitude frames t−1, t, t+1 (HDL paper §III-B, §IV-B).

The generator is an R2U-Net (`r2unet.R2UNet`) mapping the scaled magnitude frames t−1, t, t+1
(periodic: frame 0's predecessor is the last frame) to the three phase images (in-plane x, y,
through-plane) scaled φ / π ∈ [−1, 1]. The discriminator is a PatchGAN of four convolution
blocks on the (input, output) pair whose every output score sees a 16 × 16 pixel patch (see
`PatchDiscriminator`). Losses as in the authors' code: least-squares GAN (LSGAN) + λ = 100 × L1.

Two schemes:
- `fgbg` (the paper's foreground/background generation): foreground = scaled magnitude of the
  centre frame > −0.95 (`dataset.BACKGROUND`). The generator's L1 (and what the discriminator
  sees) is restricted to foreground pixels; background phase pixels are drawn per pixel from a
  Gaussian whose mean and standard deviation (per component) were estimated from the training
  set's background phase and are stored in the checkpoint (paper Fig. 4).
- `vanilla`: one generator for all pixels, L1 on the whole image.

Beyond the paper (`PhaseConfig`, off by default; the shipped models use them, see their card):
more input frames (`frame_offsets`, e.g. t−4 … t+4: at 50 frames per R-R the wall moves a fifth
of a pixel per frame, too little to read from t ± 1 alone), a myocardium weight in the L1
(`myo_weight`) and flip/transpose augmentation that moves the velocity components with the grid.

Metrics (paper Table I) are on the scaled phase φ / π with data range 2 (values in [−1, 1]):
MSE, MSEW1 = mean(ω1 · e²) with ω1 = 1 in the myocardium and 0.1 elsewhere, MSEW2 = mean(ω2 · e²)
with ω2 = 1 where the scaled magnitude > −0.95 and 0.1 elsewhere, PSNR = 10 log10(2² / MSE) and
the mean 2D SSIM (scikit-image, 7-pixel window, data_range 2) over slices, frames, components.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from headtwin_app.core.cardiac.dataset import BACKGROUND, crop_box, norm_magnitude, norm_phase
from headtwin_app.core.cardiac.phantom import CardiacCase
from headtwin_app.core.cardiac.r2unet import R2UNet
from headtwin_app.core.seg.backend import Progress

SCHEMES = ("fgbg", "vanilla")
FORMAT = "headtwin-cardiac-phase-1"
LAMBDA_L1 = 100.0
W_OTHER = 0.1  # ω weight outside the highlighted region (paper Fig. 3)
DATA_RANGE = 2.0  # scaled phase lies in [−1, 1]
MODELS_DIR = Path(__file__).resolve().parents[3] / "models"
DEFAULT_MODELS = {"fgbg": MODELS_DIR / "cardiac_phase.pt",
                  "vanilla": MODELS_DIR / "cardiac_phase_vanilla.pt"}

SELECTIONS = ("mse_myo", "curve_r")

# PatchGAN blocks (kernel, stride): receptive field 4 + 3 · (3 − 1) · 2 = 16 px, stride 2.
D_BLOCKS = ((4, 2), (3, 1), (3, 1), (3, 1))
PATCH = 16


@dataclass
class PhaseConfig:
    scheme: str = "fgbg"
    base: int = 8
    depth: int = 3
    t: int = 1
    crop: int = 48  # training patch (random window inside an LV-centred `pad_crop` box)
    pad_crop: int = 80
    batch: int = 8
    lr_g: float = 2e-3
    lr_d: float = 2e-4
    lambda_l1: float = LAMBDA_L1
    d_base: int = 16
    # Not in the paper (added after the first models synthesised ~10× too small velocities):
    # the L1 weight of myocardium pixels (1 = the paper's plain L1) and random flips/transposes
    # of each batch (rotations by 90°) with the in-plane velocity components moved to match.
    myo_weight: float = 1.0
    augment: bool = False
    # Input frames relative to t (the paper: t−1, t, t+1). Wider offsets see more wall motion.
    frame_offsets: tuple[int, ...] = (-1, 0, 1)
    # Checkpoint selection on the validation subjects: "mse_myo" (least squared error in the
    # myocardium) or "curve_r" (the velocity curves of whole synthesised validation cases: the
    # highest worst-direction Pearson r, averaged over cases; checked every `curve_every` steps).
    select: str = "mse_myo"
    curve_every: int = 500
    # Not in the paper's phase synthesis: two constant input maps sin, cos of the cycle phase
    # 2π·frame/frames (frame 0 = the R wave), a temporal condition like the condition maps of
    # the paper's interpolation network: twist and through-plane motion do not show in the
    # magnitude of one slice, but they follow the cycle.
    cycle_maps: bool = False

    def __post_init__(self) -> None:
        self.frame_offsets = tuple(int(o) for o in self.frame_offsets)
        if 0 not in self.frame_offsets:
            raise ValueError("frame_offsets must include 0 (the frame whose phase is made)")
        if self.select not in SELECTIONS:
            raise ValueError(f"select must be one of {', '.join(SELECTIONS)}, got {self.select}")

    @property
    def centre(self) -> int:
        """Input channel of frame t."""
        return self.frame_offsets.index(0)

    @property
    def in_channels(self) -> int:
        return len(self.frame_offsets) + (2 if self.cycle_maps else 0)


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of: {', '.join(SCHEMES)}")


# --------------------------------------------------------------------------- networks


class PatchDiscriminator(nn.Module):
    """PatchGAN on (magnitude triplet, phase) pairs: four conv blocks (4×4 stride 2, then three
    3×3 stride 1; LeakyReLU 0.2, batch norm from the second) and a 1×1 score head. Receptive field
    16 × 16 px, output stride 2: a 64² input gives a 32 × 32 map of patch scores."""

    def __init__(self, in_ch: int = 6, base: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch = in_ch
        for i, (k, s) in enumerate(D_BLOCKS):
            out = base * min(2 ** i, 4)
            layers.append(nn.Conv2d(ch, out, k, stride=s, padding=1))
            if i:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            ch = out
        layers.append(nn.Conv2d(ch, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, y], dim=1))


def receptive_field(blocks: Sequence[tuple[int, int]] = D_BLOCKS) -> tuple[int, int]:
    """(receptive field, stride) in pixels of a stack of (kernel, stride) convolutions."""
    r, j = 1, 1
    for k, s in blocks:
        r += (k - 1) * j
        j *= s
    return r, j


def make_generator(cfg: PhaseConfig) -> R2UNet:
    return R2UNet(cfg.in_channels, 3, base=cfg.base, depth=cfg.depth, t=cfg.t)


# --------------------------------------------------------------------------- data


def magnitude_triplets(scaled_mag: np.ndarray, offsets: Sequence[int] = (-1, 0, 1)
                       ) -> np.ndarray:
    """(x, y, slice, frame) scaled magnitude → (slice · frame, len(offsets), x, y): frames
    t + o for each offset o (periodic; the paper's t−1, t, t+1 by default), slice-major."""
    m = np.asarray(scaled_mag, np.float32)
    if m.ndim != 4:
        raise ValueError(f"magnitude must be (x, y, slice, frame), got shape {m.shape}")
    trip = np.stack([np.roll(m, -o, axis=3) for o in offsets], axis=0)  # n,x,y,s,f
    return np.ascontiguousarray(trip.transpose(3, 4, 0, 1, 2)
                                .reshape(-1, len(offsets), *m.shape[:2]))


def network_input(scaled_mag: np.ndarray, cfg: PhaseConfig) -> np.ndarray:
    """The generator's input (slice · frame, cfg.in_channels, x, y): the magnitude frames of
    `cfg.frame_offsets`, then, with `cfg.cycle_maps`, sin and cos of 2π·frame/frames."""
    x = magnitude_triplets(scaled_mag, cfg.frame_offsets)
    if not cfg.cycle_maps:
        return x
    frames = scaled_mag.shape[3]
    angle = 2 * np.pi * (np.arange(len(x)) % frames) / frames  # slice-major samples
    maps = np.stack([np.sin(angle), np.cos(angle)], axis=1).astype(np.float32)
    maps = np.broadcast_to(maps[:, :, None, None], (len(x), 2, *x.shape[2:]))
    return np.concatenate([x, maps], axis=1)


def phase_stack(scaled_phase: np.ndarray) -> np.ndarray:
    """(x, y, slice, frame, 3) → (slice · frame, 3, x, y), slice-major."""
    p = np.asarray(scaled_phase, np.float32)
    if p.ndim != 5 or p.shape[-1] != 3:
        raise ValueError(f"phase must be (x, y, slice, frame, 3), got shape {p.shape}")
    return np.ascontiguousarray(p.transpose(2, 3, 4, 0, 1).reshape(-1, 3, *p.shape[:2]))


def unstack_phase(stack: np.ndarray, slices: int, frames: int) -> np.ndarray:
    """Inverse of `phase_stack`."""
    n, c, nx, ny = stack.shape
    return np.ascontiguousarray(stack.reshape(slices, frames, c, nx, ny).transpose(3, 4, 0, 1, 2))


def foreground(scaled_mag: np.ndarray) -> np.ndarray:
    """Foreground pixels: scaled magnitude > −0.95 (paper §III-B)."""
    return np.asarray(scaled_mag) > BACKGROUND


def background_stats(cases: Sequence[CardiacCase]) -> dict[str, list[float]]:
    """Mean and standard deviation per component of the scaled phase φ/π on background pixels
    (scaled magnitude ≤ −0.95) of the given (training) cases."""
    vals: list[np.ndarray] = []
    for c in cases:
        if c.phase is None:
            raise ValueError("training cases need a phase")
        bg = ~foreground(norm_magnitude(c.magnitude))
        vals.append(norm_phase(c.phase)[bg])  # (n, 3)
    v = np.concatenate(vals, axis=0) if vals else np.zeros((0, 3), np.float32)
    if len(v) < 2:
        return {"mean": [0.0, 0.0, 0.0], "sd": [1 / math.sqrt(3)] * 3, "pixels": [int(len(v))]}
    return {"mean": [float(x) for x in v.mean(axis=0)],
            "sd": [float(x) for x in v.std(axis=0)], "pixels": [int(len(v))]}


def compose_fgbg(generated: np.ndarray, fg: np.ndarray, bg_mean: Sequence[float],
                 bg_sd: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """Foreground from the generator, background drawn per pixel from N(mean, sd) per component.

    generated: (n, 3, x, y) scaled phase; fg: (n, x, y) bool. Values are clipped to [−1, 1]."""
    mu = np.asarray(bg_mean, np.float32).reshape(1, 3, 1, 1)
    sd = np.asarray(bg_sd, np.float32).reshape(1, 3, 1, 1)
    noise = (mu + sd * rng.standard_normal(generated.shape)).astype(np.float32)
    out = np.where(fg[:, None], generated, noise)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


@dataclass
class _Samples:
    x: torch.Tensor  # (n, in_channels, H, W) generator input (`network_input`)
    y: torch.Tensor  # (n, 3, H, W) scaled phase
    fg: torch.Tensor  # (n, 1, H, W) float foreground
    myo: torch.Tensor  # (n, 1, H, W) float myocardium (lv_mask == 1)

    def to(self, device: torch.device) -> _Samples:
        return _Samples(*(t.to(device) for t in (self.x, self.y, self.fg, self.myo)))


def _samples(cases: Sequence[CardiacCase], size: int, cfg: PhaseConfig | None = None
             ) -> _Samples:
    cfg = cfg or PhaseConfig()
    xs, ys, fgs, myos = [], [], [], []
    for c in cases:
        if c.phase is None or c.lv_mask is None:
            raise ValueError("training cases need phase and lv_mask")
        bx, by = crop_box(c.lv_mask, size)
        m = norm_magnitude(c.magnitude)[bx, by]
        xs.append(network_input(m, cfg))
        ys.append(phase_stack(norm_phase(c.phase)[bx, by]))
        fgs.append(foreground(xs[-1][:, cfg.centre:cfg.centre + 1]))
        lv = np.asarray(c.lv_mask)[bx, by]
        myos.append((lv == 1).transpose(2, 3, 0, 1).reshape(-1, 1, *lv.shape[:2]))
    return _Samples(torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys)),
                    torch.from_numpy(np.concatenate(fgs).astype(np.float32)),
                    torch.from_numpy(np.concatenate(myos).astype(np.float32)))


def l1_weights(fg: torch.Tensor, myo: torch.Tensor, cfg: PhaseConfig) -> torch.Tensor:
    """Per-pixel L1 weights (n, 1, H, W): the scheme's region (fgbg: foreground; vanilla: every
    pixel), with myocardium pixels weighted `cfg.myo_weight` times."""
    region = fg if cfg.scheme == "fgbg" else torch.ones_like(fg)
    return region * (1.0 + (cfg.myo_weight - 1.0) * myo)


def _l1(pred: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    err = (pred - y).abs()
    w = w.expand_as(err)
    return (err * w).sum() / w.sum().clamp_min(1.0)


def augment_batch(x: torch.Tensor, y: torch.Tensor, masks: Sequence[torch.Tensor],
                  rng: np.random.Generator
                  ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """One random rotation of the in-plane grid by a multiple of 90° for the whole batch. The
    phase is a velocity: flipping axis 0 (x) negates component 0, flipping axis 1 negates
    component 1, transposing swaps them; through-plane is unchanged. Only proper rotations
    (an even number of reflections): a mirrored heart twists the wrong way, and a crop that
    shows no left/right cue would leave the circumferential sign unlearnable."""
    flip_x, flip_y = (bool(b) for b in rng.integers(0, 2, 2))
    swap = flip_x != flip_y  # x-flip, y-flip, transpose: det = (−1)^(sum) = +1
    sign = torch.ones(1, 3, 1, 1, dtype=y.dtype, device=y.device)
    dims = [d for d, f in ((-2, flip_x), (-1, flip_y)) if f]
    if flip_x:
        sign[0, 0] = -1
    if flip_y:
        sign[0, 1] = -1
    ts = [x, y * sign, *masks]
    if dims:
        ts = [t.flip(dims) for t in ts]
    if swap:
        ts = [t.transpose(-2, -1) for t in ts]
        ts[1] = ts[1][:, [1, 0, 2]]
    return ts[0].contiguous(), ts[1].contiguous(), [t.contiguous() for t in ts[2:]]


# --------------------------------------------------------------------------- training


class Pix2Pix:
    """Generator + discriminator + their Adam optimisers; `step` is one pix2pix update."""

    def __init__(self, cfg: PhaseConfig, seed: int = 0) -> None:
        _check_scheme(cfg.scheme)
        torch.manual_seed(seed)
        self.cfg = cfg
        self.gen = make_generator(cfg)
        self.disc = PatchDiscriminator(cfg.in_channels + 3, cfg.d_base)
        self.opt_g = torch.optim.Adam(self.gen.parameters(), lr=cfg.lr_g, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=cfg.lr_d, betas=(0.5, 0.999))

    def to(self, device: torch.device) -> None:
        """Move both networks to `device` (before the first step: Adam's state follows)."""
        self.gen.to(device)
        self.disc.to(device)

    def _d_view(self, y: torch.Tensor, fg: torch.Tensor) -> torch.Tensor:
        return y * fg if self.cfg.scheme == "fgbg" else y

    def step(self, x: torch.Tensor, y: torch.Tensor, fg: torch.Tensor, lr_scale: float = 1.0,
             myo: torch.Tensor | None = None) -> dict[str, float]:
        """One discriminator then one generator update (LSGAN + λ L1, weighted by
        `l1_weights`); returns the losses."""
        cfg = self.cfg
        for opt, lr in ((self.opt_g, cfg.lr_g), (self.opt_d, cfg.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr * lr_scale
        self.gen.train()
        self.disc.train()
        fake = self.gen(x)
        # discriminator: real → 1, fake → 0 (least squares)
        d_real = self.disc(x, self._d_view(y, fg))
        d_fake = self.disc(x, self._d_view(fake.detach(), fg))
        loss_d = 0.5 * (((d_real - 1) ** 2).mean() + (d_fake ** 2).mean())
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        # generator: fool D + λ L1
        gan = ((self.disc(x, self._d_view(fake, fg)) - 1) ** 2).mean()
        l1 = _l1(fake, y, l1_weights(fg, torch.zeros_like(fg) if myo is None else myo, cfg))
        loss_g = gan + cfg.lambda_l1 * l1
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return {"loss_g": loss_g.item(), "gan_g": gan.item(), "l1": l1.item(),
                "loss_d": loss_d.item()}

    @torch.no_grad()
    def evaluate(self, s: _Samples, batch: int = 32) -> dict[str, float]:
        """Mean L1 on foreground and on whole images, and the mean squared error in the
        myocardium (the velocity-assessment ROI), generator in eval mode."""
        self.gen.eval()
        fg_err = whole = fg_n = myo_err = myo_n = 0.0
        for i in range(0, len(s.x), batch):
            err = (self.gen(s.x[i:i + batch]) - s.y[i:i + batch]).abs()
            w = s.fg[i:i + batch].expand_as(err)
            fg_err += float((err * w).sum())
            fg_n += float(w.sum())
            whole += float(err.sum())
            wm = s.myo[i:i + batch].expand_as(err)
            myo_err += float((err ** 2 * wm).sum())
            myo_n += float(wm.sum())
        return {"val_l1_fg": fg_err / max(fg_n, 1.0), "val_l1": whole / (s.y.numel() or 1),
                "val_mse_myo": myo_err / max(myo_n, 1.0)}


def _crop_batch(s: _Samples, idx: np.ndarray, size: int, rng: np.random.Generator,
                augment: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    full = s.x.shape[-1]
    ox, oy = rng.integers(0, full - size + 1, 2)
    rows = torch.from_numpy(idx).to(s.x.device)
    sl = (rows, slice(None), slice(ox, ox + size), slice(oy, oy + size))
    x, y, fg, myo = s.x[sl], s.y[sl], s.fg[sl], s.myo[sl]
    if augment:
        x, y, (fg, myo) = augment_batch(x, y, (fg, myo), rng)
    return x, y, fg, myo


def train_phase(case_dirs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str],
                minutes: float, seed: int = 0, progress: Callable[[Progress], None] | None = None,
                cancel: Callable[[], bool] | None = None, scheme: str = "fgbg",
                val_dirs: Sequence[str | os.PathLike[str]] | None = None,
                config: PhaseConfig | None = None, max_steps: int | None = None,
                init_from: str | os.PathLike[str] | None = None,
                threads: int | None = None, device: str | torch.device = "cpu"
                ) -> dict[str, Any]:
    """Train the phase pix2pix for `minutes` of wall time on the given case folders, on
    `device` ("auto", "cpu", "cuda"; the samples are held on that device).

    `init_from`: continue from a checkpoint of the same scheme (its config, generator and, when
    stored, discriminator weights; a fresh learning-rate schedule).

    Validation: `val_dirs` (default: `dataset.SEEDS_VAL` when the training folders are the
    cached ones, else the last training folder). The best validation state (least squared error
    in the myocardium, for both schemes; or, with `config.select == "curve_r"`, the best
    `curve_score`) is saved. Writes `out` (state dict, config, background
    statistics) and `<stem>.train.json` (curves). Returns the summary dict."""
    from headtwin_app.core.cardiac.dataset import SEEDS_VAL, ensure_cases
    from headtwin_app.core.cardiac.store import load_case
    from headtwin_app.core.device import resolve_device

    _check_scheme(scheme)
    if not case_dirs:
        raise ValueError("no training cases")
    dev = resolve_device(device)
    init = None
    if init_from is not None:
        init = torch.load(Path(init_from), map_location="cpu", weights_only=True)
        if not isinstance(init, dict) or init.get("format") != FORMAT:
            raise ValueError(f"{init_from} is not a HeadTwin cardiac phase model")
        config = config or PhaseConfig(**init["config"])
    cfg = config or PhaseConfig(scheme=scheme)
    cfg.scheme = scheme
    torch.set_num_threads(threads or min(2, os.cpu_count() or 1))
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    train_cases = [load_case(d) for d in case_dirs]
    if val_dirs is None:
        val_dirs = ensure_cases(SEEDS_VAL) if len(case_dirs) > 2 else [case_dirs[-1]]
    val_cases = [load_case(d) for d in val_dirs]
    pad = min(cfg.pad_crop, *(c.magnitude.shape[0] for c in train_cases))
    crop = min(cfg.crop, pad)
    train = _samples(train_cases, pad, cfg).to(dev)
    val = _samples(val_cases, crop, cfg).to(dev)
    bg = background_stats(train_cases)
    model = Pix2Pix(cfg, seed)
    if init is not None:
        model.gen.load_state_dict(init["state_dict"])
        if "disc_state_dict" in init:
            model.disc.load_state_dict(init["disc_state_dict"])
    model.to(dev)
    budget = minutes * 60.0
    curves: dict[str, list[float]] = {k: [] for k in ("step", "seconds", "loss_g", "gan_g", "l1",
                                                      "loss_d")}
    val_curve: dict[str, list[float]] = {"step": [], "val_l1_fg": [], "val_l1": [],
                                         "val_mse_myo": []}
    key = "val_mse_myo"  # the velocity ROI, the same for both schemes
    # selection score, lower is better: the myocardium MSE or minus the worst-direction curve r
    best: tuple[float, dict[str, torch.Tensor] | None, int] = (math.inf, None, 0)
    if cfg.select == "curve_r":
        val_curve.update({"curve_step": [], "curve_r_min": []})
    step, acc = 0, {"loss_g": 0.0, "gan_g": 0.0, "l1": 0.0, "loss_d": 0.0}
    log_every, val_every = 10, 50
    t_train = time.perf_counter()
    cancelled = False
    while True:
        elapsed = time.perf_counter() - t_train
        done = elapsed >= budget or (max_steps is not None and step >= max_steps)
        if cancel is not None and cancel():
            cancelled = done = True
        if step and (step % val_every == 0 or done):
            v = model.evaluate(val)
            val_curve["step"].append(step)
            for k in ("val_l1_fg", "val_l1", "val_mse_myo"):
                val_curve[k].append(v[k])
            score = v[key] if cfg.select == "mse_myo" else None
            if cfg.select == "curve_r" and (step % cfg.curve_every == 0 or done):
                r_min = curve_score(PhaseModel(model.gen, cfg, bg, scheme), val_cases, dev)
                val_curve["curve_step"].append(step)
                val_curve["curve_r_min"].append(r_min)
                score = -r_min
            if score is not None and score < best[0]:
                best = (score, {k: t.detach().cpu().clone() for k, t in
                                model.gen.state_dict().items()}, step)
            if progress is not None:
                progress(Progress("train-phase", min(elapsed / budget, 1.0),
                                  f"step {step}, {key} {v[key]:.4f}", dict(v)))
        if done:
            break
        idx = rng.integers(0, len(train.x), cfg.batch)
        x, y, fg, myo = _crop_batch(train, idx, crop, rng, cfg.augment)
        lr_scale = 0.5 * (1 + math.cos(math.pi * min(elapsed / budget, 1.0))) * 0.95 + 0.05
        losses = model.step(x, y, fg, lr_scale, myo)
        step += 1
        for k in acc:
            acc[k] += losses[k]
        if step % log_every == 0:
            curves["step"].append(step)
            curves["seconds"].append(time.perf_counter() - t_train)
            for k in acc:
                curves[k].append(acc[k] / log_every)
                acc[k] = 0.0
    model.to(torch.device("cpu"))
    state = best[1] if best[1] is not None else model.gen.state_dict()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {"format": FORMAT, "scheme": scheme, "config": asdict(cfg),
            "background": {"mean": bg["mean"], "sd": bg["sd"]}, "state_dict": state,
            "disc_state_dict": model.disc.state_dict()}
    torch.save(ckpt, out)
    summary = {
        "out": str(out), "scheme": scheme, "config": asdict(cfg),
        "init_from": None if init_from is None else str(init_from),
        "train_cases": [str(d) for d in case_dirs], "val_cases": [str(d) for d in val_dirs],
        "samples": int(len(train.x)), "steps": step, "best_step": best[2],
        "selection": cfg.select,
        **({"best_" + key: best[0]} if cfg.select == "mse_myo"
           else {"best_val_curve_r_min": -best[0]}),
        "background": bg, "minutes_budget": minutes,
        "train_seconds": time.perf_counter() - t_train,
        "wall_seconds": time.perf_counter() - t0, "cancelled": cancelled,
        "device": str(dev), "device_name": (torch.cuda.get_device_name(dev)
                                            if dev.type == "cuda" else "cpu"),
        "torch_threads": torch.get_num_threads(),
        "generator_parameters": sum(p.numel() for p in model.gen.parameters()),
        "discriminator": {"blocks_kernel_stride": [list(b) for b in D_BLOCKS],
                          "receptive_field_px": receptive_field()[0],
                          "stride_px": receptive_field()[1]},
        "curves": curves, "val_curves": val_curve,
    }
    out.with_name(out.stem + ".train.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


# --------------------------------------------------------------------------- inference


@dataclass
class PhaseModel:
    generator: R2UNet
    config: PhaseConfig
    background: dict[str, list[float]]
    scheme: str


def load_phase(path: str | os.PathLike[str] | None = None, scheme: str = "fgbg") -> PhaseModel:
    """A checkpoint written by `train_phase` (default: the shipped model of `scheme`)."""
    from headtwin_app.core.errors import UserError

    p = Path(path) if path is not None else DEFAULT_MODELS[scheme]
    if not p.is_file():
        raise UserError(f"phase model {p} not found (train one with "
                        "`headtwin train-cardiac --what phase`)")
    ckpt = torch.load(p, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserError(f"{p} is not a HeadTwin cardiac phase model")
    cfg = PhaseConfig(**ckpt["config"])
    gen = make_generator(cfg)
    gen.load_state_dict(ckpt["state_dict"])
    gen.eval()
    return PhaseModel(gen, cfg, ckpt["background"], ckpt["scheme"])


def synthesize_steps(case: CardiacCase, scheme: str = "fgbg",
                     model_path: str | os.PathLike[str] | None = None,
                     magnitude: np.ndarray | None = None, model: PhaseModel | None = None,
                     seed: int = 0, batch: int = 25, device: str | torch.device = "cpu"
                     ) -> Generator[Progress, None, np.ndarray]:
    """Synthesise the phase of a case, yielding progress; the return value is the phase
    (x, y, slice, frame, 3) in radians. `magnitude` replaces case.magnitude (e.g. interpolated).
    The scheme of a given model/checkpoint wins over `scheme`."""
    _check_scheme(scheme)
    model = model or load_phase(model_path, scheme)
    mag = np.asarray(case.magnitude if magnitude is None else magnitude, np.float32)
    if mag.ndim != 4:
        raise ValueError(f"magnitude must be (x, y, slice, frame), got shape {mag.shape}")
    nx, ny, ns, nf = mag.shape
    scaled = norm_magnitude(mag)
    x = network_input(scaled, model.config)
    m = 2 ** model.config.depth
    px, py = (-nx) % m, (-ny) % m
    if px or py:
        x = np.pad(x, ((0, 0), (0, 0), (0, px), (0, py)), constant_values=-1.0)
    gen = model.generator.to(device).eval()
    out = np.empty((len(x), 3, nx, ny), np.float32)
    yield Progress("synthesize-phase", 0.0, f"{len(x)} images")
    for i in range(0, len(x), batch):
        # no yield inside inference mode: a job cancelled at a yield would leave its worker
        # thread with gradients off (grad mode is per thread), breaking the next training job
        with torch.inference_mode():
            pred = gen(torch.from_numpy(x[i:i + batch]).to(device)).float().cpu().numpy()
        out[i:i + batch] = pred[:, :, :nx, :ny]
        yield Progress("synthesize-phase", min(i + batch, len(x)) / len(x),
                       f"{min(i + batch, len(x))}/{len(x)} images")
    if model.scheme == "fgbg":
        fg = foreground(x[:, model.config.centre, :nx, :ny])
        out = compose_fgbg(out, fg, model.background["mean"], model.background["sd"],
                           np.random.default_rng(seed))
    else:
        out = np.clip(out, -1.0, 1.0)
    return (unstack_phase(out, ns, nf) * np.pi).astype(np.float32)


def synthesize_case(case: CardiacCase, scheme: str = "fgbg",
                    model_path: str | os.PathLike[str] | None = None,
                    magnitude: np.ndarray | None = None, model: PhaseModel | None = None,
                    seed: int = 0, device: str | torch.device = "cpu") -> np.ndarray:
    """`synthesize_steps` run to the end: phase (x, y, slice, frame, 3) in radians."""
    gen = synthesize_steps(case, scheme, model_path, magnitude, model, seed, device=device)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


# --------------------------------------------------------------------------- metrics


def weight_maps(scaled_mag: np.ndarray, lv_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ω1 (1 in the myocardium, 0.1 elsewhere) and ω2 (1 where scaled magnitude > −0.95, 0.1
    elsewhere), both (x, y, slice, frame)."""
    w1 = np.where(np.asarray(lv_mask) == 1, 1.0, W_OTHER)
    w2 = np.where(foreground(scaled_mag), 1.0, W_OTHER)
    return w1, w2


def phase_metrics(truth_phase: np.ndarray, synth_phase: np.ndarray, magnitude: np.ndarray,
                  lv_mask: np.ndarray) -> dict[str, float]:
    """Table I metrics of a synthesised phase (radians) against the truth (radians), on φ/π.

    magnitude: the (x, y, slice, frame) magnitude that defines ω2 (the truth's)."""
    from skimage.metrics import structural_similarity

    a, b = norm_phase(truth_phase), norm_phase(synth_phase)
    if a.shape != b.shape or a.ndim != 5:
        raise ValueError(f"phases differ in shape or are not 5D: {a.shape} vs {b.shape}")
    e2 = (a.astype(np.float64) - b) ** 2
    w1, w2 = weight_maps(norm_magnitude(magnitude), lv_mask)
    mse = float(e2.mean())
    ssims = [structural_similarity(a[:, :, s, f, c], b[:, :, s, f, c], data_range=DATA_RANGE)
             for s in range(a.shape[2]) for f in range(a.shape[3]) for c in range(3)]
    return {"mse": mse, "msew1": float((w1[..., None] * e2).mean()),
            "msew2": float((w2[..., None] * e2).mean()),
            "psnr": float(10 * np.log10(DATA_RANGE ** 2 / mse)) if mse > 0 else math.inf,
            "ssim": float(np.mean(ssims))}


def curve_agreement(case: CardiacCase, synth_phase: np.ndarray,
                    lv_mask: np.ndarray | None = None) -> dict[str, Any]:
    """Global velocity curves from the synthesised phase vs those from the case's true phase
    (same assessment, `velocity.assess_case`) and vs the analytic truth: Pearson r per direction
    and both sets of peaks. `lv_mask` replaces the case's mask for the synthesised side."""
    from dataclasses import replace

    from headtwin_app.core.cardiac.velocity import DIRECTIONS, assess_case

    synth_case = case if lv_mask is None else replace(case, lv_mask=lv_mask)
    syn = assess_case(synth_case, phase=synth_phase)
    ref = assess_case(case, phase=case.phase) if case.phase is not None else None
    analytic = case.info.get("truth", {}).get("curves_mm_s")

    def r(u: Sequence[float | None], v: Sequence[float | None]) -> float:
        x = np.asarray([np.nan if q is None else q for q in u], float)
        y = np.asarray([np.nan if q is None else q for q in v], float)
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() < 3 or np.std(x[ok]) == 0 or np.std(y[ok]) == 0:
            return math.nan
        return float(np.corrcoef(x[ok], y[ok])[0, 1])

    out: dict[str, Any] = {"synth_curves_mm_s": syn["curves_mm_s"], "synth_peaks": syn["peaks"]}
    if ref is not None:
        out["r_vs_true_phase"] = {d: r(syn["curves_mm_s"][d], ref["curves_mm_s"][d])
                                  for d in DIRECTIONS}
        out["true_phase_curves_mm_s"] = ref["curves_mm_s"]
        out["true_phase_peaks"] = ref["peaks"]
    if analytic is not None:
        out["r_vs_analytic"] = {d: r(syn["curves_mm_s"][d], analytic[d]) for d in DIRECTIONS}
    return out


def worst_direction_score(r_per_case: Sequence[dict[str, float]]) -> float:
    """Per case the worst direction's Pearson r, averaged over cases (an undefined r counts
    −1): the `curve_r` checkpoint-selection score."""
    return float(np.mean([min(-1.0 if math.isnan(x) else x for x in r.values())
                          for r in r_per_case]))


def curve_score(model: PhaseModel, cases: Sequence[CardiacCase],
                device: str | torch.device = "cpu") -> float:
    """`worst_direction_score` of the curves from the synthesised vs the true phase."""
    return worst_direction_score(
        [curve_agreement(c, synthesize_case(c, model=model, device=device))["r_vs_true_phase"]
         for c in cases])
