"""Markdown tables from benchmarks/results/pipeline.json for docs/benchmarks/pipeline.md.

    python benchmarks/pipeline_table.py

The twin-sweep rows (family × R × method: image PSNR/SSIM, twin Dice/HD95/ASSD against the
truth, Dice against the fully sampled twin) beside the head-twin paper's Table 2 (zero-filled
PSNR/SSIM at 4× and 8×, their 3D PDw scans) and Table 3 (cascade ablation).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# The paper's Table 3 (cascade ablation, their data): cascades → (PSNR, SSIM), as printed.
PAPER_TABLE3 = {0: (23.88, 0.7678), 3: (25.32, 0.8215), 5: (28.82, 0.8915)}


def fmt(v: float | None, d: int) -> str:
    return "–" if v is None else f"{v:.{d}f}"


def main() -> None:
    from headtwin_app.core.sweep_report import PAPER_TABLE2

    res = json.loads((ROOT / "benchmarks" / "results" / "pipeline.json").read_text())
    sweep = res["sweep"]
    full = sweep["full"]
    print("| family | R | method | PSNR dB | SSIM | twin Dice | HD95 mm | ASSD mm | Dice vs "
          "fully sampled twin | paper (Table 2 zero-filled / Table 3 5 cascades) PSNR, SSIM |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| fully sampled | 1 | – | – | – | {full['mean_dice']:.4f} | "
          f"{full['mean_hd95_mm']:.2f} | {full['mean_assd_mm']:.3f} | 1 | – |")
    for r in sweep["rows"]:
        paper = "–"
        if r["method"] == "zf" and r["family"] in PAPER_TABLE2 and r["accel"] in (4.0, 8.0):
            p = PAPER_TABLE2[r["family"]]
            k = 0 if r["accel"] == 4.0 else 1
            paper = f"{p[k]:.2f}, {p[2 + k]:.4f}"
        if r["method"] == "cascade" and r["family"] == "cartesian" and r["accel"] == 4.0:
            paper = f"{PAPER_TABLE3[5][0]:.2f}, {PAPER_TABLE3[5][1]:.4f} (R not stated)"
        print(f"| {r['family']} | {r['accel']:g} | {r['method']} | {fmt(r['psnr'], 2)} | "
              f"{fmt(r['ssim'], 4)} | {fmt(r['dice'], 4)} | {fmt(r['hd95_mm'], 2)} | "
              f"{fmt(r['assd_mm'], 3)} | {fmt(r['dice_vs_full'], 4)} | {paper} |")


if __name__ == "__main__":
    main()
