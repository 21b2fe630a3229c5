"""The training loop both stages of the built-in model share: AdamW, a one-cycle schedule over
the iterations or the time limit (whichever ends first),
optional bfloat16 autocast, cross-entropy + soft Dice, progress every 10 iterations, a time limit,
and an atomic checkpoint write."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from headtwin_app.core.seg.backend import Progress
from headtwin_app.core.weights import (
    ModelFileError,
    build_checked,
    check_config,
    load_weights,
    save_weights,
    state_dict_of,
)

Net = TypeVar("Net", bound=nn.Module)
Batch = Callable[[], tuple[tuple[torch.Tensor, ...], torch.Tensor]]


WARMUP = 0.05  # share of the run spent warming up


def one_cycle_lr(peak: float, progress: float, iterations: int) -> float:
    """Learning rate at `progress` (0..1) through a one-cycle run: cosine warm-up from peak/25
    over the first 5 %, then cosine decay to peak/25e4 (torch's OneCycleLR shape); a constant
    rate for runs under 8 iterations. Progress, not the step, drives it, so a run stopped by
    its time limit still ends cooled down."""
    if iterations < 8:
        return peak
    p = min(max(progress, 0.0), 1.0)
    start, end = peak / 25.0, peak / 25.0 / 1e4
    if p < WARMUP:
        return start + (peak - start) * (1 - math.cos(math.pi * p / WARMUP)) / 2
    q = (p - WARMUP) / (1 - WARMUP)
    return end + (peak - end) * (1 + math.cos(math.pi * q)) / 2


UNET_BOUNDS = {"base": (1, 256), "depth": (1, 7), "patch": (8, 512), "spacing_mm": (0.05, 20.0)}
"""What a built-in segmentation checkpoint may ask for before anything is built from it."""


def read_checkpoint(path: Path, what: str, missing: str = "") -> dict[str, Any]:
    """A built-in segmentation checkpoint with its config and label ids bounded."""
    ck = load_weights(path, what, missing)
    check_config(ck.get("config"), UNET_BOUNDS, path, what)
    ids = ck.get("label_ids")
    if not isinstance(ids, (list, tuple)) or not 1 <= len(ids) <= 255 or \
            not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 2**15
                    for i in ids):
        raise ModelFileError(f"{path}: not a {what} (no valid label_ids)")
    return ck


def init_from(net: nn.Module, path: str, ids: list[int]) -> None:
    """Start `net` from a checkpoint trained on the same labels (clear error otherwise)."""
    p = Path(path)
    what = "built-in segmentation checkpoint"
    prev = read_checkpoint(p, what)
    if [int(i) for i in prev["label_ids"]] != ids:
        raise ModelFileError(f"{p}: trained on other labels {prev['label_ids']}")
    state = state_dict_of(prev, p, what)
    build_checked(lambda: net, state, p, what)


def fit(net: nn.Module, batch: Batch, loss_fn: Callable[[torch.Tensor, torch.Tensor],
                                                        torch.Tensor],
        device: torch.device, lr: float, iterations: int, bf16: bool, time_limit_s: float,
        t0: float) -> Generator[Progress, None, tuple[int, float]]:
    """Train `net` (already on `device`) on `batch()` → (inputs, target); yields Progress every
    10 iterations and returns (iterations done, smoothed loss). Stops at `time_limit_s` after
    `t0` (a `time.perf_counter()` reading)."""
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-5)
    net.train()
    loss_avg, it = 0.0, 0
    start = time.perf_counter()
    budget = max(time_limit_s - (start - t0), 1e-9)  # what the time limit leaves for training
    for it in range(1, iterations + 1):
        progress = max((it - 1) / iterations, (time.perf_counter() - start) / budget)
        for group in opt.param_groups:
            group["lr"] = one_cycle_lr(lr, progress, iterations)
        inputs, target = batch()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = net(*(x.to(device) for x in inputs))
        loss = loss_fn(logits.float(), target.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        lv = float(loss.detach())
        loss_avg = 0.95 * loss_avg + 0.05 * lv if it > 1 else lv
        elapsed = time.perf_counter() - t0
        if it % 10 == 0 or it == iterations:
            yield Progress("train", it / iterations, f"iteration {it}/{iterations}",
                           {"loss": loss_avg, "seconds": elapsed})
        if elapsed > time_limit_s:
            break
    return it, loss_avg


def load_checkpoint(path: Path, build: Callable[[dict[str, Any]], Net], what: str,
                    missing: str) -> tuple[Net, dict[str, Any]]:
    """(network, checkpoint) from `path`, the network made by `build(checkpoint)` after the
    config is bounded and the weights are checked to fit it; a clear ModelFileError otherwise
    ("<path>: <missing>", "<path>: not a <what> ...")."""
    ck = read_checkpoint(Path(path), what, missing)
    state = state_dict_of(ck, Path(path), what)
    return build_checked(lambda: build(ck), state, Path(path), what), ck


def save_checkpoint(ck: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    """Write through a temporary file and rename, so a crash never leaves half a checkpoint."""
    return save_weights(ck, out)
