"""The cine jobs the GUI and the CLI share: a k-t mask preview (mask, x-f PSF, peak sidelobe,
achieved R) and undersample → reconstruct → metrics."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np

from headtwin_app.core.kt_masks import (
    achieved_accel_kt,
    make_kt_mask,
    psf_peak_sidelobe,
    xf_psf,
)
from headtwin_app.core.recon.cine_metrics import sequence_metrics
from headtwin_app.core.recon.cine_predict import reconstruct_cine_iter, undersample_cine


def mask_preview(family: str, shape: tuple[int, int, int], accel: float, seed: int,
                 **params: Any) -> dict[str, Any]:
    """The k-t mask of these parameters with its x-f PSF, peak sidelobe and achieved R."""
    mask = make_kt_mask(family, shape, accel, seed, **params)
    psf = xf_psf(mask)
    return {"family": family, "accel": accel, "seed": seed, "mask": mask, "psf": psf,
            "sidelobe": float(psf_peak_sidelobe(psf)),
            "achieved": float(achieved_accel_kt(mask))}


def check_cine(seq: Any) -> np.ndarray:
    """`seq` as a float32 (frames, ny, nx) magnitude cine, or a ValueError saying why not."""
    arr = np.asarray(seq)
    if arr.ndim != 3:
        raise ValueError(f"a cine is a 3D array (frames, ny, nx); this one has shape {arr.shape}")
    if arr.shape[0] < 2:
        raise ValueError(f"a cine needs at least 2 frames; this one has {arr.shape[0]}")
    if min(arr.shape[1:]) < 8:
        raise ValueError(f"the frames are too small ({arr.shape[1]} × {arr.shape[2]})")
    if np.iscomplexobj(arr):
        arr = np.abs(arr)
    return np.asarray(arr, dtype=np.float32)


def cine_recon_steps(seq: np.ndarray, family: str, accel: float, seed: int, method: str,
                     model_path: str | None = None, **mask_params: Any
                     ) -> Generator[Any, None, dict[str, Any]]:
    """Mask, undersample, reconstruct (its progress passed on), then the metrics of the
    zero-filled and the reconstructed magnitudes against `seq`; yields stage names and
    `Progress`, returns the mask, both magnitudes, the metrics and the reconstruction seconds."""
    import time

    yield "undersampling"
    mask = make_kt_mask(family, seq.shape, accel, seed, **mask_params)
    k0, x_zf = undersample_cine(seq, mask)
    yield "reconstructing"
    gen = reconstruct_cine_iter(method, k0, mask, model_path=model_path)
    t0 = time.perf_counter()
    rec = yield from gen
    seconds = time.perf_counter() - t0
    yield "metrics"
    zf_mag, rec_mag = np.abs(x_zf), np.abs(rec).astype(np.float32)
    return {"method": method, "mask": mask, "zero_filled": zf_mag, "recon": rec_mag,
            "seconds": seconds, "accel_achieved": float(achieved_accel_kt(mask)),
            "metrics": {"zf": sequence_metrics(seq, zf_mag),
                        method: sequence_metrics(seq, rec_mag)}}
