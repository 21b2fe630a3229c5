"""The training loop both stages of the built-in model share: AdamW, one-cycle schedule,
optional bfloat16 autocast, cross-entropy + soft Dice, progress every 10 iterations, a time limit,
and an atomic checkpoint write."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from headtwin_app.core.seg.backend import Progress

Net = TypeVar("Net", bound=nn.Module)
Batch = Callable[[], tuple[tuple[torch.Tensor, ...], torch.Tensor]]


def one_cycle(opt: torch.optim.Optimizer, lr: float, iterations: int) -> Any:
    """One-cycle schedule warming up over 5 % of the run (at least 2 steps); a constant rate
    for runs under 8 iterations, where torch's one-cycle phases would be empty."""
    if iterations < 8:
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=iterations,
                                               pct_start=max(0.05, 2.0 / iterations))


def init_from(net: nn.Module, path: str, ids: list[int]) -> None:
    """Start `net` from a checkpoint trained on the same labels (clear error otherwise)."""
    prev = torch.load(path, map_location="cpu", weights_only=True)
    if [int(i) for i in prev["label_ids"]] != ids:
        raise ValueError(f"{path}: trained on other labels {prev['label_ids']}")
    net.load_state_dict(prev["state_dict"])


def fit(net: nn.Module, batch: Batch, loss_fn: Callable[[torch.Tensor, torch.Tensor],
                                                        torch.Tensor],
        device: torch.device, lr: float, iterations: int, bf16: bool, time_limit_s: float,
        t0: float) -> Generator[Progress, None, tuple[int, float]]:
    """Train `net` (already on `device`) on `batch()` → (inputs, target); yields Progress every
    10 iterations and returns (iterations done, smoothed loss). Stops at `time_limit_s` after
    `t0` (a `time.perf_counter()` reading)."""
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-5)
    sched = one_cycle(opt, lr, iterations)
    net.train()
    loss_avg, it = 0.0, 0
    for it in range(1, iterations + 1):
        inputs, target = batch()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = net(*(x.to(device) for x in inputs))
        loss = loss_fn(logits.float(), target.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
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
    """(network, checkpoint) from `path`, the network made by `build(checkpoint)`; a missing or
    foreign file is a clear ValueError ("<path>: <missing>", "<path>: not a <what> ...")."""
    if not path.exists():
        raise ValueError(f"{path}: {missing}")
    try:
        ck = torch.load(str(path), map_location="cpu", weights_only=True)
        net = build(ck)
        net.load_state_dict(ck["state_dict"])
    except Exception as exc:
        raise ValueError(f"{path}: not a {what} ({str(exc).splitlines()[0][:120]})") from None
    return net, ck


def save_checkpoint(ck: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    """Write through a temporary file and rename, so a crash never leaves half a checkpoint."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    torch.save(ck, str(tmp))
    os.replace(tmp, out)
    return out
