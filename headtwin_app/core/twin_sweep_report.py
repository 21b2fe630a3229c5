"""Twin-sweep results as files: a CSV row per (family, R, method), Dice-vs-R and heat-map PNGs."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from headtwin_app.core.atomic import atomic_write, atomic_write_bytes
from headtwin_app.core.sweep_report import check_csv_suffix, check_plot_suffix

BASE_KEYS = ("family", "accel", "method", "accel_achieved", "psnr", "ssim", "seconds", "error")


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    """One CSV line: image metrics, mean scores, then Dice/HD95 per structure, vs truth and full."""
    out = {k: row.get(k) for k in BASE_KEYS}
    for ref in ("vs_truth", "vs_full"):
        scores = row.get(ref) or {}
        for key in ("mean_dice", "mean_hd95_mm", "mean_assd_mm"):
            out[f"{ref}.{key}"] = scores.get(key)
        for key in ("dice", "hd95_mm"):
            for name, value in (scores.get(key) or {}).items():
                out[f"{ref}.{key}.{name}"] = value
    return out


def write_csv(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    check_csv_suffix(path)
    flat = [flat_row(r) for r in rows]
    keys: list[str] = []
    for r in flat:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    for r in flat:
        writer.writerow({k: "" if r.get(k) is None or (isinstance(r.get(k), float)
                                                     and math.isnan(r[k])) else r[k]
                         for k in keys})
    return atomic_write_bytes(path, buf.getvalue().encode("utf-8"))


def _png(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Save a figure as `write_plot` does (Agg canvas, atomic write, type by suffix)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    check_plot_suffix(path)
    FigureCanvasAgg(fig)
    return atomic_write(path, lambda tmp: fig.savefig(str(tmp), dpi=110))


def plot_dice(result: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Twin mean Dice against the truth versus R: one panel per family, a line per method, the
    fully sampled twin as a dashed line."""
    from matplotlib.figure import Figure

    rows = [r for r in result["rows"] if not r.get("error")]
    families = list(dict.fromkeys(r["family"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig = Figure(figsize=(3.6 * len(families), 3.4), layout="constrained")
    axes = fig.subplots(1, len(families), sharey=True, squeeze=False)[0]
    for ax, fam in zip(axes, families, strict=True):
        for m in methods:
            pts = sorted((r["accel"], r["vs_truth"]["mean_dice"]) for r in rows
                         if r["family"] == fam and r["method"] == m)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=m)
        ax.axhline(result["full"]["mean_dice"], ls="--", c="k", lw=1, label="fully sampled")
        ax.set_xscale("log", base=2)
        accels = sorted({r["accel"] for r in rows})
        ax.set_xticks(accels, [f"{a:g}" for a in accels])
        ax.minorticks_off()
        ax.set_title(fam)
        ax.set_xlabel("acceleration R")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("twin mean Dice vs truth")
    axes[-1].legend(fontsize=8)
    return _png(fig, path)


def plot_heatmap(result: dict[str, Any], path: str | os.PathLike[str],
                 method: str | None = None) -> Path:
    """Dice per structure (rows) × (family, R) (columns) for one method (default: the last one
    swept, usually the cascade), fully sampled in the first column."""
    from matplotlib.figure import Figure

    rows = [r for r in result["rows"] if not r.get("error")]
    method = method or rows[-1]["method"]
    rows = [r for r in rows if r["method"] == method]
    names = list(result["full"]["dice"])
    cols = [("fully sampled", result["full"]["dice"])] + [
        (f"{r['family']} R {r['accel']:g}", r["vs_truth"]["dice"]) for r in rows]
    grid = np.array([[c[1].get(n, np.nan) for c in cols] for n in names], float)
    fig = Figure(figsize=(1.0 + 0.62 * len(cols), 0.9 + 0.28 * len(names)), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(grid, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(cols)), [c[0] for c in cols], fontsize=7, rotation=45,
                  ha="right", rotation_mode="anchor")
    ax.set_yticks(range(len(names)), names, fontsize=7)
    for (i, j), v in np.ndenumerate(grid):
        if not np.isnan(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                    color="w" if v < 0.6 else "k")
    ax.set_title(f"twin Dice vs truth per structure ({method})", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return _png(fig, path)
