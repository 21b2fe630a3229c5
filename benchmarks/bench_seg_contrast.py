"""The built-in model on held-out phantom subjects imaged in four contrasts (T1, T2, PD, FLAIR).

    python benchmarks/bench_seg_contrast.py [--seeds 1 2 3] [--model models/seg_builtin.pt]
        [--label shipped] [--contrasts t1 t2 pd flair] [--threads 2]

Each seed is one subject (same anatomy in every contrast; `headtwin phantom --contrast`), 1 mm.
Dice per structure over the whole volume, mean over seeds; mean over the 12 structures. Results
are merged into benchmarks/results/seg_contrast.json under --label, so a baseline model and the
shipped one sit side by side; docs/benchmarks/seg_contrast.md is rewritten from all labels.
Synthetic data: phantoms only, never a real-scan result.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from bench_seg import PAPER, PAPER_MEAN, TITLES, machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "results" / "seg_contrast.json"
DOC = ROOT / "docs" / "benchmarks" / "seg_contrast.md"
CACHE = ROOT / ".cache" / "seg_contrast"


def case(seed: int, contrast: str):  # type: ignore[no-untyped-def]
    from headtwin_app.core.phantom import make_phantom

    return make_phantom(seed, 1.0, contrast)


def run(seeds: list[int], contrasts: list[str], model: Path, threads: int, refine: bool) -> dict:
    from headtwin_app.core.labels import default_label_table
    from headtwin_app.core.metrics_seg import dice_per_label
    from headtwin_app.core.seg import get_backend

    be = get_backend("builtin", model=model, device="cpu", threads=threads, refine=refine)
    table = default_label_table()
    names = {i: table.name_of(i) for i in range(1, 13)}
    shown = model.resolve().relative_to(ROOT) if model.resolve().is_relative_to(ROOT) else model
    out: dict = {"model": str(shown), "refine": refine, "contrasts": {}}
    for contrast in contrasts:
        per_seed, seconds = {}, []
        for seed in seeds:
            ph = case(seed, contrast)
            t0 = time.perf_counter()
            pred = be.predict(ph.image)
            seconds.append(time.perf_counter() - t0)
            d = dice_per_label(ph.labels.data, pred.data, list(range(1, 13)))
            per_seed[seed] = {names[i]: round(float(v), 4) for i, v in d.items()}
            print(f"{contrast} seed {seed}: mean {np.nanmean(list(d.values())):.4f} "
                  f"({seconds[-1]:.1f} s)", flush=True)
        mean_by = {n: round(float(np.nanmean([per_seed[s][n] for s in seeds])), 4)
                   for n in names.values()}
        out["contrasts"][contrast] = {
            "dice_per_structure": mean_by,
            "mean_dice": round(float(np.mean(list(mean_by.values()))), 4),
            "min_dice": round(float(min(mean_by.values())), 4),
            "per_seed": per_seed,
            "predict_seconds_median": round(float(np.median(seconds)), 2)}
    return out


def write_doc(res: dict) -> None:
    m = res["machine"]
    lines = ["# Built-in segmentation in four contrasts (synthetic phantoms)", "",
             f"Measured by `python benchmarks/bench_seg_contrast.py` on {m['date']}, commit "
             f"`{m['commit']}`, {m['cores']} cores ({m['cpu']}), CPU only. Held-out phantom "
             f"seeds {res['seeds']} (the models trained on seeds 100-129), each imaged as T1 "
             "(spin echo 500/10 ms), T2 (4000/100), PD (6000/30) and FLAIR (IR 9000/120, "
             "TI 2450) from the same tissue classes. Dice over the whole 1 mm volume, mean over "
             "seeds. **Synthetic data only**: these are phantom figures, not real-scan results; "
             "the paper's Table 4 (nnU-Net on real MRI) is there as the reference the app aims "
             "at, not a like-for-like comparison.", ""]
    for label, r in res["models"].items():
        cons = list(r["contrasts"])
        lines += [f"## {label}: `{r['model']}`" + ("" if r["refine"] else " (2 mm stage only)"),
                  "", "| Structure | Paper | " + " | ".join(c.upper() for c in cons) + " |",
                  "|---|---:|" + "---:|" * len(cons)]
        for key, title in TITLES.items():
            lines.append(f"| {title} | {PAPER[key]:.4f} | " + " | ".join(
                f"{r['contrasts'][c]['dice_per_structure'][key]:.4f}" for c in cons) + " |")
        lines.append(f"| **Mean** | **{PAPER_MEAN:.2f}** | " + " | ".join(
            f"**{r['contrasts'][c]['mean_dice']:.4f}**" for c in cons) + " |")
        lines.append("| Lowest structure | | " + " | ".join(
            f"{r['contrasts'][c]['min_dice']:.4f}" for c in cons) + " |")
        lines.append("| Prediction, s (median) | | " + " | ".join(
            f"{r['contrasts'][c]['predict_seconds_median']}" for c in cons) + " |")
        lines.append("")
    lines += ["Target (issue 16): mean Dice ≥ 0.91 and no structure < 0.80 in each contrast.", ""]
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--contrasts", nargs="+", default=["t1", "t2", "pd", "flair"])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "seg_builtin.pt")
    ap.add_argument("--label", default="shipped")
    ap.add_argument("--no-refine", action="store_true")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    res = json.loads(OUT.read_text()) if OUT.exists() else {"models": {}}
    new = run(args.seeds, args.contrasts, args.model, args.threads, not args.no_refine)
    old = res["models"].get(args.label)
    if old and old["model"] == new["model"] and old["refine"] == new["refine"]:
        new["contrasts"] = {**old["contrasts"], **new["contrasts"]}  # re-measured ones replaced
    res["models"][args.label] = new
    res["seeds"] = args.seeds
    res["machine"] = machine()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    write_doc(res)
    print(json.dumps({k: {c: v["mean_dice"] for c, v in r["contrasts"].items()}
                      for k, r in res["models"].items()}))


if __name__ == "__main__":
    main()
