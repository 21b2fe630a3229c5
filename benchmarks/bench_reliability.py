"""Reliability: the bad-input harness over every `headtwin` command, each case in its own process.

    python benchmarks/bench_reliability.py [--workers 2] [--skip-kill]

1. The corpus of tests/reliability/corpus.py (~300 bad and edge inputs), every case in a fresh
   process with a timeout: tracebacks, crashes, hangs, exit 0 on garbage, lines that do not
   name the file or argument, code run from an input — each counted.
2. Output-side failures: a full disk (a 400-byte file-size limit) for every writing command.
3. `kill -9` during every writer, 20 trials each (tests/reliability/kill_writer.py).
4. The cost of the integrity checks on a 256³ float32 `.nii.gz`: `load_volume` now (whole-file
   inflate with CRC-32 and length checks, header against size, affine and dtype checks) against
   the loader as it was before them (nibabel's lazy gzip read, reorientation, C-order copy,
   finite check: the same steps minus the checks), and bare `nibabel.load` + `dataobj` for
   scale; median of 7 interleaved repeats each, in this run.
Writes benchmarks/results/reliability.json and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from machine_info import machine_info

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "reliability"))

from corpus import build_corpus, judge, run_process, temporaries  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "reliability.json"
TIMEOUT_S = 300


def run_corpus(root: Path, workers: int) -> dict:  # type: ignore[type-arg]
    cases = build_corpus(root)
    out_dirs = {}

    def one(i_case):  # type: ignore[no-untyped-def]
        i, case = i_case
        # each case writes into its own output folder (they run in parallel)
        out = root / f"out_{i}"
        out.mkdir(exist_ok=True)
        out_dirs[i] = out
        argv = [a.replace(str(root / "out"), str(out)) for a in case.argv]
        case = type(case)(case.name, argv, case.expect, case.mentions, case.check, case.tags)
        t0 = time.perf_counter()
        code, stdout, stderr, hung = run_process(argv, timeout=TIMEOUT_S)
        seconds = time.perf_counter() - t0
        problems = ["hang"] if hung else judge(case, code, stdout, stderr)
        return {"name": case.name, "expect": case.expect, "exit": code,
                "seconds": round(seconds, 2), "problems": problems,
                "line": stderr.strip().splitlines()[-1][:240] if stderr.strip() else ""}

    with ThreadPoolExecutor(workers) as pool:
        rows = list(pool.map(one, enumerate(cases)))
    return {"cases": rows}


def run_full_disk(root: Path) -> list[dict]:  # type: ignore[type-arg]
    img, lab = str(root / "image.nii.gz"), str(root / "labels.nii.gz")
    commands = {
        "convert": ["convert", "--image", img, "--out", "{o}/c.nii.gz"],
        "convert-series": ["convert", "--image", img, "--out", "{o}/series"],
        "recon": ["recon", "--image", img, "--mask", "cartesian", "--accel", "2", "--method",
                  "zf", "--out", "{o}/r.nii.gz"],
        "simulate": ["simulate", "--image", img, "--mask", "cartesian", "--accel", "2",
                     "--out", "{o}/sim"],
        "sweep-csv+plot": ["sweep", "--image", img, "--masks", "cartesian", "--accels", "2",
                           "--plot", "{o}/s.png"],
        "mesh": ["mesh", "--labels", lab, "--out", "{o}/m"],
        "mesh-gltf": ["mesh", "--labels", lab, "--out", "{o}/m", "--format", "gltf",
                      "--single-file"],
        "render": ["render", "--labels", lab, "--out", "{o}/r.png"],
        "phantom": ["phantom", "--seed", "1", "--spacing", "4", "--out", "{o}/ph"],
        "segment": ["segment", "--image", img, "--out", "{o}/s.nii.gz", "--no-refine"],
        "fuse": ["fuse", "--craniofacial", lab, "--brain-dir", str(root / "brain_ok"),
                 "--out", "{o}/t.nii.gz"],
        "train-seg": ["train-seg", "--cases", str(root / "cases"), "--out", "{o}/m.pt",
                      "--iterations", "1", "--spacing", "2"],
    }
    rows = []
    for name, argv in commands.items():
        out = Path(tempfile.mkdtemp(prefix="full-disk-", dir=root))
        argv = [a.replace("{o}", str(out)) for a in argv]
        code, _, err, hung = run_process(argv, file_size_limit=400, timeout=TIMEOUT_S)
        lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("[")]
        problems = []
        if hung:
            problems.append("hang")
        if code != 2:
            problems.append(f"exit {code}")
        if len(lines) != 1 or not lines[0].startswith("headtwin: error: "):
            problems.append(f"not one error line: {err.strip()[:200]!r}")
        if "Traceback" in err:
            problems.append("traceback")
        if temporaries(out):
            problems.append(f"{len(temporaries(out))} temporaries left")
        rows.append({"command": name, "exit": code, "problems": problems,
                     "line": lines[-1][:240] if lines else ""})
    return rows


def run_kills() -> list[dict]:  # type: ignore[type-arg]
    from kill_writer import WRITERS

    rows = []
    for name in sorted(WRITERS):
        with tempfile.TemporaryDirectory() as folder:
            done = subprocess.run([sys.executable, str(ROOT / "tests" / "reliability" /
                                                       "kill_writer.py"), name, folder, "20",
                                   "11"], capture_output=True, text=True, timeout=900)
        try:
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        except (IndexError, ValueError):
            rows.append({"writer": name, "error": done.stderr[-500:]})
    return rows


def integrity_cost(repeats: int = 7) -> dict:  # type: ignore[type-arg]
    import nibabel as nib

    from headtwin_app.core.io import load_volume, save_volume
    from headtwin_app.core.volume import Volume

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "head256.nii.gz"
        rng = np.random.default_rng(0)
        # a smooth head-like volume (compresses like MR, unlike white noise)
        zz, yy, xx = np.meshgrid(*[np.linspace(-1, 1, 256)] * 3, indexing="ij")
        data = (1000 * np.exp(-3 * (xx**2 + yy**2 + zz**2)) + rng.normal(0, 10, (256,) * 3))
        save_volume(Volume.from_spacing(data.astype(np.float32)), path)

        def plain() -> None:
            img = nib.load(str(path))
            np.asanyarray(img.dataobj)

        def before() -> None:  # load_volume's NIfTI path before the integrity checks
            img = nib.as_closest_canonical(nib.load(str(path)))
            vol = np.ascontiguousarray(np.asanyarray(img.dataobj))
            assert np.isfinite(vol).all()

        def checked() -> None:
            load_volume(path)

        fns = {"nibabel": plain, "before_checks": before, "load_volume": checked}
        times: dict[str, list[float]] = {k: [] for k in fns}
        for fn in fns.values():  # warm the page cache and imports
            fn()
        for _ in range(repeats):
            for name, fn in fns.items():
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        return {"file_mb": round(path.stat().st_size / 1e6, 1), "repeats": repeats,
                "median_s": {k: round(v, 3) for k, v in med.items()},
                "all_s": {k: [round(x, 3) for x in v] for k, v in times.items()},
                "ratio_vs_before_checks": round(med["load_volume"] / med["before_checks"], 3),
                "ratio_vs_bare_nibabel": round(med["load_volume"] / med["nibabel"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-kill", action="store_true")
    args = parser.parse_args()
    import torch

    result: dict = {"machine": machine_info(torch=torch.__version__)}  # type: ignore[type-arg]
    t0 = time.perf_counter()
    result["integrity_cost"] = integrity_cost()
    print("integrity:", result["integrity_cost"]["median_s"])
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        result.update(run_corpus(root, args.workers))
        result["full_disk"] = run_full_disk(root)
    if not args.skip_kill:
        result["kill9"] = run_kills()
    rows = result["cases"]
    kinds = ("traceback", "crashed", "hang", "exit 0 on bad input", "not one error line",
             "does not name", "code from the input ran", "changed voxels", "good input")
    result["summary"] = {
        "cases": len(rows),
        "bad_inputs": sum(r["expect"] == "error" for r in rows),
        "edge_inputs": sum(r["expect"] == "ok" for r in rows),
        "cases_with_problems": sum(bool(r["problems"]) for r in rows),
        **{k: sum(any(k in p for p in r["problems"]) for r in rows) for k in kinds},
        "full_disk_problems": sum(bool(r["problems"]) for r in result["full_disk"]),
        "kill9_unreadable": sum(len(r.get("unreadable", [1])) for r in result.get("kill9", [])),
        "kill9_temporaries_after_restart": sum(r.get("temporaries_after_restart", 1)
                                               for r in result.get("kill9", [])),
        "median_case_seconds": statistics.median(r["seconds"] for r in rows),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result["summary"], indent=1))
    for r in rows:
        if r["problems"]:
            print(r["name"], r["problems"])
    for r in result["full_disk"]:
        if r["problems"]:
            print("full disk", r["command"], r["problems"])


if __name__ == "__main__":
    main()
