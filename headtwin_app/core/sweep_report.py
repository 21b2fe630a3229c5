"""Sweep results as files: CSV, a PSNR/SSIM-versus-R plot (PNG), and a Table 2-style table."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from headtwin_app.core.atomic import atomic_write, atomic_write_bytes
from headtwin_app.core.errors import OutputError

# The head-twin paper's Table 2 (zero-filled iFFT of their 3D PDw head scans):
# family → (PSNR 4×, PSNR 8×, SSIM 4×, SSIM 8×), as printed.
PAPER_TABLE2: dict[str, tuple[float, float, float, float]] = {
    "random_line": (20.80, 23.23, 0.3003, 0.4984),
    "random_points": (20.47, 22.60, 0.1672, 0.3277),
    "cartesian": (29.04, 32.73, 0.6740, 0.7987),
    "upper_half": (18.68, 21.35, 0.1768, 0.4579),
    "radial": (29.30, 31.72, 0.5276, 0.6609),
    "spiral": (30.18, 33.04, 0.5630, 0.7038),
}

ROW_KEYS = ("mask", "combined_with", "dims", "accel_requested", "accel_achieved", "psnr",
            "ssim", "nmse", "scan_time_s", "scan_time_full_s", "error")


PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def check_csv_suffix(path: str | os.PathLike[str]) -> None:
    """The file type follows the suffix: a CSV file must be named .csv."""
    if Path(path).suffix.lower() != ".csv":
        raise OutputError(f"{path}: a CSV file must end in .csv")


def check_plot_suffix(path: str | os.PathLike[str]) -> None:
    if Path(path).suffix.lower() not in PLOT_SUFFIXES:
        raise OutputError(f"{path}: a plot must end in {', '.join(PLOT_SUFFIXES)}")


def write_csv(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """One line per (mask, R) with the sweep's keys, written atomically."""
    check_csv_suffix(path)
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=list(ROW_KEYS), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in ROW_KEYS})
    return atomic_write_bytes(path, buf.getvalue().encode("utf-8"))


def write_plot(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str],
               title: str = "") -> Path:
    """PSNR and SSIM against R, one line per family (matplotlib Agg canvas, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax_p, ax_s = fig.subplots(1, 2)
    families = list(dict.fromkeys(r["mask"] for r in rows))
    for fam in families:
        pts = sorted((r["accel_requested"], r["psnr"], r["ssim"]) for r in rows
                     if r["mask"] == fam and r.get("psnr") is not None)
        if not pts:
            continue
        label = fam
        combined = {str(r["combined_with"]) for r in rows
                    if r["mask"] == fam and r.get("combined_with")}
        if combined:
            label += f" (×{'/'.join(sorted(combined))} beyond its cap)"
        ax_p.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=label)
        ax_s.plot([p[0] for p in pts], [p[2] for p in pts], "o-", label=label)
    for ax, name in ((ax_p, "PSNR (dB)"), (ax_s, "SSIM")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("acceleration R")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
    ax_s.legend(fontsize=7, loc="best")
    fig.suptitle(title or "Zero-filled reconstruction vs acceleration "
                 "(PSNR/SSIM, data_range = max(gt))", fontsize=10)
    fig.tight_layout()
    check_plot_suffix(path)
    return atomic_write(path, lambda tmp: fig.savefig(str(tmp)))


def table2_rows(rows: Sequence[dict[str, Any]],
                accels: Sequence[float] = (4.0, 8.0)) -> list[dict[str, Any]]:
    """Rows laid out like the paper's Table 2: one per family, PSNR and SSIM at each R."""
    out = []
    for fam in dict.fromkeys(r["mask"] for r in rows):
        entry: dict[str, Any] = {"mask": fam}
        for a in accels:
            hit = next((r for r in rows if r["mask"] == fam
                        and abs(r["accel_requested"] - a) < 1e-9), None)
            entry[f"psnr_{a:g}x"] = None if hit is None else hit.get("psnr")
            entry[f"ssim_{a:g}x"] = None if hit is None else hit.get("ssim")
        out.append(entry)
    return out


def table2_markdown(rows: Sequence[dict[str, Any]], accels: Sequence[float] = (4.0, 8.0)) -> str:
    """A markdown table: mask | PSNR 4× | PSNR 8× | SSIM 4× | SSIM 8×."""
    head = ("| mask | " + " | ".join(f"PSNR {a:g}×" for a in accels) + " | "
            + " | ".join(f"SSIM {a:g}×" for a in accels) + " |")
    sep = "|---" * (1 + 2 * len(accels)) + "|"
    lines = [head, sep]
    for e in table2_rows(rows, accels):
        def f(v: Any, nd: int) -> str:
            return "–" if v is None else f"{v:.{nd}f}"
        ps = " | ".join(f(e[f"psnr_{a:g}x"], 2) for a in accels)
        ss = " | ".join(f(e[f"ssim_{a:g}x"], 4) for a in accels)
        lines.append(f"| {e['mask']} | {ps} | {ss} |")
    return "\n".join(lines)
