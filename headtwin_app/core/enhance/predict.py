"""All-in-one enhancement of a standardised volume slice by slice with a Context-Enhanced U-Net,
as a generator yielding `Progress` (the GUI reports and can stop at every slice); and the
checkpoint format of the enhance networks.

Input convention (shared with training): a volume (n_slices, ny, nx), axis 1 = phase encode,
divided by `enhance_scale` of the degraded volume (its 99th percentile magnitude is 1).
"""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from headtwin_app.core.enhance.ce_unet import BOUNDS, EnhanceConfig, EnhanceNet
from headtwin_app.core.enhance.context import CONTEXT_SIZE, Context
from headtwin_app.core.package_data import MODELS_DIR
from headtwin_app.core.seg.backend import Progress
from headtwin_app.core.weights import (
    ModelFileError,
    build_checked,
    check_config,
    load_weights,
    save_weights,
    state_dict_of,
)

ENHANCE_FORMAT = "headtwin-enhance"
DEFAULT_ENHANCE_MODEL = MODELS_DIR / "enhance_ce.pt"
WHAT = "HeadTwin enhance network"


def enhance_scale(image: np.ndarray) -> float:
    """The network's input scale: the 99th percentile of |image| over the whole slice or
    volume (one number, so slices keep their relative brightness); never zero."""
    return float(max(np.percentile(np.abs(np.asarray(image)), 99), 1e-8))


def save_enhance_model(model: EnhanceNet, path: str | Path,
                       meta: dict[str, Any] | None = None) -> Path:
    """Weights, architecture and free (JSON-able) metadata in one dict, written atomically."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    plain = json.loads(json.dumps(meta or {}, default=str))
    return save_weights({"format": ENHANCE_FORMAT, "version": 1,
                         "config": model.config.to_dict(), "state_dict": state, "meta": plain},
                        path)


def load_enhance_model(path: str | Path = DEFAULT_ENHANCE_MODEL) -> EnhanceNet:
    """The EnhanceNet stored in `path`, on the CPU in eval mode (its metadata in `.meta`);
    ModelFileError for a missing, damaged, refused or foreign file."""
    p = Path(path)
    ck = load_weights(p, WHAT, "enhance model file not found")
    if ck.get("format") != ENHANCE_FORMAT:
        raise ModelFileError(f"{p}: not a {WHAT} checkpoint")
    raw = check_config(ck.get("config"), BOUNDS, p, WHAT)
    try:
        cfg = EnhanceConfig.from_dict(raw)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{p}: a bad enhance config ({exc})") from None
    if cfg.context_size != CONTEXT_SIZE:
        raise ModelFileError(f"{p}: the network reads a context of {cfg.context_size} values; "
                             f"this version of the app makes {CONTEXT_SIZE}")
    state = state_dict_of(ck, p, f"{WHAT} checkpoint")
    net = build_checked(lambda: EnhanceNet(cfg), state, p, f"{WHAT} checkpoint")
    meta = ck.get("meta", {})
    net.meta = meta if isinstance(meta, dict) else {}  # type: ignore[assignment]
    return net.eval()


def neighbourhood(volume: np.ndarray, index: int, n: int) -> np.ndarray:
    """The n slices centred on `index` (n odd), edge slices repeated past either end."""
    half = n // 2
    idx = np.clip(np.arange(index - half, index + half + 1), 0, len(volume) - 1)
    return volume[idx]


def enhance_iter(volume: np.ndarray, context: Context, model: EnhanceNet
                 ) -> Generator[Progress, None, np.ndarray]:
    """Enhance a standardised volume (n_slices, ny, nx) slice by slice under `context`; yields
    one Progress per slice and returns the float32 result of the same shape.

    The 7-slice (3D) network gets each slice's neighbourhood with the edge slices repeated.
    Inference mode is entered per slice, never held across a yield (the consumer may run other
    torch code or stop in between).
    """
    vol = np.asarray(volume)
    if vol.ndim != 3 or min(vol.shape) < 1:
        raise ValueError(f"a volume is (n_slices, ny, nx); got shape {tuple(vol.shape)}")
    if np.iscomplexobj(vol) or not np.all(np.isfinite(vol)):
        raise ValueError("the volume must be real and finite")
    if not isinstance(context, Context):
        raise ValueError(f"context must be a Context, got {type(context).__name__}")
    vol = vol.astype(np.float32, copy=False)
    n_in = model.config.in_slices
    device = next(model.parameters(), torch.empty(0)).device  # CPU for a weightless model
    model.eval().to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # ~1.7× faster on CPU
    ctx = torch.from_numpy(context.to_vector())[None].to(device)
    out = np.empty(vol.shape, np.float32)
    n = len(vol)
    yield Progress("enhance", 0.0, f"enhancing {n} slice(s), NRF {context.nrf:g}")
    for i in range(n):
        stack = neighbourhood(vol, i, n_in) if n_in > 1 else vol[i:i + 1]
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(stack))[None].to(device)
            out[i] = model(x, ctx)[0, 0].float().cpu().numpy()
        yield Progress("enhance", (i + 1) / n, f"slice {i + 1}/{n}")
    return out


def enhance_image(model: EnhanceNet, image: np.ndarray, context: Context) -> np.ndarray:
    """One raw 2D slice (ny, nx) or stack (n, ny, nx) through `enhance_iter` at the app's scale
    convention (divided by `enhance_scale`, multiplied back): for calibration and benchmarks."""
    from headtwin_app.core.recon.predict import run_to_end

    s = np.float32(enhance_scale(image))
    vol = (image[None] if image.ndim == 2 else image).astype(np.float32) / s
    out = run_to_end(enhance_iter(vol, context, model)) * s
    return out[0] if image.ndim == 2 else out
