"""The HDL paper's temporal interpolation network (§III-A, §IV-B) and its training/inference.

`InterpNet` is a multi-head multi-tail R2U-Net: one encoder head for the magnitude pair
(M_τ, M_{τ+K+1}) and one for the mask pair (S_τ, S_{τ+K+1} as myocardium and blood-pool
one-hot maps), each also given the two temporal condition maps (the paper "up-samples τ and k
as feature maps": constant maps f = k/(K+1) and τ/T, the start frame's cardiac phase). The
heads' features are fused level by level (concatenation, 1 × 1 convolution: the shared
part), with one more recurrent residual unit at the bottleneck, then two decoder tails:
- magnitude tail: one channel added to the input→output skip connection the paper adds "to
  accelerate the loss convergence"; our skip is the linear interpolation
  (1 − f) M_τ + f M_{τ+K+1} of the inputs, so the tail learns the correction to eq. 2;
- mask tail: three logits (background, myocardium, blood pool), softmax (one label per pixel,
  so myocardium and blood pool never overlap); a learned gain times the blended one-hot input
  masks is added to the logits (the mask's skip connection).
Both tails' last convolutions start at zero, so an untrained net is exactly linear
interpolation and training only has to learn the motion that eq. 2 misses.

Loss: paper eq. 1, mean(ω1 |ΔM|) + mean(ω2 |ΔM|) (ω1 = 1 in the true myocardium, ω2 = 1 where
the true scaled magnitude > −0.95, 0.1 elsewhere; `interp.omega1/omega2`), plus a soft Dice of
the myocardium and blood pool (the authors' code adds it).

Training: crops of `crop` px around the LV (`dataset.crop_box`, jittered) of the training
subjects, random slice, K ∈ 1..6, start τ (any frame, periodic) and k ∈ 1..K, random flips and
90° turns; Adam (lr 1e-3, cosine-decayed to lr/20 over the time budget); the checkpoint kept is
the one with the lowest validation loss (validation subjects, fixed samples). Inference works on
whole frames (any size divisible by 8). Magnitudes are scaled per case with
`dataset.norm_magnitude` (99.5th percentile → 1, into [−1, 1]) and scaled back afterwards.
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

from headtwin_app.core.cardiac.dataset import (
    BACKGROUND,
    crop_box,
    denorm_magnitude,
    norm_magnitude,
    scale_of,
)
from headtwin_app.core.cardiac.interp import (
    N_CLASSES,
    Gap,
    downsample_indices,
    frame_metrics,
    horn_schunck,
    hs_interpolate,
    interp_plan,
    linear_interpolate,
    summarise,
)
from headtwin_app.core.cardiac.phantom import CardiacCase
from headtwin_app.core.cardiac.r2unet import RRCNN, Decoder, Encoder
from headtwin_app.core.package_data import MODELS_DIR
from headtwin_app.core.seg.backend import Progress

FORMAT = "headtwin-cardiac-interp-1"
DEFAULT_MODEL = MODELS_DIR / "cardiac_interp.pt"
METHODS = ("net", "linear", "hs")
W_OTHER = 0.1
NORMALISATION = {"magnitude": "dataset.norm_magnitude: clip(2 m / p99.5(case) - 1, -1, 1)",
                 "masks": "one-hot myocardium (1) and blood pool (2)",
                 "conditions": ["k / (K + 1)", "tau / T"]}


@dataclass
class InterpConfig:
    """Architecture and training settings (stored in the checkpoint)."""

    base: int = 8
    depth: int = 3
    t: int = 1
    crop: int = 64
    batch: int = 8
    lr: float = 1e-3
    k_max: int = 6
    dice_weight: float = 1.0
    val_every: int = 50
    norm: str = "none"  # "none" or "batch" (r2unet's BatchNorm, see `InterpNet`)


class InterpNet(nn.Module):
    """Multi-head multi-tail R2U-Net. Inputs (B, 1, H, W) magnitudes, (B, 2, H, W) one-hot masks
    (myocardium, blood) and the per-sample fraction f and phase τ/T (B,); returns the magnitude
    (B, 1, H, W) and mask logits (B, 3, H, W). H and W must be divisible by 2**depth."""

    def __init__(self, base: int = 8, depth: int = 3, t: int = 2, norm: str = "none") -> None:
        super().__init__()
        if norm not in ("none", "batch"):
            raise ValueError(f"norm must be 'none' or 'batch', got '{norm}'")
        self.depth = depth
        self.mag_head = Encoder(2 + 2, base, depth, t)
        self.mask_head = Encoder(2 * (N_CLASSES - 1) + 2, base, depth, t)
        chs = self.mag_head.channels
        self.fuse = nn.ModuleList([nn.Conv2d(2 * c, c, 1) for c in chs])
        self.bottleneck = RRCNN(chs[-1], chs[-1], t)
        self.mag_tail = Decoder(1, base, depth, t)
        self.mask_tail = Decoder(N_CLASSES, base, depth, t)
        self.mask_gain = nn.Parameter(torch.tensor(4.0))
        for tail in (self.mag_tail, self.mask_tail):  # start exactly at linear interpolation
            nn.init.zeros_(tail.head.weight)
            assert tail.head.bias is not None
            nn.init.zeros_(tail.head.bias)
        if norm == "none":
            _drop_batchnorm(self)

    def forward(self, m0: torch.Tensor, m1: torch.Tensor, s0: torch.Tensor, s1: torch.Tensor,
                frac: torch.Tensor, phase: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, _, h, w = m0.shape
        if h % 2 ** self.depth or w % 2 ** self.depth:
            raise ValueError(f"frame size {h}x{w} is not divisible by {2 ** self.depth}")
        f = frac.view(b, 1, 1, 1).to(m0.dtype)
        cond = torch.cat([f.expand(b, 1, h, w), phase.view(b, 1, 1, 1).to(m0.dtype)
                          .expand(b, 1, h, w)], 1)
        fm = self.mag_head(torch.cat([m0, m1, cond], 1))
        fs = self.mask_head(torch.cat([s0, s1, cond], 1))
        feats = [fuse(torch.cat([a, c], 1)) for fuse, a, c in zip(self.fuse, fm, fs, strict=True)]
        feats[-1] = self.bottleneck(feats[-1])
        mag = (1 - f) * m0 + f * m1 + self.mag_tail(feats)
        fg = (1 - f) * s0 + f * s1
        prior = torch.cat([1 - fg.sum(1, keepdim=True), fg], 1)
        return mag, self.mask_tail(feats) + self.mask_gain * prior


def _drop_batchnorm(module: nn.Module) -> None:
    """Replace every BatchNorm2d by the identity. r2unet's recurrent convolution applies one
    conv + BN t + 1 times, so one set of running statistics averages t + 1 different
    distributions and eval mode drifts from training; and the net trains on crops but runs on
    whole frames. Without normalisation the net is the same function in both modes."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, nn.Identity())
        else:
            _drop_batchnorm(child)


def make_net(cfg: InterpConfig) -> InterpNet:
    return InterpNet(cfg.base, cfg.depth, cfg.t, cfg.norm)


def _fg_onehot(labels: torch.Tensor) -> torch.Tensor:
    """(B, H, W) labels → (B, 2, H, W) myocardium / blood one-hot."""
    return torch.stack([labels == 1, labels == 2], 1).float()


def interp_loss(mag: torch.Tensor, logits: torch.Tensor, m_true: torch.Tensor,
                s_true: torch.Tensor, dice_weight: float = 1.0
                ) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 1 weighted MAE + `dice_weight` × soft Dice (myocardium, blood pool)."""
    err = (mag - m_true).abs()
    w1 = torch.where(s_true == 1, 1.0, W_OTHER).unsqueeze(1)
    w2 = torch.where(m_true > BACKGROUND, 1.0, W_OTHER)
    wmae = (w1 * err).mean() + (w2 * err).mean()
    prob = torch.softmax(logits, 1)[:, 1:]
    ref = _fg_onehot(s_true)
    inter = (prob * ref).sum((0, 2, 3))
    soft_dice = 1 - ((2 * inter + 1) / (prob.sum((0, 2, 3)) + ref.sum((0, 2, 3)) + 1)).mean()
    loss = wmae + dice_weight * soft_dice
    return loss, {"wmae": float(wmae.detach()), "soft_dice": float(soft_dice.detach())}


# --- data --------------------------------------------------------------------------------------

@dataclass
class _Subject:
    mag: np.ndarray  # (x, y, slice, frame) scaled to [−1, 1]
    mask: np.ndarray  # (x, y, slice, frame) uint8


def _subjects(cases: Sequence[CardiacCase]) -> list[_Subject]:
    out = []
    for c in cases:
        if c.lv_mask is None:
            raise ValueError("every training case needs an LV mask")
        out.append(_Subject(norm_magnitude(c.magnitude), np.asarray(c.lv_mask, np.uint8)))
    return out


def _sample(sub: _Subject, rng: np.random.Generator, crop: int, k_max: int
            ) -> tuple[np.ndarray, ...]:
    """One random (crop of a) training sample: m0, m1, s0, s1, mt, st, f, phase."""
    nx, ny, ns, nt = sub.mag.shape
    s = int(rng.integers(ns))
    kk = int(rng.integers(1, k_max + 1))
    tau = int(rng.integers(nt))
    k = int(rng.integers(1, kk + 1))
    t0, t1, tt = tau, (tau + kk + 1) % nt, (tau + k) % nt
    if crop and crop < min(nx, ny):
        bx, by = crop_box(sub.mask[:, :, s], crop)
        jx = int(np.clip(bx.start + rng.integers(-6, 7), 0, nx - crop))
        jy = int(np.clip(by.start + rng.integers(-6, 7), 0, ny - crop))
        bx, by = slice(jx, jx + crop), slice(jy, jy + crop)
    else:
        bx, by = slice(None), slice(None)
    arrs = [sub.mag[bx, by, s, t] for t in (t0, t1, tt)] + [sub.mask[bx, by, s, t]
                                                             for t in (t0, t1, tt)]
    rot = int(rng.integers(4))
    flip = bool(rng.integers(2))
    arrs = [np.rot90(a, rot) for a in arrs]
    if flip:
        arrs = [a[::-1] for a in arrs]
    m0, m1, mt, s0, s1, st = (np.ascontiguousarray(a) for a in arrs)
    return (m0, m1, s0, s1, mt, st, np.asarray(k / (kk + 1), np.float32),
            np.asarray(tau / nt, np.float32))


def _batch(samples: Sequence[tuple[np.ndarray, ...]]) -> dict[str, torch.Tensor]:
    cols = list(zip(*samples, strict=True))
    m0, m1, s0, s1, mt, st = (np.stack(c) for c in cols[:6])
    return {"m0": torch.from_numpy(m0)[:, None], "m1": torch.from_numpy(m1)[:, None],
            "s0": _fg_onehot(torch.from_numpy(s0.astype(np.int64))),
            "s1": _fg_onehot(torch.from_numpy(s1.astype(np.int64))),
            "mt": torch.from_numpy(mt)[:, None], "st": torch.from_numpy(st.astype(np.int64)),
            "f": torch.tensor(np.array(cols[6])), "phase": torch.tensor(np.array(cols[7]))}


def _step_loss(net: InterpNet, b: dict[str, torch.Tensor], dice_weight: float
               ) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
    mag, logits = net(b["m0"], b["m1"], b["s0"], b["s1"], b["f"], b["phase"])
    loss, parts = interp_loss(mag, logits, b["mt"], b["st"], dice_weight)
    return loss, parts, logits


def train_steps(cases: Sequence[CardiacCase], val_cases: Sequence[CardiacCase],
                cfg: InterpConfig, minutes: float, seed: int = 0, max_steps: int | None = None
                ) -> Generator[Progress, None, tuple[InterpNet, dict[str, Any]]]:
    """The training loop as a generator: yields `Progress` after every step (stop iterating to
    cancel); returns the best-validation model and the history."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train = _subjects(cases)
    val = _subjects(val_cases) if val_cases else train[:1]
    vrng = np.random.default_rng(12345)
    val_batches = [_batch([_sample(val[i % len(val)], vrng, cfg.crop, cfg.k_max)
                           for i in range(cfg.batch)]) for _ in range(6)]
    net = make_net(cfg)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    budget = max(minutes, 1e-3) * 60.0
    hist: dict[str, Any] = {"step": [], "train_loss": [], "val_step": [], "val_loss": [],
                            "val_dice_myo": [], "seconds": 0.0}
    best: tuple[float, dict[str, torch.Tensor] | None] = (math.inf, None)
    t0 = time.perf_counter()
    step = 0
    run_loss = []
    while True:
        elapsed = time.perf_counter() - t0
        if elapsed >= budget or (max_steps is not None and step >= max_steps):
            break
        for g in opt.param_groups:
            g["lr"] = cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * elapsed / budget)))
        net.train()
        b = _batch([_sample(train[int(rng.integers(len(train)))], rng, cfg.crop, cfg.k_max)
                    for _ in range(cfg.batch)])
        loss, parts, _ = _step_loss(net, b, cfg.dice_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        run_loss.append(loss.item())
        metrics: dict[str, float] = {"loss": run_loss[-1], **parts}
        if step % cfg.val_every == 0 or step == 1:
            hist["step"].append(step)
            hist["train_loss"].append(float(np.mean(run_loss)))
            run_loss = []
            vloss, vdice = _validate(net, val_batches, cfg.dice_weight)
            hist["val_step"].append(step)
            hist["val_loss"].append(vloss)
            hist["val_dice_myo"].append(vdice)
            metrics.update(val_loss=vloss, val_dice_myo=vdice)
            if vloss < best[0]:
                best = (vloss, {k: v.detach().clone() for k, v in net.state_dict().items()})
        yield Progress("train-interp", min((time.perf_counter() - t0) / budget, 1.0),
                       f"step {step}", metrics)
    vloss, vdice = _validate(net, val_batches, cfg.dice_weight)
    hist["val_step"].append(step)
    hist["val_loss"].append(vloss)
    hist["val_dice_myo"].append(vdice)
    if vloss < best[0] or best[1] is None:
        best = (vloss, {k: v.detach().clone() for k, v in net.state_dict().items()})
    assert best[1] is not None
    net.load_state_dict(best[1])
    net.eval()
    hist.update(seconds=time.perf_counter() - t0, steps=step, best_val_loss=best[0])
    return net, hist


def _validate(net: InterpNet, batches: Sequence[dict[str, torch.Tensor]], dice_weight: float
              ) -> tuple[float, float]:
    net.eval()
    losses, dices = [], []
    with torch.inference_mode():
        for b in batches:
            loss, _, logits = _step_loss(net, b, dice_weight)
            losses.append(float(loss))
            pred = logits.argmax(1)
            inter = float(((pred == 1) & (b["st"] == 1)).sum())
            tot = float((pred == 1).sum() + (b["st"] == 1).sum())
            dices.append(2 * inter / tot if tot else 1.0)
    return float(np.mean(losses)), float(np.mean(dices))


def save_interp(net: InterpNet, cfg: InterpConfig, path: str | os.PathLike[str],
                meta: dict[str, Any] | None = None) -> Path:
    from headtwin_app.core.weights import save_weights

    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    plain = json.loads(json.dumps({"config": asdict(cfg), "normalisation": NORMALISATION,
                                   "meta": meta or {}}, default=str))
    return save_weights({"format": FORMAT, "state_dict": state, **plain}, path)


def train_interp(case_dirs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str],
                 minutes: float, seed: int = 0,
                 progress: Callable[[Progress], None] | None = None,
                 cancel: Callable[[], bool] | None = None,
                 val_dirs: Sequence[str | os.PathLike[str]] | None = None,
                 config: InterpConfig | None = None, max_steps: int | None = None,
                 threads: int | None = None) -> dict[str, Any]:
    """Train on the case folders for `minutes` (validation: `val_dirs`, default the
    `dataset.SEEDS_VAL` subjects); save `out` (weights + config + normalisation) and
    `<out stem>.train.json` (the loss curve). Returns the summary written there."""
    from headtwin_app.core.atomic import atomic_write_text
    from headtwin_app.core.cardiac.dataset import SEEDS_VAL, ensure_cases
    from headtwin_app.core.cardiac.store import load_case

    if not case_dirs:
        raise ValueError("no training cases given")
    torch.set_num_threads(threads or min(2, os.cpu_count() or 1))
    cfg = config or InterpConfig()
    cases = [load_case(d) for d in case_dirs]
    vdirs = list(val_dirs) if val_dirs is not None else ensure_cases(SEEDS_VAL)
    val_cases = [load_case(d) for d in vdirs]
    gen = train_steps(cases, val_cases, cfg, minutes, seed, max_steps)
    cancelled = False
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            net, hist = stop.value
            break
        if progress is not None:
            progress(p)
        if cancel is not None and cancel():
            cancelled = True
            gen.close()
            return {"cancelled": True}
    out = Path(out)
    summary = {"format": FORMAT, "config": asdict(cfg), "seed": seed, "minutes": minutes,
               "cases": [str(d) for d in case_dirs], "val_cases": [str(d) for d in vdirs],
               "device": "cpu", "threads": torch.get_num_threads(), "torch": torch.__version__,
               "cancelled": cancelled, **hist}
    save_interp(net, cfg, out, {k: summary[k] for k in ("seed", "minutes", "steps", "seconds",
                                                        "best_val_loss", "device")})
    atomic_write_text(out.with_name(out.stem + ".train.json"), json.dumps(summary, indent=1))
    return summary


@dataclass
class InterpModel:
    net: InterpNet
    config: InterpConfig
    path: Path


def load_interp(path: str | os.PathLike[str] | None = None) -> InterpModel:
    """A checkpoint written by `train_interp` (default: the shipped models/cardiac_interp.pt)."""
    from headtwin_app.core.weights import ModelFileError, load_weights

    p = Path(path) if path is not None else DEFAULT_MODEL
    ck = load_weights(p, "HeadTwin cardiac interpolation model",
                      "interpolation model not found (train one with `headtwin train-cardiac "
                      "--what interp`)")
    if ck.get("format") != FORMAT:
        raise ModelFileError(f"{p}: not a HeadTwin cardiac interpolation model")
    cfg = InterpConfig(**ck["config"])
    net = make_net(cfg)
    net.load_state_dict(ck["state_dict"])
    net.eval()
    return InterpModel(net, cfg, p)


# --- inference ---------------------------------------------------------------------------------

def _check_case(case: CardiacCase, k: int, method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got '{method}'")
    if case.lv_mask is None:
        raise ValueError("the case has no lv_mask.nii.gz: interpolation needs the LV masks of "
                         "the kept frames")
    if case.magnitude.ndim != 4:
        raise ValueError(f"magnitude must be (x, y, slice, frame), got {case.magnitude.shape}")
    if k < 1 or k + 1 >= case.magnitude.shape[3]:
        raise ValueError(f"K must be in 1..{case.magnitude.shape[3] - 2} for "
                         f"{case.magnitude.shape[3]} frames, got {k}")


def _pad_to(a: np.ndarray, mult: int) -> tuple[np.ndarray, tuple[int, int]]:
    nx, ny = a.shape[-2:]
    px, py = (-nx) % mult, (-ny) % mult
    if px or py:
        pad = [(0, 0)] * (a.ndim - 2) + [(0, px), (0, py)]
        a = np.pad(a, pad, mode="edge")
    return a, (nx, ny)


def interpolate_steps(case: CardiacCase, k: int, method: str = "net",
                      model_path: str | os.PathLike[str] | None = None, batch: int = 16
                      ) -> Generator[Progress, None,
                                     tuple[np.ndarray, np.ndarray, dict[str, Any]]]:
    """Generator form of `interpolate_case` for the GUI job runner: yields `Progress`, returns
    (magnitude, lv_mask, metrics)."""
    _check_case(case, k, method)
    assert case.lv_mask is not None
    t_start = time.perf_counter()
    mag_raw = np.asarray(case.magnitude, np.float32)
    truth_mask = np.asarray(case.lv_mask, np.uint8)
    scale = scale_of(mag_raw)
    mn = norm_magnitude(mag_raw, scale)
    nx, ny, ns, nt = mn.shape
    gaps = interp_plan(nt, k)
    kept = downsample_indices(nt, k)
    out_m = mn.copy()
    out_s = truth_mask.copy()
    jobs = [(g, s) for g in gaps for s in range(ns)]
    yield Progress("interpolate", 0.0, f"{method}: {len(jobs)} frames")
    if method == "net":
        model = load_interp(model_path)
        mult = 2 ** model.config.depth
        for i in range(0, len(jobs), batch):
            chunk = jobs[i:i + batch]
            m0 = np.stack([mn[:, :, s, g.start] for g, s in chunk])
            m1 = np.stack([mn[:, :, s, g.end] for g, s in chunk])
            s0 = np.stack([truth_mask[:, :, s, g.start] for g, s in chunk])
            s1 = np.stack([truth_mask[:, :, s, g.end] for g, s in chunk])
            (m0, _), (m1, _) = _pad_to(m0, mult), _pad_to(m1, mult)
            (s0, _), (s1, _) = _pad_to(s0, mult), _pad_to(s1, mult)
            with torch.inference_mode():
                mag, logits = model.net(
                    torch.from_numpy(m0)[:, None], torch.from_numpy(m1)[:, None],
                    _fg_onehot(torch.from_numpy(s0.astype(np.int64))),
                    _fg_onehot(torch.from_numpy(s1.astype(np.int64))),
                    torch.tensor([g.fraction for g, _ in chunk], dtype=torch.float32),
                    torch.tensor([g.start / nt for g, _ in chunk], dtype=torch.float32))
            pm = mag[:, 0, :nx, :ny].numpy()
            ps = logits.argmax(1)[:, :nx, :ny].numpy().astype(np.uint8)
            for j, (g, s) in enumerate(chunk):
                out_m[:, :, s, g.t] = np.clip(pm[j], -1.0, 1.0)
                out_s[:, :, s, g.t] = ps[j]
            yield Progress("interpolate", min(i + batch, len(jobs)) / len(jobs),
                           f"{min(i + batch, len(jobs))}/{len(jobs)} frames")
    else:
        flows: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        for i, (g, s) in enumerate(jobs):
            args = (mn[:, :, s, g.start], mn[:, :, s, g.end], truth_mask[:, :, s, g.start],
                    truth_mask[:, :, s, g.end])
            if method == "linear":
                m, lab = linear_interpolate(*args, g.fraction)
            else:
                key = (g.start, s)
                if key not in flows:
                    flows[key] = horn_schunck(args[0], args[1])
                m, lab = hs_interpolate(*args, g.fraction, flow=flows[key])
            out_m[:, :, s, g.t] = m
            out_s[:, :, s, g.t] = lab
            if (i + 1) % 8 == 0 or i + 1 == len(jobs):
                yield Progress("interpolate", (i + 1) / len(jobs), f"{i + 1}/{len(jobs)} frames")
    seconds = time.perf_counter() - t_start
    per_frame = [frame_metrics(mn[:, :, s, g.t], out_m[:, :, s, g.t], truth_mask[:, :, s, g.t],
                               out_s[:, :, s, g.t]) for g, s in jobs]
    metrics: dict[str, Any] = {"method": method, "k": k, "kept_frames": kept.tolist(),
                               "interpolated_frames": [g.t for g in gaps],
                               **summarise(per_frame), "seconds": seconds}
    if method == "net":
        metrics["model"] = str(model_path if model_path is not None else DEFAULT_MODEL)
    magnitude = denorm_magnitude(out_m, scale)
    magnitude[:, :, :, kept] = mag_raw[:, :, :, kept]  # kept frames exactly as given
    return magnitude, out_s, metrics


def interpolate_case(case: CardiacCase, k: int, method: str = "net",
                     model_path: str | os.PathLike[str] | None = None
                     ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Down-sample the cine K times and predict the missing frames and LV masks.

    Returns the full-length magnitude (the case's units; kept frames unchanged), the LV mask
    (kept frames from the case, missing ones predicted) and the metrics of the interpolated
    frames against the case's own frames (`interp.frame_metrics`, mean and std).
    """
    gen = interpolate_steps(case, k, method, model_path)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            result: tuple[np.ndarray, np.ndarray, dict[str, Any]] = stop.value
            return result


__all__ = ["DEFAULT_MODEL", "METHODS", "Gap", "InterpConfig", "InterpModel", "InterpNet",
           "interp_loss", "interpolate_case", "interpolate_steps", "load_interp",
           "train_interp", "train_steps"]
