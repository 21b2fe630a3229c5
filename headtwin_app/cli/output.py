"""Printing results: JSON on stdout for --json, a short human summary otherwise."""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def emit(result: dict[str, Any], as_json: bool) -> None:
    """Print `result` as one JSON object (stable contract) or as `key: value` lines."""
    if as_json:
        json.dump(result, sys.stdout, default=_default, indent=1)
        sys.stdout.write("\n")
    else:
        for key, value in result.items():
            if isinstance(value, float):
                value = f"{value:.4g}"
            print(f"{key}: {value}")
