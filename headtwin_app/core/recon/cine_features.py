"""The app's own feature encoder for the cine feature loss: the encoder half of a small
denoising autoencoder trained on the training cines' frames (no ImageNet VGG can be downloaded
here). What it learns is how this domain's images are built — edges, texture, flat regions —
which is what a feature loss needs; it never saw a validation or test sequence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from headtwin_app.core.package_data import MODELS_DIR
from headtwin_app.core.recon.cine_losses import FeatureEncoder, frozen
from headtwin_app.core.weights import (
    ModelFileError,
    build_checked,
    load_weights,
    save_weights,
    state_dict_of,
)

FEATURES_FORMAT = "headtwin-cine-features"
DEFAULT_FEATURES = MODELS_DIR / "cine_features.pt"
WIDTHS = (16, 32)


class _Decoder(nn.Module):
    """Back from the second block's features to the image (training only)."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.ConvTranspose2d(b, a, 2, stride=2), nn.ReLU(),
                                 nn.Conv2d(a, a, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(a, 1, 3, padding=1))

    def forward(self, f2: torch.Tensor) -> torch.Tensor:
        return self.net(f2)[:, 0]


def _crops(frames: np.ndarray, n: int, patch: int, rng: np.random.Generator) -> torch.Tensor:
    """`n` random patch² crops of random frames, each scaled to its frame's 99th percentile."""
    out = np.empty((n, patch, patch), np.float32)
    for i in range(n):
        f = frames[int(rng.integers(len(frames)))]
        y0 = int(rng.integers(f.shape[0] - patch + 1))
        x0 = int(rng.integers(f.shape[1] - patch + 1))
        c = f[y0:y0 + patch, x0:x0 + patch]
        out[i] = c / max(float(np.percentile(f, 99)), 1e-6)
    return torch.from_numpy(out)


def train_encoder(frames: np.ndarray, minutes: float = 3.0, seed: int = 0, patch: int = 64,
                  batch: int = 16, noise: float = 0.1, log: Callable[[str], None] | None = None
                  ) -> tuple[FeatureEncoder, dict[str, Any]]:
    """Train the encoder and a throw-away decoder to remove Gaussian noise (σ = `noise` × the
    99th percentile) from crops of `frames` (N, H, W); returns the frozen encoder, calibrated
    on training crops, and the loss history."""
    if frames.ndim != 3 or min(frames.shape[1:]) < 16:
        raise ValueError("need frames (N, H, W) of at least 16² pixels")
    patch = min(patch, *frames.shape[1:]) // 2 * 2  # small frames: whole-frame crops
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    enc, dec = FeatureEncoder(WIDTHS), _Decoder(*WIDTHS)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], 1e-3)
    hist: dict[str, Any] = {"loss": []}
    t0, step = time.perf_counter(), 0
    while time.perf_counter() - t0 < minutes * 60:
        clean = _crops(frames, batch, patch, rng)
        noisy = clean + noise * torch.randn_like(clean)
        loss = (dec(enc.block2(enc.block1(noisy[:, None]))) - clean).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        hist["loss"].append(float(loss))
        if log and step % 100 == 0:
            log(f"step {step}: loss {np.mean(hist['loss'][-100:]):.4g}")
    enc.calibrate(_crops(frames, 64, patch, rng))
    hist.update(steps=step, seconds=time.perf_counter() - t0, noise=noise, patch=patch)
    return frozen(enc), hist


def save_encoder(enc: FeatureEncoder, path: str | Path, meta: dict[str, Any]) -> Path:
    """The encoder's weights (with its feature scale) and metadata, written atomically."""
    state = {k: v.detach().cpu() for k, v in enc.state_dict().items()}
    return save_weights({"format": FEATURES_FORMAT, "version": 1, "widths": list(enc.widths),
                         "state_dict": state, "meta": meta}, path)


def load_encoder(path: str | Path = DEFAULT_FEATURES) -> FeatureEncoder:
    """The frozen trained encoder stored in `path`; ModelFileError otherwise."""
    p = Path(path)
    ck = load_weights(p, "HeadTwin cine feature encoder", "feature encoder file not found")
    widths = ck.get("widths")
    if ck.get("format") != FEATURES_FORMAT or not (
            isinstance(widths, list) and len(widths) == 2
            and all(isinstance(w, int) and 1 <= w <= 512 for w in widths)):
        raise ModelFileError(f"{p}: not a HeadTwin cine feature encoder")
    state = state_dict_of(ck, p, "cine feature encoder")
    enc = build_checked(lambda: FeatureEncoder((widths[0], widths[1])), state, p,
                        "cine feature encoder")
    return frozen(enc)
