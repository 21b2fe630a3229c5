"""Training and test subjects for the cardiac networks, and the paper's intensity scaling.

Subjects are phantom seeds: training and validation seeds never overlap the held-out test seeds
the benchmarks report. Cases are generated once into the cache (`$HEADTWIN_CACHE/cardiac`).
Magnitude is scaled to [−1, 1] per case (its 99.5th percentile → 1; no signal → −1, so the
paper's background threshold −0.95 applies) and phase φ ∈ (−π, π] to φ / π.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from headtwin_app.core.cardiac.phantom import GENERATOR_VERSION, CardiacCase, make_case
from headtwin_app.core.cardiac.store import load_case, save_case

SEEDS_TRAIN = tuple(range(1000, 1016))
SEEDS_VAL = (1100, 1101)
MAX_TRAIN_SUBJECTS = SEEDS_VAL[0] - SEEDS_TRAIN[0]  # training seeds never reach validation ones
SEEDS_TEST = (1, 2, 3, 4, 5)
BACKGROUND = -0.95  # scaled magnitude below this is background (paper §III-B)


def train_seeds(n: int) -> tuple[int, ...]:
    """The first `n` training seeds (1000, 1001, …); `SEEDS_TRAIN` is the first 16."""
    if not 1 <= n <= MAX_TRAIN_SUBJECTS:
        raise ValueError(f"training subjects must be 1…{MAX_TRAIN_SUBJECTS}, got {n}")
    return tuple(range(SEEDS_TRAIN[0], SEEDS_TRAIN[0] + n))


def case_dir(seed: int, root: str | os.PathLike[str] | None = None) -> Path:
    from headtwin_app.core.phantom.storage import cache_root

    base = Path(root) if root is not None else cache_root() / "cardiac"
    return base / f"gen{GENERATOR_VERSION}" / f"seed{seed}"


def ensure_cases(seeds: Iterable[int], root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Case folders of the default phantom (50 frames, 3 slices, 128², seeded SNR), made once."""
    out = []
    for seed in seeds:
        d = case_dir(seed, root)
        if not (d / "case.json").is_file():
            save_case(make_case(seed), d)
        out.append(d)
    return out


def load_cases(seeds: Iterable[int], root: str | os.PathLike[str] | None = None
               ) -> list[CardiacCase]:
    return [load_case(d) for d in ensure_cases(seeds, root)]


def scale_of(magnitude: np.ndarray) -> float:
    return float(np.percentile(magnitude, 99.5)) or 1.0


def norm_magnitude(magnitude: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Magnitude → [−1, 1] (the case's 99.5th percentile → 1)."""
    s = scale_of(magnitude) if scale is None else scale
    return np.clip(2.0 * magnitude / s - 1.0, -1.0, 1.0).astype(np.float32)


def denorm_magnitude(scaled: np.ndarray, scale: float) -> np.ndarray:
    return ((np.asarray(scaled, np.float32) + 1.0) * 0.5 * scale).astype(np.float32)


def norm_phase(phase: np.ndarray) -> np.ndarray:
    return (np.asarray(phase, np.float32) / np.pi).astype(np.float32)


def lv_centre(lv_mask: np.ndarray) -> tuple[int, int]:
    """In-plane centre (voxel indices) of the LV over all slices and frames."""
    idx = np.nonzero(lv_mask > 0)
    if len(idx[0]) == 0:
        return lv_mask.shape[0] // 2, lv_mask.shape[1] // 2
    return int(round(idx[0].mean())), int(round(idx[1].mean()))


def crop_box(lv_mask: np.ndarray, size: int) -> tuple[slice, slice]:
    """A size × size in-plane window centred on the LV, kept inside the image."""
    cx, cy = lv_centre(lv_mask)
    nx, ny = lv_mask.shape[:2]
    x0 = int(np.clip(cx - size // 2, 0, max(nx - size, 0)))
    y0 = int(np.clip(cy - size // 2, 0, max(ny - size, 0)))
    return slice(x0, x0 + size), slice(y0, y0 + size)
