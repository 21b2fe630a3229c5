"""Reconstruction quality, speed, cascade ablation and GUI latency.

    python benchmarks/bench_recon.py [--quality] [--speed] [--ablation MINUTES] [--latency]
                                     [--model models/recon_cascade.pt]

With no section flag every section runs (ablation with 4 minutes of training per model).
Results merge into benchmarks/results/recon.json (sections not run are kept).

- quality: every mask family × R 4 and 8; zero-filled, CS (FISTA L1-wavelet, λ = 0.004, 60
  iterations) and the cascade; mean PSNR/SSIM over held-out real MR slices training never saw
  (FSL MNI152 1 mm brain slices padded to 256², pydicom MR_small, nibabel EPI slices);
  project metric convention (magnitude, data_range = max(gt), SSIM 7×7 skimage).
- speed: per 256² slice (median, batch 1 and 4) and a 180-slice 256² volume, CPU threads 1 and 2.
- ablation: 0 / 3 / 5 cascades, each trained for the same wall-time budget with the shipped
  model's recipe, evaluated on the held-out set (cartesian R 4, and the mean over families at R 4).
- latency: the longest gap between 10 ms timer ticks of the Qt event loop while the
  reconstruction workspace's worker runs the cascade on a 48-slice volume (offscreen Qt).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from headtwin_app.core.masks import FAMILY_NAMES  # noqa: E402
from headtwin_app.core.recon.data import held_out_images, recon_mask, undersample  # noqa: E402
from headtwin_app.core.recon.evaluate import evaluate  # noqa: E402
from headtwin_app.core.recon.predict import (  # noqa: E402
    DEFAULT_MODEL,
    load_cascade,
    reconstruct,
)

OUT = ROOT / "benchmarks" / "results" / "recon.json"
CACHE = ROOT / ".cache" / "recon_ablation"


def log(*a: object) -> None:
    print(*a, flush=True)


def quality(model_path: Path) -> dict:
    torch.set_num_threads(2)
    model = load_cascade(model_path, "cpu")
    images = [h.image for h in held_out_images()]
    names = [h.name for h in held_out_images()]
    table = {}
    for fam in FAMILY_NAMES:
        for r in (4, 8):
            res = evaluate(images, fam, r, model=model)
            table[f"{fam}@{r}"] = res
            log(f"{fam:16s} R{r}: zf {res['zf']['psnr']:.2f}/{res['zf']['ssim']:.3f}  "
                f"cs {res['cs']['psnr']:.2f}/{res['cs']['ssim']:.3f}  "
                f"cascade {res['cascade']['psnr']:.2f}/{res['cascade']['ssim']:.3f}")
    subsets = {}
    for label, pick in (("fsl_mni152", lambda n: n.startswith("fsl")),
                        ("single_subject", lambda n: not n.startswith("fsl"))):
        sel = [im for im, n in zip(images, names, strict=True) if pick(n)]
        subsets[label] = {"n": len(sel), "cartesian@4": evaluate(sel, "cartesian", 4, model=model)}
    return {"held_out": names, "table": table, "subsets_cartesian_4": subsets,
            "model": str(model_path.relative_to(ROOT) if model_path.is_relative_to(ROOT)
                         else model_path),
            "cs": {"lambda": 0.004, "iterations": 60, "wavelet": "db4, 4 levels, cycle spinning"},
            "metrics": "magnitude; PSNR/SSIM data_range = max(gt); SSIM 7x7 skimage; mean "
                       "over the held-out images"}


def speed(model_path: Path) -> dict:
    out: dict = {}
    rng = np.random.default_rng(0)
    img = held_out_images()[1].image
    mask = recon_mask("cartesian", (256, 256), 4, 0)
    k1, _ = undersample(img, mask)
    vol = np.repeat(k1[None], 180, axis=0)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        model = load_cascade(model_path, "cpu")
        reconstruct("cascade", k1, mask, model)  # warm-up
        per = []
        for _ in range(9):
            _, s = reconstruct("cascade", k1, mask, model, batch_size=1)
            per.append(s)
        per4 = []
        k4 = vol[:4]
        for _ in range(5):
            _, s = reconstruct("cascade", k4, mask, model, batch_size=4)
            per4.append(s / 4)
        _, vol_s = reconstruct("cascade", vol, mask, model, batch_size=4)
        out[f"threads_{threads}"] = {
            "slice_256_ms_median_batch1": round(1000 * statistics.median(per), 1),
            "slice_256_ms_median_batch4": round(1000 * statistics.median(per4), 1),
            "volume_180x256x256_s": round(vol_s, 2)}
        log(threads, out[f"threads_{threads}"])
    torch.set_num_threads(2)
    _, cs_s = reconstruct("cs", k1, mask)
    _, zf_s = reconstruct("zf", k1, mask)
    out["cs_slice_256_ms"] = round(1000 * cs_s, 1)
    out["zf_slice_256_ms"] = round(1000 * zf_s, 2)
    cfg = load_cascade(model_path).config
    macs = 0
    w, n = cfg.width, cfg.n_convs
    macs = cfg.n_cascades * 256 * 256 * 9 * (2 * w + (n - 2) * w * w + w * 2)
    out["gmac_per_256_slice"] = round(macs / 1e9, 2)
    out["cuda"] = torch.cuda.is_available()
    del rng
    return out


def ablation(minutes: float) -> dict:
    from headtwin_app.core.recon.train import TrainConfig, train

    base = TrainConfig.from_json(ROOT / "models" / "recon_cascade.train.json")
    images = [h.image for h in held_out_images()]
    rows = {}
    for n in (0, 3, 5):
        cfg = replace(base, model={**base.model, "n_cascades": n}, max_minutes=minutes,
                      steps=base.steps if n else 1)  # 0 cascades: nothing to train
        path = CACHE / f"cascade_{n}.pt"
        t0 = time.time()
        hist = train(cfg, path, log=None)
        model = load_cascade(path, "cpu")
        torch.set_num_threads(2)
        cart = evaluate(images, "cartesian", 4, methods=("cascade",), model=model)
        allf = [evaluate(images, f, 4, methods=("cascade",), model=model)["cascade"]
                for f in FAMILY_NAMES]
        rows[str(n)] = {"train_minutes": round((time.time() - t0) / 60, 1),
                        "steps": hist["steps"],
                        "cartesian@4": cart["cascade"],
                        "mean_all_families@4": {
                            "psnr": float(np.mean([a["psnr"] for a in allf])),
                            "ssim": float(np.mean([a["ssim"] for a in allf]))}}
        log(n, rows[str(n)])
    return {"budget_minutes_each": minutes, "recipe": "models/recon_cascade.train.json with "
            "n_cascades changed", "rows": rows,
            "paper_table_3": {"0": [23.88, 0.768], "3": [25.32, 0.821], "5": [28.82, 0.891]}}


def width_tradeoff(minutes: float, widths: tuple[int, ...] = (8, 24)) -> dict:
    """D5C5 at other widths, trained with the ablation's budget; the width-16 row is the
    ablation's 5-cascade model. Quality on the held-out set (cartesian R 4) and CPU speed.
    minutes = 0 re-evaluates the cached checkpoints without training."""
    from headtwin_app.core.recon.train import TrainConfig, train

    base = TrainConfig.from_json(ROOT / "models" / "recon_cascade.train.json")
    images = [h.image for h in held_out_images()]
    img = held_out_images()[1].image
    mask = recon_mask("cartesian", (256, 256), 4, 0)
    k1 = undersample(img, mask)[0]
    rows = {}
    budget = minutes
    for w in (*widths, 16):
        path = CACHE / (f"width_{w}.pt" if w != 16 else "cascade_5.pt")
        t0 = time.time()
        if w != 16 and minutes > 0:
            cfg = replace(base, model={**base.model, "width": w}, max_minutes=minutes)
            train(cfg, path, log=None)
        meta = load_cascade(path).meta
        budget = meta.get("train_config", {}).get("max_minutes", budget)
        torch.set_num_threads(2)
        model = load_cascade(path, "cpu")
        cart = evaluate(images, "cartesian", 4, methods=("cascade",), model=model)["cascade"]
        speed_ms = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            reconstruct("cascade", k1, mask, model)
            per = [reconstruct("cascade", k1, mask, model, batch_size=1)[1] for _ in range(7)]
            speed_ms[f"threads_{threads}"] = round(1000 * statistics.median(per), 1)
        rows[str(w)] = {"steps": meta.get("steps"), "cartesian@4": cart,
                        "slice_256_ms_batch1": speed_ms,
                        "gmac_per_256_slice": round(5 * 65536 * 9 * (4 * w + 3 * w * w) / 1e9, 2),
                        "params": int(sum(p.numel() for p in model.parameters())),
                        "wall_minutes": round((time.time() - t0) / 60, 1)}
        log(w, rows[str(w)])
    torch.set_num_threads(2)
    return {"budget_minutes_each": budget, "architecture": "5 cascades x 5 convs", "rows": rows}


def latency(model_path: Path) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from headtwin_app.core.case import Case
    from headtwin_app.core.volume import Volume
    from headtwin_app.ui.recon import ReconWorkspace
    from headtwin_app.ui.state import AppState

    app = QApplication.instance() or QApplication([])
    fsl = [h.image for h in held_out_images() if h.name.startswith("fsl")][:1][0]
    data = np.repeat(fsl.T[:, :, None], 48, axis=2)  # (X, Y, Z), 48 slices of 256²
    state = AppState()
    state.set_case(Case(image=Volume.from_spacing(data), name="latency"))
    ws = ReconWorkspace(state)
    ws.resize(1400, 850)
    ws.show()
    ws.model_path.setText(str(model_path))
    ws.mask_source.setCurrentIndex(ws.mask_source.findData("own"))
    ws.scope.setCurrentIndex(ws.scope.findData("volume"))
    ws.use["cs"].setChecked(False)
    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]

    def tick() -> None:
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()
    for _ in range(20):
        app.processEvents()
    gaps.clear()
    t0 = time.perf_counter()
    ws.run()
    while ws.is_busy():
        app.processEvents()
        time.sleep(0.001)
    wall = time.perf_counter() - t0
    timer.stop()
    ws.close()
    g = np.asarray(gaps) - 10.0
    return {"slices": 48, "worker_seconds": round(wall, 2),
            "event_loop_delay_ms_max": round(float(g.max()), 1),
            "event_loop_delay_ms_p99": round(float(np.percentile(g, 99)), 1),
            "event_loop_delay_ms_median": round(float(np.median(g)), 1),
            "metrics_shown": bool(ws.result is not None)}


def markdown_tables(res: dict) -> str:
    """The quality and ablation tables of recon.json as markdown (for the docs)."""
    lines = []
    q = res.get("quality")
    if q:
        lines += ["| family | R | achieved R | zero-filled PSNR / SSIM | CS PSNR / SSIM | "
                  "cascade PSNR / SSIM | cascade − ZF (dB) | cascade − CS (dB) |",
                  "|---|---|---|---|---|---|---|---|"]
        for key, r in q["table"].items():
            fam, acc = key.split("@")
            z, c, k = r["zf"], r["cs"], r["cascade"]
            lines.append(f"| {fam} | {acc} | {r['achieved_accel']:.2f} | {z['psnr']:.2f} / "
                         f"{z['ssim']:.3f} | {c['psnr']:.2f} / {c['ssim']:.3f} | "
                         f"**{k['psnr']:.2f} / {k['ssim']:.3f}** | "
                         f"{k['psnr'] - z['psnr']:+.2f} | {k['psnr'] - c['psnr']:+.2f} |")
        lines.append("")
    a = res.get("ablation")
    if a:
        lines += ["| # cascades | ours: cartesian R4 PSNR / SSIM | ours: mean of 10 families R4 "
                  "| training steps | paper Table 3 PSNR / SSIM |", "|---|---|---|---|---|"]
        for n, row in a["rows"].items():
            p, ps = a["paper_table_3"][n]
            c, m = row["cartesian@4"], row["mean_all_families@4"]
            lines.append(f"| {n} | {c['psnr']:.2f} / {c['ssim']:.3f} | {m['psnr']:.2f} / "
                         f"{m['ssim']:.3f} | {row['steps']} | {p:.2f} / {ps:.3f} |")
    wt = res.get("width_tradeoff")
    if wt:
        lines += ["", "| width | parameters | GMAC / 256² slice | training steps | cartesian R4 "
                  "PSNR / SSIM | ms / 256² slice (1 thread) | (2 threads) |",
                  "|---|---|---|---|---|---|---|"]
        for w, row in sorted(wt["rows"].items(), key=lambda kv: int(kv[0])):
            c, sp = row["cartesian@4"], row["slice_256_ms_batch1"]
            lines.append(f"| {w} | {row['params']} | {row['gmac_per_256_slice']} | "
                         f"{row['steps']} | {c['psnr']:.2f} / {c['ssim']:.3f} | "
                         f"{sp['threads_1']} | {sp['threads_2']} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quality", action="store_true")
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--ablation", type=float, metavar="MINUTES")
    ap.add_argument("--latency", action="store_true")
    ap.add_argument("--width-tradeoff", type=float, metavar="MINUTES")
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--tables", action="store_true", help="print recon.json as markdown")
    args = ap.parse_args()
    if args.tables:
        print(markdown_tables(json.loads(OUT.read_text())))
        return 0
    run_all = not (args.quality or args.speed or args.ablation or args.latency
                   or args.width_tradeoff is not None)
    model_path = Path(args.model).resolve()
    res = json.loads(OUT.read_text()) if OUT.exists() else {}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    res["machine"] = {"cpu_cores": os.cpu_count(), "platform": platform.platform(),
                      "cpu": platform.processor() or platform.machine(),
                      "torch": torch.__version__, "commit": commit,
                      "note": "CPU shared with other jobs while measuring (load average "
                              f"{os.getloadavg()[0]:.1f})"}
    if args.quality or run_all:
        res["quality"] = quality(model_path)
    if args.speed or run_all:
        res["speed"] = speed(model_path)
    if args.ablation or run_all:
        res["ablation"] = ablation(args.ablation or 4.0)
    if args.latency or run_all:
        res["latency"] = latency(model_path)
    if args.width_tradeoff is not None:
        res["width_tradeoff"] = width_tradeoff(args.width_tradeoff)
    OUT.write_text(json.dumps(res, indent=1))
    log(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
