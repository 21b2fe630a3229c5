"""One reconstruction experiment on a case, as a generator the GUI runs in a worker thread.

`case_slices` turns a case image (X, Y, Z) and the designer's mask into encoding-layout slices
(2D: axial slices (Y, X) with the mask on (ky, kx); 3D: a (ky, kz) mask acts on sagittal planes
(Y, Z) after the fully sampled readout X is transformed, so each plane is a 2D problem).
`recon_job` undersamples them, runs the chosen methods and measures each against the ground
truth (project metric convention).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from headtwin_app.core.metrics import nmse, psnr, ssim
from headtwin_app.core.recon.cascade import CascadeNet, truncated
from headtwin_app.core.recon.data import undersample
from headtwin_app.core.recon.predict import load_cascade, reconstruct_iter
from headtwin_app.core.volume import Volume


def case_slices(data: np.ndarray, dims: int, slice_index: int | None = None) -> np.ndarray:
    """Ground-truth slices (N, H, W) in encoding layout for a 2D or 3D mask.

    Args:
        data: the case image (X, Y, Z).
        dims: 2 → axial slices (Y, X); 3 → sagittal planes (Y, Z), one per readout position.
        slice_index: with dims 2, one axial slice (None = every slice).
    """
    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 3:
        raise ValueError(f"expected an (X, Y, Z) image, got shape {data.shape}")
    if dims == 2:
        stack = data.transpose(2, 1, 0)  # (Z, Y, X)
        if slice_index is not None:
            if not 0 <= slice_index < stack.shape[0]:
                raise ValueError(f"slice {slice_index} outside 0..{stack.shape[0] - 1}")
            stack = stack[slice_index:slice_index + 1]
        return np.ascontiguousarray(stack)
    if dims == 3:
        return np.ascontiguousarray(data)  # (X, Y, Z): planes (Y, Z) per readout x
    raise ValueError(f"dims must be 2 or 3, got {dims}")


def slices_to_volume(images: np.ndarray, dims: int, like: Volume) -> Volume:
    """The inverse of `case_slices` for every slice: a reconstruction (N, H, W) back on the case
    image's grid (`like`), so it can be saved, segmented or become the case image."""
    images = np.asarray(images, dtype=np.float32)
    data = images.transpose(2, 1, 0) if dims == 2 else images
    if dims not in (2, 3):
        raise ValueError(f"dims must be 2 or 3, got {dims}")
    if data.shape != like.shape:
        raise ValueError(f"a reconstruction of {len(images)} slice(s) does not fill the case "
                         f"image {like.shape}: reconstruct every slice")
    return like.with_data(np.ascontiguousarray(data), kind="recon")


@dataclass
class ReconResult:
    """Magnitude images (N, H, W) per method, the ground truth, the mask and the metrics."""

    gt: np.ndarray
    mask: np.ndarray
    images: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    n_cascades: int | None = None


def recon_job(gt: np.ndarray, mask: np.ndarray, methods: Sequence[str],
              model: CascadeNet | str | Path | None = None, batch_size: int = 4,
              device: str = "cpu", n_cascades: int | None = None,
              ) -> Generator[tuple[str, int, int], None, ReconResult]:
    """Undersample `gt` (N, H, W) with `mask` (H, W) and reconstruct with each method.

    `model` is a CascadeNet or a checkpoint path (loaded here, on `device`, so a GUI worker
    does the loading off the GUI thread); `n_cascades` runs only the first n blocks.

    Yields (method, slices done, slices total) — every yield is a point where the caller may
    stop — and returns a ReconResult with PSNR/SSIM/NMSE (magnitude, data_range = max(gt),
    2D for one slice, over the whole stack otherwise) and seconds per method.
    """
    gt = np.asarray(gt, dtype=np.float32)
    if gt.ndim == 2:
        gt = gt[None]
    if not methods:
        raise ValueError("choose at least one method")
    if float(gt.max()) <= 0:
        raise ValueError("the image is empty (max <= 0)")
    if "cascade" in methods:
        if model is None:
            raise ValueError("the cascade method needs a model")
        if not isinstance(model, CascadeNet):
            model = load_cascade(model, device)
        if n_cascades is not None:
            model = truncated(model, min(n_cascades, model.config.n_cascades))
    k0, _ = undersample(gt, mask)
    res = ReconResult(gt=gt, mask=np.asarray(mask, bool))
    net = model if isinstance(model, CascadeNet) else None  # loaded above when needed
    if net is not None:
        res.n_cascades = net.config.n_cascades
    for method in methods:
        t0 = time.perf_counter()
        gen = reconstruct_iter(method, k0, mask, net, batch_size)
        while True:
            try:
                done, total = next(gen)
            except StopIteration as stop:
                rec = np.abs(stop.value).astype(np.float32)
                break
            yield method, done, total
        seconds = time.perf_counter() - t0
        if len(gt) == 1:
            s = ssim(gt[0], rec[0])
        elif len(gt) >= 7:
            s = ssim(gt, rec)
        else:
            s = float(np.mean([ssim(a, b) for a, b in zip(gt, rec, strict=True)]))
        res.images[method] = rec
        res.metrics[method] = {"psnr": psnr(gt, rec), "ssim": s, "nmse": nmse(gt, rec),
                               "seconds": seconds,
                               "device": device if method == "cascade" else "cpu"}
    return res
