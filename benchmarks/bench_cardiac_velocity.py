"""Velocity assessment (HDL paper §III-C) against the cardiac phantom's analytic truth.

    python benchmarks/bench_cardiac_velocity.py [--seeds 1 2 3 4 5]

Held-out seeds (`dataset.SEEDS_TEST`), each a different synthetic subject (50 frames per R-R,
3 short-axis slices, 128², venc 200/200/300 mm/s), in three noise settings: noise-free
(`make_case(seed, snr=0)`), SNR 20 (`make_case(seed, snr=20)`) and the subject's own drawn SNR
(15-30; the cached training/benchmark cases of `dataset.load_cases`). Every assessment runs from
the (noisy, wrapped) phase through `assess_case(case, phase=case.phase)` — the path a user's
data takes — with peaks read at 4× (band-limited), and is compared with `case.json`'s truth
(the analytic global curves at 4× the frame rate). Targets (issue 17): noise-free PSV/PDV within
0.5 mm/s and TPSV/TPDV within 0.5 frame; SNR 20 within 5 % and 1 frame (the drawn-SNR cases are
held to the SNR 20 target too). Writes benchmarks/results/cardiac_velocity.json and
docs/benchmarks/cardiac_velocity.md. Synthetic subjects only: no real cardiac data was used.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
OUT = ROOT / "benchmarks" / "results" / "cardiac_velocity.json"
DOC = ROOT / "docs" / "benchmarks" / "cardiac_velocity.md"
KEYS = (("psv", "tpsv"), ("pdv", "tpdv"))
# setting → (value tolerance, relative?, time tolerance in frames)
TARGETS = {"noise-free": (0.5, False, 0.5), "snr20": (0.05, True, 1.0),
           "drawn-snr": (0.05, True, 1.0)}


def cached_case(seed: int, snr: float):  # type: ignore[no-untyped-def]
    """make_case(seed, snr=snr), generated once into the cache."""
    from headtwin_app.core.cardiac.dataset import case_dir
    from headtwin_app.core.cardiac.phantom import make_case
    from headtwin_app.core.cardiac.store import load_case, save_case

    d = case_dir(seed).parent / f"velocity_bench_seed{seed}_snr{snr:g}"
    if not (d / "case.json").is_file():
        save_case(make_case(seed, snr=snr), d)
    return load_case(d)


def cases(setting: str, seeds: list[int]):  # type: ignore[no-untyped-def]
    from headtwin_app.core.cardiac.dataset import load_cases

    if setting == "drawn-snr":
        yield from zip(seeds, load_cases(seeds), strict=True)
    else:
        for seed in seeds:
            yield seed, cached_case(seed, 0.0 if setting == "noise-free" else 20.0)


def measure(setting: str, seeds: list[int]) -> dict:
    from headtwin_app.core.cardiac.velocity import DIRECTIONS, assess_case, compare_with_truth

    tol, relative, t_tol = TARGETS[setting]
    per_seed: dict = {}
    for seed, case in cases(setting, seeds):
        t0 = time.perf_counter()
        res = assess_case(case, phase=case.phase, oversample=4)
        seconds = time.perf_counter() - t0
        cmp = compare_with_truth(res, case.info["truth"])
        exact = assess_case(case, oversample=4)  # from the exact velocity: the noise-free curve
        rows = {}
        for d in DIRECTIONS:
            truth, got = case.info["truth"]["peaks"][d], res["peaks"][d]
            row: dict = {"truth": truth, "measured": got, "curve_r": cmp[d].get("curve_r"),
                         "curve_noise_rms_mm_s": float(np.sqrt(np.mean(
                             (np.array(res["curves_mm_s"][d])
                              - np.array(exact["curves_mm_s"][d])) ** 2)))}
            ok = True
            for key, tkey in KEYS:
                err, terr = got[key] - truth[key], got[tkey] - truth[tkey]
                limit = tol * abs(truth[key]) if relative else tol
                row[f"{key}_error"] = err
                row[f"{key}_error_pct"] = 100 * err / truth[key]
                row[f"{tkey}_error_frames"] = terr
                ok &= abs(err) <= limit and abs(terr) <= t_tol
            row["pass"] = bool(ok)
            rows[d] = row
        per_seed[seed] = {"snr": case.info["snr"], "directions": rows,
                          "above_venc_voxels": res["above_venc"]["voxels"],
                          "assess_seconds": round(seconds, 3)}
        print(f"{setting} seed {seed}: " + ", ".join(
            f"{d[:4]} {'ok' if r['pass'] else 'FAIL'}" for d, r in rows.items()), flush=True)
    worst = {d: {k: max(abs(s["directions"][d][k]) for s in per_seed.values())
                 for k in ("psv_error", "pdv_error", "psv_error_pct", "pdv_error_pct",
                           "tpsv_error_frames", "tpdv_error_frames")}
             for d in DIRECTIONS}
    return {"target": {"value": f"{tol * 100:g} %" if relative else f"{tol} mm/s",
                       "time_frames": t_tol},
            "per_seed": per_seed, "worst_abs": worst,
            "passed_by_direction": {d: sum(s["directions"][d]["pass"] for s in per_seed.values())
                                    for d in DIRECTIONS},
            "passed": sum(r["pass"] for s in per_seed.values() for r in s["directions"].values()),
            "checks": sum(len(s["directions"]) for s in per_seed.values())}


def write_doc(res: dict) -> None:
    m = res["machine"]
    lines = [
        "# Cardiac velocity assessment against the phantom's truth (synthetic subjects)", "",
        f"Measured by `python benchmarks/bench_cardiac_velocity.py` on {m['date']}, commit "
        f"`{m['commit']}`, {m['cores']} cores ({m['cpu']}). **Synthetic subjects**: held-out "
        f"phantom seeds {res['seeds']} (50 frames per R-R, 3 short-axis slices, 128², venc "
        "200/200/300 mm/s); no real cardiac data could be used. Each velocity is decoded from "
        "the phase (`assess_case(case, phase=case.phase)`), projected onto the cylindrical frame "
        "about the per-frame, per-slice LV centroid, averaged over the myocardium of all "
        "slices; peaks are read from the curve interpolated 4× (band-limited). Truth: the "
        "phantom's analytic global curves at 4× the frame rate (case.json). Radial + inwards, "
        "circumferential + counterclockwise, longitudinal + towards the apex; velocities in "
        "mm/s, times in frames (0-49); error = measured − truth.", "",
        "Targets (issue 17): noise-free PSV/PDV within 0.5 mm/s and TPSV/TPDV within 0.5 "
        "frame; SNR 20 within 5 % and 1 frame (the subjects' own drawn SNR, 15-30, is held to "
        "the SNR 20 target).", ""]
    for setting, r in res["settings"].items():
        by = ", ".join(f"{d} {n}/{len(r['per_seed'])}"
                       for d, n in r["passed_by_direction"].items())
        lines += [f"## {setting}: {r['passed']}/{r['checks']} direction checks pass ({by})", "",
                  "| Seed | SNR | Direction | PSV truth | PSV | err | TPSV truth | TPSV | err | "
                  "PDV truth | PDV | err | TPDV truth | TPDV | err | r | Pass |",
                  "|---:|---:|---|" + "---:|" * 13 + "---|"]
        for seed, s in r["per_seed"].items():
            for d, row in s["directions"].items():
                t, g = row["truth"], row["measured"]
                cells = []
                for key, tkey in KEYS:
                    cells += [f"{t[key]:.2f}", f"{g[key]:.2f}", f"{row[f'{key}_error']:+.2f}",
                              f"{t[tkey]:.2f}", f"{g[tkey]:.2f}",
                              f"{row[f'{tkey}_error_frames']:+.2f}"]
                rr = "" if row["curve_r"] is None else f"{row['curve_r']:.4f}"
                ok = "yes" if row["pass"] else "NO"
                lines.append(f"| {seed} | {s['snr']:.1f} | {d} | " + " | ".join(cells)
                             + f" | {rr} | {ok} |")
        w = r["worst_abs"]
        lines += ["", "Worst |error| over the seeds: " + "; ".join(
            f"{d} PSV {w[d]['psv_error']:.2f} mm/s ({w[d]['psv_error_pct']:.1f} %), "
            f"PDV {w[d]['pdv_error']:.2f} mm/s ({w[d]['pdv_error_pct']:.1f} %), "
            f"TPSV {w[d]['tpsv_error_frames']:.2f}, TPDV {w[d]['tpdv_error_frames']:.2f} frames"
            for d in w) + ".", ""]
        noise = {d: float(np.mean([s["directions"][d]["curve_noise_rms_mm_s"]
                                   for s in r["per_seed"].values()])) for d in w}
        lines += ["Noise in the global curves (RMS over frames of the curve from the noisy "
                  "phase minus the one from the exact velocity), mean over seeds: "
                  + ", ".join(f"{d} {v:.3f} mm/s" for d, v in noise.items()) + ".", ""]
    lines += ["**Circumferential at SNR 20.** The phantom's global circumferential curve is "
              "small (the twist is opposite at base and apex and largely cancels in the global "
              "mean): PSV/PDV of 0.6-3.7 mm/s. Where it fails the 5 % target, its errors are "
              "0.05-0.13 mm/s — the size of the noise left in the global mean (the curve-noise "
              "line above), so 5 % of a sub-1.5 mm/s peak is below what any unbiased reading of "
              "this phase can reach; radial and longitudinal (PSV/PDV 27-65 mm/s) stay within "
              "0.3 %. The paper's circumferential Table II row is damaged in the source text and "
              "is not compared.", ""]
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    from headtwin_app.core.cardiac.dataset import SEEDS_TEST

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS_TEST))
    args = p.parse_args()
    from machine_info import machine_info

    t0 = time.perf_counter()
    res: dict = {"machine": machine_info(numpy=np.__version__), "seeds": args.seeds,
                 "synthetic": True,
                 "data": "synthetic subjects (headtwin cardiac phantom); no real cardiac data",
                 "settings": {s: measure(s, args.seeds) for s in TARGETS}}
    res["seconds_total"] = round(time.perf_counter() - t0, 1)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    write_doc(res)
    print(json.dumps({s: f"{r['passed']}/{r['checks']}" for s, r in res["settings"].items()}))


if __name__ == "__main__":
    main()
