"""The one flow (issue 14): twin accuracy after undersampling, pipeline cost, twin-sweep time.

    python benchmarks/bench_pipeline.py [--parts dice,time,sweep] [--repeats 2]

All on synthetic phantoms the models never saw (seg model: seeds 100-129; cascade: seed 0),
through the `headtwin` command line as a user runs it:
- dice: seeds 2 and 3 at 1 mm, cartesian R 4: the built-in model's craniofacial/CNS labels
  from the fully sampled image (`segment`), from zero-filled and from the cascade
  (`pipeline --no-brain`), Dice/HD95 against the phantom's truth labels;
- time: seed 2 at 1 mm, `segment` alone and the full `pipeline` (cascade, atlas brain, fusion,
  STL meshes), alternated, medians over repeats and their ratio;
- sweep: `twin-sweep` on seed 4 at 1.95 mm (128 ky lines, so R 2/4/8 are exact for line
  masks; at 2 mm the head has 125 and R 8 is out of the 2 % tolerance), 3 families × R 2/4/8 ×
  zf/cs/cascade against the fused truth twin (coarse 2 mm segmentation stage, atlas brain),
  wall time.
Writes benchmarks/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine_info import machine_info

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "pipeline.json"
HEADTWIN = [sys.executable, "-m", "headtwin_app.cli.main"]


def headtwin(*argv: str) -> tuple[dict, float]:
    """Run a command; return its JSON and wall seconds."""
    t0 = time.perf_counter()
    done = subprocess.run([*HEADTWIN, *argv, "--json"], capture_output=True, text=True,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"headtwin {' '.join(argv)} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout), seconds


def phantom(seed: int, spacing: float, tmp: Path) -> Path:
    d = tmp / f"seed{seed}_{spacing:g}mm"
    if not (d / "image.nii.gz").exists():
        headtwin("phantom", "--seed", str(seed), "--spacing", str(spacing), "--out", str(d))
    return d


def part_dice(tmp: Path) -> dict:
    rows = []
    for seed in (2, 3):
        case = phantom(seed, 1.0, tmp)
        _, seg_s = headtwin("segment", "--image", str(case / "image.nii.gz"), "--out",
                              str(tmp / f"full{seed}.nii.gz"))
        from headtwin_app.core.io import load_volume
        from headtwin_app.core.twin_score import score_maps

        ref = load_volume(case / "labels.nii.gz")
        full_scores = score_maps(ref, load_volume(tmp / f"full{seed}.nii.gz"))
        row = {"seed": seed, "fully_sampled": {k: full_scores[k] for k in
                                               ("mean_dice", "mean_hd95_mm", "mean_assd_mm")},
               "segment_seconds": round(seg_s, 1)}
        for method in ("zf", "cascade"):
            rep, s = headtwin("pipeline", "--image", str(case / "image.nii.gz"), "--mask",
                              "cartesian", "--accel", "4", "--method", method, "--reference",
                              str(case / "labels.nii.gz"), "--no-brain", "--mesh-format", "none",
                              "--out", str(tmp / f"p{seed}{method}"))
            row[method] = {**{k: rep["twin"][k] for k in ("mean_dice", "mean_hd95_mm",
                                                         "mean_assd_mm")},
                           "psnr": rep["image"]["psnr"], "ssim": rep["image"]["ssim"],
                           "seconds": round(s, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    mean = {k: round(statistics.mean(r[k]["mean_dice"] for r in rows), 4)
            for k in ("fully_sampled", "zf", "cascade")}
    return {"rows": rows, "mean_dice": mean,
            "cascade_minus_full": round(mean["cascade"] - mean["fully_sampled"], 4),
            "target": "cascade twin mean Dice within 0.02 of the fully sampled twin"}


def part_time(tmp: Path, repeats: int) -> dict:
    case = phantom(2, 1.0, tmp)
    seg_t, pipe_t, stages = [], [], []
    for i in range(repeats):
        _, s = headtwin("segment", "--image", str(case / "image.nii.gz"), "--out",
                        str(tmp / f"t{i}.nii.gz"))
        seg_t.append(s)
        rep, p = headtwin("pipeline", "--image", str(case / "image.nii.gz"), "--mask",
                          "cartesian", "--accel", "4", "--method", "cascade", "--out",
                          str(tmp / f"pipe{i}"))
        pipe_t.append(p)
        stages.append(rep["seconds"])
        print(f"time repeat {i}: segment {s:.1f} s, pipeline {p:.1f} s", flush=True)
    seg_m, pipe_m = statistics.median(seg_t), statistics.median(pipe_t)
    return {"segment_seconds": [round(s, 1) for s in seg_t],
            "pipeline_seconds": [round(s, 1) for s in pipe_t],
            "stage_seconds": stages, "median_segment": round(seg_m, 1),
            "median_pipeline": round(pipe_m, 1), "ratio": round(pipe_m / seg_m, 2),
            "target": "pipeline <= 3.5 x segment"}


def part_sweep(tmp: Path) -> dict:
    case = phantom(4, 1.95, tmp)
    res, s = headtwin("twin-sweep", "--image", str(case / "image.nii.gz"), "--reference",
                      str(case), "--masks", "cartesian,radial,random_line", "--accels", "2,4,8",
                      "--methods", "zf,cs,cascade", "--no-refine", "--out", str(tmp / "sweep"))
    out = ROOT / "docs" / "benchmarks"
    for png in ("dice_vs_r.png", "structure_heatmap.png"):
        (out / f"twin_sweep_{png}").write_bytes((tmp / "sweep" / png).read_bytes())
    rows = [{k: r[k] for k in ("family", "accel", "method", "accel_achieved", "psnr", "ssim",
                               "seconds")}
            | {"dice": r["vs_truth"]["mean_dice"], "hd95_mm": r["vs_truth"]["mean_hd95_mm"],
               "assd_mm": r["vs_truth"]["mean_assd_mm"],
               "dice_vs_full": r["vs_full"]["mean_dice"]} for r in res["rows"]]
    return {"wall_seconds": round(s, 1), "full": {k: res["full"][k] for k in
                                                  ("mean_dice", "mean_hd95_mm", "mean_assd_mm")},
            "rows": rows, "target": "<= 600 s on 2 cores"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="dice,time,sweep")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--tmp", help="keep the work folder here (default: a temporary one)")
    args = ap.parse_args()
    result = json.loads(OUT.read_text()) if OUT.exists() else {}
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(args.tmp or t)
        tmp.mkdir(parents=True, exist_ok=True)
        for part in args.parts.split(","):
            t0 = time.perf_counter()
            if part == "dice":
                result["dice"] = part_dice(tmp)
            elif part == "time":
                result["time"] = part_time(tmp, args.repeats)
            elif part == "sweep":
                result["sweep"] = part_sweep(tmp)
            result[part]["machine"] = machine_info()
            print(f"{part}: {time.perf_counter() - t0:.0f} s", flush=True)
            OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: {kk: v for kk, v in r.items() if kk != "rows"}
                      for k, r in result.items()}, indent=1))


if __name__ == "__main__":
    main()
