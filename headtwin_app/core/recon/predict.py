"""Inference: numpy k-space in, numpy images out, in batches of slices, yielding progress.

Every reconstruction here is a generator that yields ``(done, total)`` (slices, or iterations
for CS) and *returns* the complex images, so a GUI worker can report progress and stop at any
yield; `run_to_end` drives one to completion for scripts and the CLI.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from headtwin_app.core.device import resolve_device
from headtwin_app.core.fft import ifft2c
from headtwin_app.core.package_data import MODELS_DIR
from headtwin_app.core.recon.cascade import CascadeConfig, CascadeNet
from headtwin_app.core.recon.cs import (
    DEFAULT_ITERS,
    DEFAULT_LAMBDA,
    as_stack,
    cs_reconstruct_iter,
)
from headtwin_app.core.recon.data import slice_scale, zero_filled
from headtwin_app.core.weights import (
    ModelFileError,
    build_checked,
    load_weights,
    save_weights,
    state_dict_of,
)

CHECKPOINT_FORMAT = "headtwin-recon-cascade"
DEFAULT_MODEL = MODELS_DIR / "recon_cascade.pt"
METHODS = ("zf", "cs", "cascade")

T = TypeVar("T")
Progress = Generator[tuple[int, int], None, np.ndarray]


def save_checkpoint(model: CascadeNet, path: str | Path,
                    meta: dict[str, Any] | None = None) -> Path:
    """Write the weights with the architecture config (and free metadata) in one dict,
    atomically."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    # plain JSON types only, so torch.load(weights_only=True) can read the metadata back
    plain_meta = json.loads(json.dumps(meta or {}, default=str))
    return save_weights({"format": CHECKPOINT_FORMAT, "version": 1,
                         "config": model.config.to_dict(), "state_dict": state,
                         "meta": plain_meta}, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict (weights_only=True); ModelFileError when missing, corrupt, refused
    or not a cascade checkpoint."""
    path = Path(path)
    ckpt = load_weights(path, "HeadTwin cascade checkpoint", "model file not found")
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ModelFileError(f"{path}: not a HeadTwin cascade checkpoint")
    try:
        CascadeConfig.from_dict(ckpt.get("config"))  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: a bad cascade config ({exc})") from None
    return ckpt


def checkpoint_config(path: str | Path) -> CascadeConfig | None:
    """The architecture stored in a checkpoint, or None when the file is missing or bad."""
    try:
        return CascadeConfig.from_dict(load_checkpoint(path)["config"])
    except (ValueError, KeyError, TypeError):
        return None


def load_cascade(path: str | Path = DEFAULT_MODEL, device: str | torch.device = "cpu",
                 ) -> CascadeNet:
    """Rebuild the CascadeNet stored in `path` (config + weights), on `device`, in eval mode."""
    path = Path(path)
    ckpt = load_checkpoint(path)
    config = CascadeConfig.from_dict(ckpt["config"])
    state = state_dict_of(ckpt, path, "cascade checkpoint")
    model = build_checked(lambda: CascadeNet(config), state, path, "cascade checkpoint")
    meta = ckpt.get("meta", {})
    model.meta = meta if isinstance(meta, dict) else {}  # type: ignore[assignment]
    dev = resolve_device(device) if isinstance(device, str) else device
    return model.to(dev).eval()


def cascade_reconstruct_iter(kspace: np.ndarray, mask: np.ndarray, model: CascadeNet,
                             batch_size: int = 4) -> Progress:
    """Cascade CNN reconstruction of k-space (N, H, W) or (H, W), `batch_size` slices at a time
    on the model's device; yields (slices done, total), returns complex images."""
    k, m, squeeze = as_stack(kspace, mask)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dev = next(iter(model.parameters()), torch.zeros(0)).device
    norm = model.config.normalisation
    out = np.empty(k.shape, np.complex64)
    n = len(k)
    yield 0, n
    for i in range(0, n, batch_size):
        kb, mb = k[i:i + batch_size], m[i:i + batch_size]
        zf = ifft2c(kb).astype(np.complex64)
        scale = slice_scale(zf, norm)[:, None, None]
        with torch.inference_mode():
            x = torch.from_numpy(zf / scale).to(dev)
            k0 = torch.from_numpy(kb / scale).to(dev)
            mt = torch.from_numpy(mb.astype(np.float32)).to(dev)
            y = model(x, k0, mt).cpu().numpy()
        out[i:i + len(kb)] = y * scale
        yield min(i + batch_size, n), n
    return out[0] if squeeze else out


def zf_reconstruct_iter(kspace: np.ndarray, mask: np.ndarray, batch_size: int = 16) -> Progress:
    """Zero-filled inverse FFT, in batches; yields (done, total), returns complex images."""
    k, _, squeeze = as_stack(kspace, mask)
    out = np.empty(k.shape, np.complex64)
    n = len(k)
    yield 0, n
    for i in range(0, n, batch_size):
        out[i:i + batch_size] = ifft2c(k[i:i + batch_size])
        yield min(i + batch_size, n), n
    return out[0] if squeeze else out


def cs_volume_iter(kspace: np.ndarray, mask: np.ndarray, lam: float = DEFAULT_LAMBDA,
                   n_iter: int = DEFAULT_ITERS, batch_size: int = 8) -> Progress:
    """CS reconstruction slice batch by slice batch; yields (slices done, total) after each
    FISTA iteration (so it can stop quickly), returns complex images."""
    k, m, squeeze = as_stack(kspace, mask)
    out = np.empty(k.shape, np.complex64)
    n = len(k)
    yield 0, n
    for i in range(0, n, batch_size):
        gen = cs_reconstruct_iter(k[i:i + batch_size], m[i:i + batch_size], lam, n_iter)
        while True:
            try:
                it, total = next(gen)
            except StopIteration as stop:
                out[i:i + batch_size] = stop.value
                break
            yield i + int(len(k[i:i + batch_size]) * it / max(total, 1)), n
    return out[0] if squeeze else out


def reconstruct_iter(method: str, kspace: np.ndarray, mask: np.ndarray,
                     model: CascadeNet | None = None, batch_size: int = 4) -> Progress:
    """One entry point for 'zf', 'cs' and 'cascade' (which needs `model`)."""
    if method == "zf":
        return zf_reconstruct_iter(kspace, mask)
    if method == "cs":
        return cs_volume_iter(kspace, mask)
    if method == "cascade":
        if model is None:
            raise ValueError("method 'cascade' needs a model (load_cascade)")
        return cascade_reconstruct_iter(kspace, mask, model, batch_size)
    raise ValueError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")


def run_to_end(gen: Generator[Any, None, T], on_step: Callable[[Any], Any] | None = None) -> T:
    """Drive a progress generator to completion and return its value; `on_step` (e.g. a
    logger) sees every item it yields."""
    while True:
        try:
            item = next(gen)
        except StopIteration as stop:
            return stop.value
        if on_step is not None:
            on_step(item)


def reconstruct(method: str, kspace: np.ndarray, mask: np.ndarray,
                model: CascadeNet | None = None, batch_size: int = 4,
                ) -> tuple[np.ndarray, float]:
    """Magnitude images and seconds taken for one method."""
    t0 = time.perf_counter()
    img = run_to_end(reconstruct_iter(method, kspace, mask, model, batch_size))
    return np.abs(img).astype(np.float32), time.perf_counter() - t0


__all__ = ["METHODS", "DEFAULT_MODEL", "ModelFileError", "resolve_device", "save_checkpoint",
           "load_checkpoint", "load_cascade", "cascade_reconstruct_iter", "zf_reconstruct_iter",
           "cs_volume_iter", "reconstruct_iter", "run_to_end", "reconstruct", "zero_filled"]
