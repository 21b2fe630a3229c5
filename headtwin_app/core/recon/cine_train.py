"""Training the 2D+t cascade on cine crops under k-t masks, with the paper's losses, optimisers
and options; a JSON config with ``"task": "cine"`` reaches it through `headtwin train-recon`.

Each step draws `batch_size` training sequences, a random crop of `frames` × `patch`² (random
start frame, cyclic, and flips), a k-t mask of `family` at a random R in [accel_min, accel_max]
with a fresh seed, and simulates the k-space of the crop. Validation: fixed crops of the
validation sequences at R = `val_accel`; the checkpoint keeps the weights of the best validation
loss (MSE, whatever the training loss).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Generator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from headtwin_app.core.recon.cine_cascade import CineCascade, CineConfig
from headtwin_app.core.recon.cine_losses import (
    LOSSES,
    FeatureEncoder,
    cine_loss,
    mse,
    random_vgg16_control,
)
from headtwin_app.core.recon.cine_predict import (
    load_cine_model,
    save_cine_model,
    sequence_scale,
    undersample_cine,
)
from headtwin_app.core.seg.backend import Progress

OPTIMISERS = ("adam", "sgd")


@dataclass
class CineTrainConfig:
    """Everything a cine training run depends on (stored in the checkpoint's metadata).

    Args:
        task: "cine" (how `train-recon --config` tells this from a 2D config).
        model: the architecture (CineConfig fields).
        steps, max_minutes: stop at whichever comes first.
        clock: "wall" (max_minutes of wall time) or "cpu" (of this process's CPU time: equal
            budgets for ablations on a shared machine, where wall time depends on the load).
        batch_size, frames, patch: sequences per step and the crop (frames × patch²).
        optimizer: "adam" (the paper's) or "sgd" (Table 4: fixed learning rate, no momentum).
        lr, weight_decay: learning rate and L2 decay (the paper's 1e-8).
        lr_schedule: "constant" (the paper's) or "cosine" (decays to lr/50 over the budget).
        loss, alpha, edge_start: "mse", "edge" (eq. 2), "feature" (eq. 3 with the app's
            trained encoder) or "random_feature" (the random VGG-16-shaped control).
        feature_model: the trained encoder's weights for loss "feature".
        family, accel_min, accel_max, val_accel: k-t masks drawn in training / validation.
        size: side of the generated sequences (crops come from these).
        n_train, n_val: how many training / validation sequences (None: all of the split).
        seed: seeds the weights, crops and masks; threads: torch CPU threads (0 = default).
        init_from: a cine checkpoint to continue from (its architecture replaces `model`).
    """

    task: str = "cine"
    model: dict[str, Any] = field(default_factory=lambda: CineConfig().to_dict())
    steps: int = 500
    max_minutes: float = 10.0
    clock: str = "wall"
    batch_size: int = 2
    frames: int = 12
    patch: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 1e-8
    lr_schedule: str = "constant"
    loss: str = "mse"
    alpha: float = 0.2
    edge_start: int = 100
    feature_model: str = ""
    family: str = "kt_vd_cartesian"
    accel_min: float = 4.0
    accel_max: float = 8.0
    val_accel: float = 6.0
    size: int = 192
    n_train: int | None = None
    n_val: int | None = 4
    val_every: int = 25
    seed: int = 0
    threads: int = 1
    init_from: str = ""

    def __post_init__(self) -> None:
        if self.task != "cine":
            raise ValueError(f"task must be 'cine', got {self.task!r}")
        CineConfig.from_dict(self.model)
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got "
                             f"{self.lr_schedule!r}")
        if self.clock not in ("wall", "cpu"):
            raise ValueError(f"clock must be 'wall' or 'cpu', got {self.clock!r}")
        if self.optimizer not in OPTIMISERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMISERS)}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.steps < 1 or self.batch_size < 1 or not self.max_minutes > 0:
            raise ValueError("need steps >= 1, batch_size >= 1 and max_minutes > 0")
        if self.frames < 2 or self.patch < 16 or self.patch % 2:
            raise ValueError("need frames >= 2 and an even patch >= 16")
        if not 1.0 <= self.accel_min <= self.accel_max or self.val_accel < 1:
            raise ValueError("need 1 <= accel_min <= accel_max and val_accel >= 1")
        if not 0 <= self.alpha <= 1 or self.lr <= 0 or self.weight_decay < 0:
            raise ValueError("need 0 <= alpha <= 1, lr > 0 and weight_decay >= 0")

    @staticmethod
    def from_dict(data: dict[str, Any], where: str = "config") -> CineTrainConfig:
        known = set(CineTrainConfig.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown cine config key(s) {', '.join(unknown)}")
        try:
            return CineTrainConfig(**data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None


MIN_CROP_SIGNAL = 0.2  # a crop's 99th percentile must reach this fraction of its sequence's


def _crop(seq: np.ndarray, cfg: CineTrainConfig, rng: np.random.Generator) -> np.ndarray:
    """A random frames × patch² crop (cyclic in time: a cine is periodic) with random flips.

    Crops of (nearly) empty background are drawn again (up to 8 times): each example is scaled
    by its own zero-filled 99th percentile, and an empty crop's tiny percentile blew one batch's
    loss up a thousandfold in the first shipped-model run."""
    nt, ny, nx = seq.shape
    t0 = int(rng.integers(nt))
    idx = (t0 + np.arange(cfg.frames)) % nt
    p = min(cfg.patch, ny, nx) // 2 * 2
    floor = MIN_CROP_SIGNAL * float(np.percentile(seq, 99))
    for _ in range(8):
        y0, x0 = int(rng.integers(ny - p + 1)), int(rng.integers(nx - p + 1))
        out = seq[idx, y0:y0 + p, x0:x0 + p]
        if float(np.percentile(out, 99)) >= floor:
            break
    if rng.random() < 0.5:
        out = out[:, ::-1]
    if rng.random() < 0.5:
        out = out[:, :, ::-1]
    if rng.random() < 0.5:
        out = out[::-1]  # time reversed: the motion played backwards is still a cine
    return np.ascontiguousarray(out)


def make_example(seq: np.ndarray, family: str, accel: float, seed: int
                 ) -> tuple[torch.Tensor, ...]:
    """(x_zf, k0, mask, target) tensors of one sequence, scaled by its zero-filled 99th
    percentile, with a batch axis. R snaps to the nearest whole number of lines per frame
    (a 64-line crop cannot be sampled at exactly R 6)."""
    from headtwin_app.core.kt_masks import make_kt_mask

    ny = seq.shape[1]
    mask = make_kt_mask(family, seq.shape, ny / max(1, round(ny / accel)), seed)
    k0, x_zf = undersample_cine(seq, mask)
    s = sequence_scale(x_zf)
    return (torch.from_numpy(x_zf / s)[None], torch.from_numpy((k0 / s).astype(np.complex64))[None],
            torch.from_numpy(mask.astype(np.float32))[None],
            torch.from_numpy((seq / s).astype(np.complex64))[None])


def _batch(examples: list[tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, ...]:
    return tuple(torch.cat(parts) for parts in zip(*examples, strict=True))


def _encoder(cfg: CineTrainConfig, val: list[tuple[torch.Tensor, ...]]
             ) -> FeatureEncoder | None:
    """The feature network of the loss: the app's trained encoder, or the random VGG-16-shaped
    control calibrated on the validation targets; None for the other losses."""
    from headtwin_app.core.recon.cine_features import DEFAULT_FEATURES, load_encoder

    if cfg.loss == "feature":
        return load_encoder(cfg.feature_model or DEFAULT_FEATURES)
    if cfg.loss == "random_feature":
        enc = random_vgg16_control(cfg.seed)
        enc.calibrate(torch.cat([v[3].abs()[0] for v in val]))
        return enc
    return None


def train_cine_steps(cfg: CineTrainConfig, train_seqs: list[np.ndarray],
                     val_seqs: list[np.ndarray]
                     ) -> Generator[Progress, None, tuple[CineCascade, dict[str, Any]]]:
    """The training loop; yields Progress (with train/val loss metrics) and returns the model
    holding the best-validation weights and the history."""
    if not train_seqs or not val_seqs:
        raise ValueError("cine training needs training and validation sequences")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    if cfg.init_from:
        net = load_cine_model(cfg.init_from).train()
        cfg = replace(cfg, model=net.config.to_dict())
    else:
        net = CineCascade(CineConfig.from_dict(cfg.model))
    if cfg.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(net.parameters(), cfg.lr,
                                                      weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.SGD(net.parameters(), cfg.lr, weight_decay=cfg.weight_decay)
    vrng = np.random.default_rng(10_000 + cfg.seed)
    val = [make_example(_crop(s, cfg, vrng), cfg.family, cfg.val_accel, 7_000 + i)
           for i, s in enumerate(val_seqs)]
    encoder = _encoder(cfg, val)
    hist: dict[str, Any] = {"step": [], "train_loss": [], "val_step": [], "val_loss": []}
    best = (float("inf"), {k: v.clone() for k, v in net.state_dict().items()}, 0)
    clock = time.process_time if cfg.clock == "cpu" else time.perf_counter
    t0, c0, step, running = time.perf_counter(), clock(), 0, []
    budget = cfg.max_minutes * 60
    while step < cfg.steps and clock() - c0 < budget:
        net.train()
        picks = rng.integers(len(train_seqs), size=cfg.batch_size)
        ex = [make_example(_crop(train_seqs[i], cfg, rng), cfg.family,
                           float(rng.uniform(cfg.accel_min, cfg.accel_max)),
                           int(rng.integers(2**31))) for i in picks]
        x, k0, m, y = _batch(ex)
        loss = cine_loss(cfg.loss, net(x, k0, m), y, step, encoder, cfg.alpha, cfg.edge_start)
        opt.zero_grad()
        loss.backward()
        if cfg.lr_schedule == "cosine":
            done = max(step / cfg.steps, (clock() - c0) / budget)
            for group in opt.param_groups:
                group["lr"] = cfg.lr * (0.02 + 0.49 * (1 + math.cos(math.pi * min(done, 1.0))))
        opt.step()
        step += 1
        running.append(float(loss.detach()))
        hist["step"].append(step)
        hist["train_loss"].append(float(loss.detach()))
        if step % cfg.val_every == 0 or step == cfg.steps:
            vl = validation_loss(net, val)
            hist["val_step"].append(step)
            hist["val_loss"].append(vl)
            if vl < best[0]:
                best = (vl, {k: v.clone() for k, v in net.state_dict().items()}, step)
            done = max(step / cfg.steps, (clock() - c0) / budget)
            yield Progress("train", min(done, 1.0), f"step {step}: train {np.mean(running):.3g}, "
                           f"val {vl:.3g}", {"train_loss": float(np.mean(running)),
                                             "val_loss": vl, "step": step})
            running = []
    if not hist["val_step"] or hist["val_step"][-1] != step:
        vl = validation_loss(net, val)
        hist["val_step"].append(step)
        hist["val_loss"].append(vl)
        if vl < best[0]:
            best = (vl, {k: v.clone() for k, v in net.state_dict().items()}, step)
    net.load_state_dict(best[1])
    hist.update(steps=step, seconds=time.perf_counter() - t0, cpu_seconds=clock() - c0
                if cfg.clock == "cpu" else None, best_val_loss=best[0],
                best_step=best[2], config=asdict(cfg))
    return net.eval(), hist


def validation_loss(net: CineCascade, val: list[tuple[torch.Tensor, ...]]) -> float:
    """Mean MSE over the fixed validation crops, in eval mode."""
    net.eval()
    with torch.no_grad():
        return float(np.mean([float(mse(net(x, k, m), y)) for x, k, m, y in val]))


def train_cine(cfg: CineTrainConfig, out: str | Path, log=print) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Train on the cine training split, validate on the validation split, write `out` and
    `<out stem>.train.json`; returns the history."""
    from headtwin_app.core.atomic import atomic_write_text
    from headtwin_app.core.recon.cine_data import cine_set
    from headtwin_app.core.recon.predict import run_to_end

    train = [s.image for s in cine_set("train", cfg.n_train, size=cfg.size)]
    val = [s.image for s in cine_set("val", cfg.n_val, size=cfg.size)]
    net, hist = run_to_end(train_cine_steps(cfg, train, val),
                           (lambda p: log(p.message)) if log else None)
    hist.update(n_train_sequences=len(train), n_val_sequences=len(val))
    out = Path(out)
    save_cine_model(net, out, {"train": {k: v for k, v in hist.items()
                                         if k not in ("step", "train_loss")}})
    atomic_write_text(out.with_suffix(".train.json"), json.dumps(hist, indent=1))
    return hist
