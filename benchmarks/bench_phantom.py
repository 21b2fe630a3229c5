"""Phantom generation speed: one 1 mm subject, cold (a fresh process: template loading included,
as the CLI and the first GUI start see it) and warm (template cached in the process).

    python benchmarks/bench_phantom.py [--repeats 3] [--spacing 1.0]

Writes benchmarks/results/phantom.json: per-run wall times, their medians, the machine, and the
label volumes (ml) of seed 0. Saving the five NIfTI files is timed separately.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "phantom.json"

COLD = """
import time
t = time.perf_counter()
from headtwin_app.core.phantom import make_phantom
make_phantom({seed}, {spacing})
print(time.perf_counter() - t)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--spacing", type=float, default=1.0)
    args = ap.parse_args()

    cold = []
    for seed in range(args.repeats):
        res = subprocess.run([sys.executable, "-c", COLD.format(seed=seed, spacing=args.spacing)],
                             capture_output=True, text=True, check=True, cwd=ROOT)
        cold.append(float(res.stdout.strip().splitlines()[-1]))

    from headtwin_app.core.phantom import make_phantom, save_phantom
    from headtwin_app.core.phantom.template import template_brain

    template_brain()
    warm = []
    for seed in range(args.repeats):
        t = time.perf_counter()
        make_phantom(seed, args.spacing)
        warm.append(time.perf_counter() - t)
    ph0 = make_phantom(0, args.spacing)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        save_phantom(ph0, tmp)
        save_s = time.perf_counter() - t

    result = {
        "benchmark": "phantom generation (make_phantom), seconds of wall time",
        "spacing_mm": args.spacing,
        "shape": list(ph0.image.shape),
        "cold_process_s": [round(v, 2) for v in cold],
        "cold_median_s": round(statistics.median(cold), 2),
        "warm_s": [round(v, 2) for v in warm],
        "warm_median_s": round(statistics.median(warm), 2),
        "save_nifti_gz_s": round(save_s, 2),
        "seed0_volumes_ml": ph0.label_volumes_ml(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "note": "shared 2-core machine: other jobs may have run at the same time",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
