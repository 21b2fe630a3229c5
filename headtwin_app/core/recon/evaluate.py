"""Quality of zero-filled, CS and cascade reconstructions on a set of 2D images.

Metrics follow the project convention (core.metrics): magnitude images, PSNR and SSIM with
data_range = max(ground truth), SSIM with scikit-image's 7×7 window.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from headtwin_app.core.metrics import psnr, ssim
from headtwin_app.core.recon.cascade import CascadeNet
from headtwin_app.core.recon.data import recon_mask, undersample
from headtwin_app.core.recon.predict import reconstruct


def evaluate(images: Sequence[np.ndarray], family: str, accel: float,
             methods: Sequence[str] = ("zf", "cs", "cascade"), model: CascadeNet | None = None,
             seed: int = 0) -> dict[str, dict[str, float]]:
    """Mean PSNR/SSIM per method over `images` (each undersampled with its own seeded mask).

    Returns:
        {method: {"psnr": dB, "ssim": ..., "seconds": total}}; "achieved_accel" is added at
        the top level as the mean achieved R.
    """
    acc: dict[str, dict[str, list[float]]] = {m: {"psnr": [], "ssim": [], "seconds": []}
                                              for m in methods}
    achieved = []
    for i, img in enumerate(images):
        img = np.asarray(img, np.float32)
        mask = recon_mask(family, img.shape, accel, seed + i)
        achieved.append(mask.size / max(1, int(mask.sum())))
        k0, _ = undersample(img, mask)
        for m in methods:
            rec, sec = reconstruct(m, k0, mask, model)
            acc[m]["psnr"].append(psnr(img, rec))
            acc[m]["ssim"].append(ssim(img, rec))
            acc[m]["seconds"].append(sec)
    out: dict = {m: {"psnr": float(np.mean(v["psnr"])), "ssim": float(np.mean(v["ssim"])),
                     "seconds": float(np.sum(v["seconds"]))} for m, v in acc.items()}
    out["achieved_accel"] = float(np.mean(achieved))
    return out
