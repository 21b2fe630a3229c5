"""Requested noise reduction → the context NRF that delivers it, measured once per model.

Why: the training target keeps its own noise, which the input shares, so even an ideal network
reduces noise by NRF² (not NRF), and a small real one by something else again. The all-in-one
paper's tunable denoising (§3.2) promises "requested factor = measured factor"; a table measured
on validation images (never the benchmark's held-out ones) makes that hold, and says where a
request is out of the model's reach.

Measured reduction = input noise / output noise, each the standard deviation of the difference
of two independent noise realisations ÷ √2 inside bright tissue (where a magnitude image's noise
is Gaussian), the same method as the benchmark.

One scalar *level* s sets the network: s ≥ 1 is the context NRF; s < 1 keeps context NRF 1 and
mixes the output with the input, output = s · network + (1 − s) · input, for reductions below
what the network does at NRF 1 (a small network still denoises there; the mix also weakens its
other corrections, and the enhancement report says when it is used).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import replace
from typing import Any

import numpy as np

from headtwin_app.core.enhance.context import NRF_RANGE
from headtwin_app.core.enhance.degrade import Degradation, simulate_pair
from headtwin_app.core.enhance.predict import enhance_image
from headtwin_app.core.seg.backend import Progress

REQUESTED = (1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0)
CONTEXT_GRID = tuple(float(v) for v in np.geomspace(NRF_RANGE[0], NRF_RANGE[1], 11))
LEVELS = tuple(round(0.1 * i, 1) for i in range(10)) + CONTEXT_GRID  # mix, then context NRF
TARGET_NOISE = (0.01, 0.05)  # σ_t / p99 drawn per image, as training draws it
META_KEY = "nrf_calibration"
FLAT = 1e-3  # responses within 0.1 % of each other count as equal


def tissue_mask(image: np.ndarray, sigma_t: float, max_factor: float) -> np.ndarray:
    """Bright tissue inside the head: there a magnitude image's noise is Gaussian even at the
    strongest noise asked for (signal ≥ 4 · max_factor · σ_t)."""
    from scipy import ndimage

    img = np.abs(np.asarray(image, np.float64))
    p99 = float(np.percentile(img, 99))
    head = ndimage.binary_fill_holes(img > 0.1 * float(img.max()))
    return np.asarray(head & (img >= max(0.25 * p99, 4 * max_factor * sigma_t)), bool)


def mix(output: np.ndarray, image: np.ndarray, level: float) -> np.ndarray:
    """The level's output: the network's own for level ≥ 1, else level · output + the rest of
    the input."""
    if level >= 1.0:
        return output
    return (level * output + (1.0 - level) * image).astype(output.dtype, copy=False)


def reduction(model: Any, image: np.ndarray, factor: float, levels: list[float],
              target_noise_rel: float, seed: int, mask: np.ndarray | None = None
              ) -> tuple[float, list[float]]:
    """Input noise (÷ σ_t: ≈ factor) and the measured reduction at each level, for `image`
    degraded by noise alone to an exact NRF `factor` (two realisations)."""
    deg = Degradation(noise_sigma_rel=math.sqrt(max(factor * factor - 1.0, 0.0)))
    rng = np.random.default_rng(seed)
    pa = simulate_pair(image, deg, np.random.default_rng(rng.integers(2**31)), target_noise_rel)
    pb = simulate_pair(image, deg, np.random.default_rng(rng.integers(2**31)), target_noise_rel)
    sigma_t = float(pa.info["sigma_target"])
    if mask is None:
        mask = tissue_mask(image, sigma_t, factor)
    if mask.sum() < 50:
        raise ValueError("too little bright tissue in the image to measure its noise")
    s_in = float(np.std((pa.input - pb.input)[mask])) / math.sqrt(2)
    outputs: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    out = []
    for level in levels:
        c = max(float(level), 1.0)
        if c not in outputs:
            ctx = replace(pa.context, nrf=c)
            outputs[c] = (enhance_image(model, pa.input, ctx), enhance_image(model, pb.input, ctx))
        oa, ob = (mix(o, i, level) for o, i in zip(outputs[c], (pa.input, pb.input), strict=True))
        out.append(s_in / max(float(np.std((oa - ob)[mask])) / math.sqrt(2), 1e-12))
    return s_in / sigma_t, out


def invert(requested: float, levels: list[float], response: list[float]) -> tuple[float, bool]:
    """The level whose (monotone-enveloped) response equals `requested`, interpolated linearly
    in log response; clamped to the ends, with False when the request is out of reach."""
    raw = np.asarray(response, np.float64)
    r = np.maximum.accumulate(raw)
    g = np.asarray(levels, np.float64)
    if requested <= r[0]:
        return float(g[0]), bool(math.isclose(requested, r[0], rel_tol=0.05))
    if requested >= r[-1]:
        return float(g[-1]), bool(math.isclose(requested, r[-1], rel_tol=0.05))
    # levels in a dip (below the envelope) are dropped; of a flat run of equal responses (within
    # 0.1 %) the last is kept, where the response starts to rise (np.interp needs increasing x)
    on = np.flatnonzero(raw >= r * (1 - FLAT))
    keep = on[np.concatenate((np.diff(r[on]) > FLAT * r[on][:-1], [True]))]
    return float(np.interp(math.log(requested), np.log(r[keep]), g[keep])), True


def calibrate_steps(model: Any, images: list[np.ndarray], seed: int = 0
                    ) -> Generator[Progress, None, dict[str, Any]]:
    """Measure the response on `images` (2D slices) for every requested factor and level and
    return the table to store in the model's metadata under META_KEY."""
    if model.config.in_slices != 1:
        raise ValueError("calibration measures the 2D network on 2D slices")
    if not images:
        raise ValueError("calibration needs images")
    rng = np.random.default_rng(seed)
    grid = list(LEVELS)
    per: list[list[list[float]]] = []  # requested × image × level
    inputs: list[list[float]] = []
    n = len(REQUESTED) * len(images)
    for i, f in enumerate(REQUESTED):
        rows, ins = [], []
        for j, img in enumerate(images):
            tnr = float(rng.uniform(*TARGET_NOISE))
            s_in, resp = reduction(model, img, f, grid, tnr, int(rng.integers(2**31)))
            rows.append(resp)
            ins.append(s_in)
            k = i * len(images) + j + 1
            yield Progress("calibrate", k / n, f"factor {f:g}, image {j + 1}/{len(images)}")
        per.append(rows)
        inputs.append(ins)
    response = [np.mean(rows, axis=0).tolist() for rows in per]
    table = [invert(f, grid, resp) for f, resp in zip(REQUESTED, response, strict=True)]
    chosen = np.maximum.accumulate([c for c, _ in table])  # a larger request never gets less
    return {"requested": list(REQUESTED), "level": [float(c) for c in chosen],
            "reachable": [ok for _, ok in table], "levels": grid, "response": response,
            "input_noise_over_sigma_t": [float(np.mean(v)) for v in inputs],
            "n_images": len(images), "seed": seed,
            "method": "std of the difference of two noise realisations / sqrt 2 in bright "
                      "tissue; noise-only degradations at an exact NRF = the requested factor"}


def setting(model: Any, requested: float) -> tuple[float, float, str]:
    """(context NRF, mix weight, how chosen) for a requested reduction: from the model's
    calibration table (its levels interpolated linearly, clamped to its ends), else the request
    itself with no mixing."""
    meta = getattr(model, "meta", None)
    cal: Any = meta.get(META_KEY) if isinstance(meta, dict) else None
    try:
        req = np.log(np.asarray(cal["requested"], np.float64))
        lev = np.asarray(cal["level"], np.float64)
        if req.ndim != 1 or req.shape != lev.shape or len(req) < 2 or np.any(np.diff(req) <= 0) \
                or not np.all(np.isfinite(lev)) or np.any(lev < 0):
            raise ValueError
    except (TypeError, KeyError, ValueError):
        return float(requested), 1.0, "uncalibrated: the request itself"
    level = float(np.interp(math.log(requested), req, lev))
    nrf = min(max(level, 1.0), float(NRF_RANGE[1]))
    lo, hi = math.exp(req[0]), math.exp(req[-1])
    how = f"calibrated ({'within' if lo <= requested <= hi else 'clamped to'} the measured " \
          f"{lo:g}–{hi:g} range)"
    if level < 1.0:
        how += f"; the output mixed {level:.2f} : {1 - level:.2f} with the input (the network " \
               "alone denoises more than asked even at NRF 1)"
    return nrf, min(level, 1.0), how


def calibration_images(n: int) -> list[np.ndarray]:
    """`n` slices of the validation split spread over the volume (never the bench's held-out
    images), each with enough bright tissue to measure noise in."""
    from headtwin_app.core.enhance.train import enhance_training_images

    val = [im for im in enhance_training_images("val") if np.mean(im > 0.25 * im.max()) > 0.1]
    if not val:
        raise ValueError("no validation slice has enough tissue to calibrate on")
    idx = np.linspace(0, len(val) - 1, min(n, len(val))).round().astype(int)
    return [val[i] for i in sorted(set(idx.tolist()))]


def calibrate_file(path: Any, n_images: int = 6, seed: int = 0
                   ) -> Generator[Progress, None, dict[str, Any]]:
    """Calibrate the model in `path` and store the table in its metadata (the file is
    rewritten atomically); returns the table."""
    from headtwin_app.core.enhance.predict import load_enhance_model, save_enhance_model

    model = load_enhance_model(path)
    if model.config.variant == "plain":
        raise ValueError(f"{path}: the plain variant reads no context, so it has no NRF to "
                         "calibrate")
    table = yield from calibrate_steps(model, calibration_images(n_images), seed)
    save_enhance_model(model, path, {**model.meta, META_KEY: table})  # type: ignore[dict-item]
    return table
