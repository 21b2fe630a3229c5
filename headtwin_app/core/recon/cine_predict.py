"""Cine (2D+t) reconstruction: k-t undersampling, and zero-filled, L+S, the 2D cascade frame by
frame, or the 2D+t cascade — each a generator yielding `Progress` and returning the complex
sequence (nt, ny, nx), so the GUI can report progress and stop at any yield.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from headtwin_app.core.fft import fft2c, ifft2c
from headtwin_app.core.package_data import MODELS_DIR
from headtwin_app.core.recon.cine_cascade import CineCascade, CineConfig
from headtwin_app.core.seg.backend import Progress
from headtwin_app.core.weights import (
    ModelFileError,
    build_checked,
    load_weights,
    save_weights,
    state_dict_of,
)

CINE_METHODS = ("zf", "lps", "cascade2d", "cascade3d")
CINE_FORMAT = "headtwin-recon-cine"
DEFAULT_CINE_MODEL = MODELS_DIR / "recon_cine.pt"
CineGen = Generator[Progress, None, np.ndarray]


def _check(seq: np.ndarray, mask: np.ndarray) -> None:
    if seq.ndim != 3:
        raise ValueError(f"a cine is (frames, ny, nx); got shape {tuple(seq.shape)}")
    if mask.shape != seq.shape:
        raise ValueError(f"the k-t mask {tuple(mask.shape)} does not match the cine "
                         f"{tuple(seq.shape)}")


def undersample_cine(seq: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Measured k-space (zero where not sampled) and zero-filled sequence of a cine
    (nt, ny, nx) under a k-t mask of the same shape; both complex64."""
    seq, mask = np.asarray(seq), np.asarray(mask, dtype=bool)
    _check(seq, mask)
    k0 = (fft2c(seq.astype(np.complex64)) * mask).astype(np.complex64)
    return k0, ifft2c(k0).astype(np.complex64)


def sequence_scale(x_zf: np.ndarray) -> float:
    """The network's input scale: the 99th percentile of the zero-filled magnitude over the
    whole sequence (one number, so frames keep their relative brightness); never zero."""
    return float(max(np.percentile(np.abs(x_zf), 99), 1e-8))


def save_cine_model(model: CineCascade, path: str | Path,
                    meta: dict[str, Any] | None = None) -> Path:
    """Weights, architecture and free metadata in one dict, written atomically."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    plain = json.loads(json.dumps(meta or {}, default=str))
    return save_weights({"format": CINE_FORMAT, "version": 1, "config": model.config.to_dict(),
                         "state_dict": state, "meta": plain}, path)


def load_cine_model(path: str | Path = DEFAULT_CINE_MODEL) -> CineCascade:
    """The CineCascade stored in `path`, on the CPU in eval mode; ModelFileError otherwise."""
    p = Path(path)
    ck = load_weights(p, "HeadTwin cine cascade", "cine model file not found")
    if ck.get("format") != CINE_FORMAT:
        raise ModelFileError(f"{p}: not a HeadTwin cine cascade checkpoint")
    try:
        cfg = CineConfig.from_dict(ck.get("config"))  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{p}: a bad cine config ({exc})") from None
    state = state_dict_of(ck, p, "cine cascade checkpoint")
    net = build_checked(lambda: CineCascade(cfg), state, p, "cine cascade checkpoint")
    meta = ck.get("meta", {})
    net.meta = meta if isinstance(meta, dict) else {}  # type: ignore[assignment]
    return net.eval()


def cascade3d_iter(k0: np.ndarray, mask: np.ndarray, model: CineCascade) -> CineGen:
    """The 2D+t cascade on the whole sequence at once (one progress step per cascade)."""
    _check(k0, mask)
    x_zf = ifft2c(k0).astype(np.complex64)
    scale = sequence_scale(x_zf)
    yield Progress("cascade3d", 0.0, "2D+t cascade")
    with torch.inference_mode():
        x = torch.from_numpy(x_zf / scale)[None]
        k = torch.from_numpy((k0 / scale).astype(np.complex64))[None]
        m = torch.from_numpy(mask.astype(np.float32))[None]
        y = model(x, k, m)[0].numpy()
    yield Progress("cascade3d", 1.0, "2D+t cascade done")
    return (y * scale).astype(np.complex64)


def cascade2d_iter(k0: np.ndarray, mask: np.ndarray, model_path: str | Path | None = None
                   ) -> CineGen:
    """The shipped 2D cascade frame by frame, each frame with its own mask."""
    from headtwin_app.core.recon.predict import (
        DEFAULT_MODEL,
        cascade_reconstruct_iter,
        load_cascade,
        run_to_end,
    )

    _check(k0, mask)
    model = load_cascade(model_path or DEFAULT_MODEL, "cpu")
    out = np.empty(k0.shape, np.complex64)
    n = len(k0)
    for t in range(n):
        out[t] = run_to_end(cascade_reconstruct_iter(k0[t], mask[t], model))
        yield Progress("cascade2d", (t + 1) / n, f"2D cascade: frame {t + 1}/{n}")
    return out


def _wrap_lps(k0: np.ndarray, mask: np.ndarray) -> CineGen:
    from headtwin_app.core.recon.lps import lps_reconstruct_iter

    _check(k0, mask)
    return (yield from lps_reconstruct_iter(k0, mask))


def _zf(k0: np.ndarray, mask: np.ndarray) -> CineGen:
    _check(k0, mask)
    yield Progress("zf", 1.0, "zero-filled")
    return ifft2c(k0).astype(np.complex64)


def reconstruct_cine_iter(method: str, k0: np.ndarray, mask: np.ndarray,
                          model_path: str | Path | None = None) -> CineGen:
    """One entry point for `CINE_METHODS`; `model_path` is the 2D+t (cascade3d) or 2D
    (cascade2d) checkpoint, default the shipped one."""
    if method not in CINE_METHODS:
        raise ValueError(f"unknown cine method {method!r}; choose one of: "
                         f"{', '.join(CINE_METHODS)}")
    k0, mask = np.asarray(k0, np.complex64), np.asarray(mask, dtype=bool)
    if model_path is not None and method in ("zf", "lps"):
        raise ValueError(f"a model only applies to cascade2d and cascade3d, not {method}")
    if method == "zf":
        return _zf(k0, mask)
    if method == "lps":
        return _wrap_lps(k0, mask)
    if method == "cascade2d":
        return cascade2d_iter(k0, mask, model_path)
    return cascade3d_iter(k0, mask, load_cine_model(model_path or DEFAULT_CINE_MODEL))
