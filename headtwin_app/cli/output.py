"""Printing results: strict JSON on stdout for --json, a short human summary otherwise.

JSON has no NaN or Infinity: such a value is written as null and its place is explained under
"null_reasons" (key path → what the number was), so every output parses with any JSON reader.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import numpy as np


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def strict_json(obj: Any, reasons: dict[str, str], path: str = "") -> Any:
    """`obj` with non-finite floats replaced by None, each recorded in `reasons`."""
    obj = _plain(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        reasons[path or "value"] = ("was NaN (undefined)" if math.isnan(obj) else
                                    f"was {'+' if obj > 0 else '-'}infinity (e.g. PSNR of "
                                    "identical images)")
        return None
    if isinstance(obj, dict):
        return {str(k): strict_json(v, reasons, f"{path}.{k}" if path else str(k))
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v, reasons, f"{path}[{i}]") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def _with_reasons(obj: Any) -> Any:
    reasons: dict[str, str] = {}
    clean = strict_json(obj, reasons)
    if reasons and isinstance(clean, dict):
        clean["null_reasons"] = reasons
    return clean


def dumps(result: Any) -> str:
    """`result` as strict JSON text: non-finite numbers become null, explained under
    "null_reasons" in the object (for a list of objects, in each one)."""
    if isinstance(result, (list, tuple)):
        clean: Any = [_with_reasons(row) for row in result]
    else:
        clean = _with_reasons(result)
    return json.dumps(clean, indent=1, allow_nan=False)


def emit(result: Any, as_json: bool) -> None:
    """Print `result` as one JSON value (stable contract) or as `key: value` lines."""
    if as_json:
        sys.stdout.write(dumps(result) + "\n")
    else:
        for key, value in result.items():
            if isinstance(value, float):
                value = f"{value:.4g}"
            print(f"{key}: {value}")
