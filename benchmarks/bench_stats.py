"""Summary statistics the benchmarks share: mean ± sd, and paired differences with a 95 %
t-interval (scipy's t quantile)."""

from __future__ import annotations

import math

import numpy as np


def mean_sd(values: list[float]) -> dict[str, float]:
    """Mean, sample sd (nan with one value) and count."""
    return {"mean": float(np.mean(values)),
            "sd": float(np.std(values, ddof=1)) if len(values) > 1 else float("nan"),
            "n": len(values)}


def t_interval(diffs: list[float]) -> dict[str, float]:
    """Mean of paired differences with a 95 % t-interval (nan bounds with one pair)."""
    from scipy.stats import t

    n = len(diffs)
    mean = float(np.mean(diffs))
    if n < 2:
        return {"mean": mean, "lo": float("nan"), "hi": float("nan"), "sd": float("nan"), "n": n}
    sd = float(np.std(diffs, ddof=1))
    half = float(t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "sd": sd, "n": n}
