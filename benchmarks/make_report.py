"""Assemble docs/BENCHMARKS.md from the per-area sections in docs/benchmarks/*.md.

Each section is written by its benchmark's author from that benchmark's JSON in
benchmarks/results/; this script adds the machine and commit header and a fixed order.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from machine_info import cpu_model, git_commit

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["summary", "phantom", "designer", "recon", "seg", "seg_contrast", "real_heads",
         "labelling", "grow", "grow_real",
         "uncertainty", "mesh", "pipeline", "export", "reliability", "cs",
         "cardiac_velocity", "cardiac_interp", "cardiac_phase", "cardiac_phase_selection",
         "cine_recon", "cine_ablation",
         "enhance"]


def main() -> None:
    commit = git_commit()
    sections = sorted((ROOT / "docs" / "benchmarks").glob("*.md"),
                      key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else 99, p.stem))
    head = [
        "# Benchmarks",
        "",
        f"Assembled {date.today()} at commit `{commit}` by `python benchmarks/make_report.py` from",
        "the sections in `docs/benchmarks/` (raw numbers: `benchmarks/results/*.json`).",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} logical cores, no GPU; shared and noisy, so",
        "figures are medians over repeats and ratios are measured within one run. Each section",
        "names the script that produced it and the commit it ran at.",
        "",
    ]
    body = [p.read_text(encoding="utf-8").strip() + "\n" for p in sections]
    (ROOT / "docs" / "BENCHMARKS.md").write_text("\n".join(head) + "\n" + "\n".join(body),
                                                 encoding="utf-8")
    print(f"wrote docs/BENCHMARKS.md from {len(sections)} sections")


if __name__ == "__main__":
    main()
