"""Choose between candidate phase-synthesis checkpoints on the validation subjects only.

Scores each candidate with `phase_net.curve_score` (per subject the worst direction's curve r
against the true phase, averaged) on validation seeds 1100-1103, never on the test seeds 1-5.
Writes benchmarks/results/cardiac_phase_selection.json and
docs/benchmarks/cardiac_phase_selection.md.
Usage: python benchmarks/select_cardiac_phase.py CANDIDATE.pt [CANDIDATE.pt ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from headtwin_app.core.cardiac.dataset import load_cases  # noqa: E402
from headtwin_app.core.cardiac.phase_net import (  # noqa: E402
    curve_agreement,
    load_phase,
    synthesize_case,
    worst_direction_score,
)

SEEDS_SELECT = (1100, 1101, 1102, 1103)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("candidates", nargs="+", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cases = load_cases(SEEDS_SELECT)
    rows = []
    for path in args.candidates:
        model = load_phase(path)
        per_case = [curve_agreement(c, synthesize_case(c, model=model))["r_vs_true_phase"]
                    for c in cases]
        train = path.with_name(path.stem + ".train.json")
        facts = json.loads(train.read_text()) if train.is_file() else {}
        rows.append({"candidate": str(path), "scheme": model.scheme,
                     "batch": model.config.batch, "select": model.config.select,
                     "cycle_maps": model.config.cycle_maps,
                     "trained_on": facts.get("device_name", facts.get("device")),
                     "steps": facts.get("steps"), "r_per_subject": per_case,
                     "score_mean_worst_direction_r": worst_direction_score(per_case)})
        print(f"{path}: {rows[-1]['score_mean_worst_direction_r']:.3f}", flush=True)
    out = ROOT / "benchmarks" / "results" / "cardiac_phase_selection.json"
    out.write_text(json.dumps({"validation_seeds": SEEDS_SELECT, "candidates": rows},
                              indent=1) + "\n")
    (ROOT / "docs" / "benchmarks" / "cardiac_phase_selection.md").write_text(report(rows))
    print(out)


def report(rows: list[dict[str, Any]]) -> str:
    lines = ["# Cardiac phase synthesis: choosing the shipped checkpoints (validation subjects)",
             "", f"Validation seeds {list(SEEDS_SELECT)} only (the test seeds 1–5 are never "
             "used to choose). Score: per subject the worst direction's curve r (synthesised "
             "vs true phase, K = 0), averaged — synthetic subjects. A checkpoint chosen by "
             "`curve_r` during training was chosen on these same subjects, so its score here "
             "is optimistic; the held-out comparison is the phase-synthesis section.", "",
             "| candidate | scheme | batch | cycle maps | checkpoint by | trained on | steps | "
             "score |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{Path(str(r['candidate'])).name}` | {r['scheme']} | {r['batch']} | "
                     f"{'yes' if r['cycle_maps'] else 'no'} | {r['select']} | "
                     f"{r['trained_on']} | {r['steps']} | "
                     f"{r['score_mean_worst_direction_r']:.3f} |")
    lines += ["", "Reproduce: `python benchmarks/select_cardiac_phase.py CANDIDATE.pt ...`", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
