"""HDL paper Table III re-measured: temporal interpolation on held-out phantom subjects.

    python benchmarks/bench_cardiac_interp.py [--seeds 1 2 3 4 5] [--ks 1 2 3 4 5 6]
        [--methods linear hs net] [--model models/cardiac_interp.pt] [--threads 2]

Held-out subjects: `dataset.SEEDS_TEST` (never used in training or validation), 50 frames,
3 slices, 128², seeded SNR. For each K the cine keeps every (K+1)-th frame and each method
predicts the missing frames (`interp_net.interpolate_case`). Metrics over the interpolated
frames only, every 2D frame (slice × missing frame) of every subject pooled: mean and std.
Convention: magnitudes scaled to [−1, 1] per case (the paper's scaling); PSNR/SSIM with
data_range 2; MSEW1 weight 1 in the myocardium, MSEW2 weight 1 where the scaled magnitude
> −0.95, 0.1 elsewhere (Fig. 3); Dice of the myocardium (headline) and of the whole LV.
Writes benchmarks/results/cardiac_interp.json and docs/benchmarks/cardiac_interp.md.
Different data: synthetic subjects, not the paper's volunteers.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from machine_info import machine_info

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "results" / "cardiac_interp.json"
DOC = ROOT / "docs" / "benchmarks" / "cardiac_interp.md"
KEYS = ("mse", "msew1", "msew2", "psnr", "ssim", "dice", "dice_lv")
SCALE = {"mse": 100, "msew1": 10, "msew2": 100, "psnr": 1, "ssim": 1, "dice": 1, "dice_lv": 1}
HEAD = {"mse": "MSE×100", "msew1": "MSEW1×10", "msew2": "MSEW2×100", "psnr": "PSNR",
        "ssim": "SSIM", "dice": "DICE (myo)", "dice_lv": "Dice (whole LV)"}
# Paper Table III, "Ours" rows: mean (std), scaled as in the paper's header.
PAPER = {
    1: {"mse": (0.16, 0.34), "msew1": (0.18, 0.05), "msew2": (0.12, 0.36),
        "psnr": (76.43, 61.68), "ssim": (0.82, 0.05), "dice": (0.97, 0.18)},
    2: {"mse": (0.15, 0.21), "msew1": (0.24, 0.40), "msew2": (0.15, 0.21),
        "psnr": (76.50, 58.92), "ssim": (0.81, 0.07), "dice": (0.96, 0.09)},
    3: {"mse": (0.14, 0.48), "msew1": (0.29, 0.19), "msew2": (0.15, 0.31),
        "psnr": (77.11, 54.74), "ssim": (0.84, 0.07), "dice": (0.95, 0.17)},
    4: {"mse": (0.18, 0.12), "msew1": (0.37, 0.10), "msew2": (0.19, 0.23),
        "psnr": (75.75, 49.25), "ssim": (0.82, 0.06), "dice": (0.94, 0.18)},
    5: {"mse": (0.26, 0.12), "msew1": (0.41, 0.09), "msew2": (0.23, 0.05),
        "psnr": (74.45, 47.27), "ssim": (0.80, 0.02), "dice": (0.93, 0.03)},
    6: {"mse": (0.24, 0.15), "msew1": (0.49, 0.25), "msew2": (0.24, 0.41),
        "psnr": (74.68, 44.19), "ssim": (0.79, 0.07), "dice": (0.93, 0.07)},
}


def pooled(cases: list[dict]) -> dict[str, float]:
    """Mean and std over all frames of all cases from each case's mean, std and frame count."""
    out: dict[str, float] = {}
    n = sum(c["n_frames"] for c in cases)
    for key in KEYS:
        mean = sum(c[key] * c["n_frames"] for c in cases) / n
        second = sum((c[key + "_std"] ** 2 + c[key] ** 2) * c["n_frames"] for c in cases) / n
        out[key] = mean
        out[key + "_std"] = math.sqrt(max(second - mean ** 2, 0.0))
    out["n_frames"] = n
    return out


def run(seeds: list[int], ks: list[int], methods: list[str], model: Path) -> dict:
    from headtwin_app.core.cardiac.dataset import load_cases
    from headtwin_app.core.cardiac.interp_net import interpolate_case

    cases = load_cases(seeds)
    results: dict = {m: {} for m in methods}
    seconds: dict = {m: [] for m in methods}
    for k in ks:
        for method in methods:
            per_case = []
            for seed, case in zip(seeds, cases, strict=True):
                t0 = time.perf_counter()
                _, _, met = interpolate_case(case, k, method, model if method == "net" else None)
                seconds[method].append(time.perf_counter() - t0)
                per_case.append(met)
                print(f"K={k} {method} seed {seed}: dice {met['dice']:.4f} msew1 "
                      f"{met['msew1']:.5f} ({seconds[method][-1]:.1f} s)", flush=True)
            results[method][str(k)] = {
                **{key: round(v, 6) for key, v in pooled(per_case).items()},
                "per_seed": {str(s): {key: round(c[key], 6) for key in KEYS}
                             for s, c in zip(seeds, per_case, strict=True)}}
    return {"results": results,
            "seconds_per_case": {m: {"mean": round(sum(v) / len(v), 2), "max": round(max(v), 2)}
                                 for m, v in seconds.items() if v}}


def targets(res: dict) -> dict:
    r = res["results"]
    if not all(m in r and "6" in r[m] for m in ("net", "linear", "hs")):
        return {}
    net, lin, hs = r["net"]["6"], r["linear"]["6"], r["hs"]["6"]
    return {
        "K6_dice_ge_0.90": {"value": net["dice"], "met": net["dice"] >= 0.90},
        "K6_dice_ge_linear_plus_0.05": {"value": net["dice"], "linear": lin["dice"],
                                        "met": net["dice"] >= lin["dice"] + 0.05},
        "K6_msew1_better_than_both": {"net": net["msew1"], "linear": lin["msew1"],
                                      "hs": hs["msew1"],
                                      "met": net["msew1"] < min(lin["msew1"], hs["msew1"])},
        "inference_le_30s": {"max_seconds": res["seconds_per_case"]["net"]["max"],
                             "met": res["seconds_per_case"]["net"]["max"] <= 30.0},
    }


def fmt(mean: float, std: float, key: str) -> str:
    s = SCALE[key]
    digits = {"psnr": 2, "mse": 3, "msew1": 4, "msew2": 3}.get(key, 3)
    return f"{mean * s:.{digits}f} ({std * s:.{digits}f})"


def write_doc(data: dict) -> None:
    res = data["results"]
    lines = [
        "# Temporal interpolation (HDL paper Table III) on synthetic subjects",
        "",
        "**Different data: synthetic subjects.** The paper's numbers are from real 3Dir MVM "
        "volunteers (its validation set); ours are from held-out phantom subjects "
        f"(seeds {data['seeds']}, `headtwin cardiac-phantom`), 50 frames, 3 slices, 128², seeded "
        "SNR 15–30. No real cardiac MR could be used. Rows are not directly comparable: the "
        "paper's PSNR (≈ 75 dB with MSE ≈ 0.002) cannot come from images in [−1, 1] with "
        "data range 2, so its PSNR convention differs from ours.",
        "",
        f"Produced by `python benchmarks/bench_cardiac_interp.py` (model `{data['model']}`), "
        f"{data['machine']['date']}, {data['machine']['cpu']}, commit "
        f"{data['machine']['commit']}.",
        "",
        "Metric convention: interpolated (missing) frames only, every 2D frame (slice × missing "
        "frame) of every subject pooled, mean (std); magnitude scaled to [−1, 1] per case "
        "(99.5th percentile → 1); MSE, MSEW1 = mean(ω1·e²) with ω1 = 1 in the true myocardium, "
        "MSEW2 = mean(ω2·e²) with ω2 = 1 where the true scaled magnitude > −0.95, 0.1 elsewhere "
        "(Fig. 3); PSNR = 10 log10(2²/MSE); SSIM scikit-image, 7×7, data_range 2; DICE of the "
        "LV myocardium (the paper's velocity ROI), and of the whole LV (myocardium + blood "
        "pool). Scaled as in the paper's header. Methods: linear = eq. 2 (weights the right "
        "way round), hs = Horn–Schunck optical flow (coarse-to-fine), net = multi-head "
        "multi-tail R2U-Net (`models/cardiac_interp.pt`).",
        "",
    ]
    cols = list(KEYS)
    lines.append("| K | method | " + " | ".join(HEAD[c] for c in cols) + " |")
    lines.append("|---|---|" + "---|" * len(cols))
    for k in data["ks"]:
        if k in PAPER:
            # the paper's values are already scaled as in its header
            cells = [f"{PAPER[k][c][0]:.2f} ({PAPER[k][c][1]:.2f})" if c in PAPER[k] else "—"
                     for c in cols]
            lines.append(f"| {k} | paper (real data) | " + " | ".join(cells) + " |")
        for method in data["methods"]:
            r = res[method][str(k)]
            cells = [fmt(r[c], r[c + "_std"], c) for c in cols]
            lines.append(f"| {k} | {method} | " + " | ".join(cells) + " |")
    sec = data["seconds_per_case"]
    lines += ["", "Seconds per case (50 frames × 3 slices, all K): " + ", ".join(
        f"{m} mean {v['mean']} s, max {v['max']} s" for m, v in sec.items()) + ".", ""]
    tg = data.get("targets") or {}
    if tg:
        lines += ["## Targets (issue 17)", ""]
        names = {"K6_dice_ge_0.90": "K = 6: myocardium Dice ≥ 0.90",
                 "K6_dice_ge_linear_plus_0.05": "K = 6: Dice ≥ linear + 0.05",
                 "K6_msew1_better_than_both": "K = 6: MSEW1 below linear and Horn–Schunck",
                 "inference_le_30s": "inference ≤ 30 s per 50-frame case (CPU)"}
        for key, t in tg.items():
            vals = ", ".join(f"{a} {b:.5g}" for a, b in t.items()
                             if a != "met" and isinstance(b, float))
            lines.append(f"- {names[key]}: **{'met' if t['met'] else 'missed'}** ({vals})")
        if not tg["K6_dice_ge_linear_plus_0.05"]["met"]:
            lin = tg["K6_dice_ge_linear_plus_0.05"]["linear"]
            lines += ["", f"Why the +0.05 margin is missed: on these phantom subjects linear "
                      f"interpolation already reaches a myocardium Dice of {lin:.3f} at K = 6, "
                      "so linear + 0.05 is above 1 (or nearly) and cannot be reached by any "
                      "method; the phantom's wall moves at most a few pixels in 7 frames of 50. "
                      "The paper's real volunteers (256² crops of 512² images) move more "
                      "between kept frames."]
        if not tg["K6_msew1_better_than_both"]["met"]:
            lines += ["", "Why MSEW1 is missed: the net beats linear interpolation on MSEW1 at "
                      "K ≥ 2 but not Horn–Schunck, and its overall MSE / MSEW2 are worse than "
                      "both baselines (while its Dice and SSIM are the best). It was trained "
                      "for 17 CPU minutes with the paper's L1 loss (eq. 1) on 64² crops around "
                      "the LV and runs on whole 128² frames, whose outer parts it never saw; "
                      "most of each MSE is the ground truth's own noise (SNR 15–30), which no "
                      "method can predict. Training on whole frames and for longer are the "
                      "next steps."]
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(lines) + "\n")


def main() -> None:
    from headtwin_app.core.cardiac.dataset import SEEDS_TEST

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS_TEST))
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    ap.add_argument("--methods", nargs="+", default=["linear", "hs", "net"])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "cardiac_interp.pt")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--doc-only", action="store_true",
                    help="rewrite the markdown from the saved JSON, measure nothing")
    args = ap.parse_args()
    if args.doc_only:
        write_doc(json.loads(OUT.read_text()))
        return
    import torch

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    res = run(args.seeds, args.ks, args.methods, args.model)
    model = args.model.resolve()
    data = {"benchmark": "cardiac_interp", "paper": "HDL Table III (Ours rows)",
            "data": "different data: synthetic subjects (held-out phantom seeds)",
            "seeds": args.seeds, "ks": args.ks, "methods": args.methods,
            "model": str(model.relative_to(ROOT) if model.is_relative_to(ROOT) else model),
            **res, "paper_table3": PAPER, "wall_seconds": round(time.perf_counter() - t0, 1),
            "machine": machine_info(torch=torch.__version__, threads=str(args.threads))}
    data["targets"] = targets(data)
    print(json.dumps(data["targets"], indent=1))
    if args.no_write:
        return
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    write_doc(data)
    print(f"wrote {OUT} and {DOC}")


if __name__ == "__main__":
    main()
