"""Grow from seeds (issue 15): a robot annotator's Dice on unseen phantom heads, and speed.

    python benchmarks/bench_grow.py [--cases 900 901 902] [--repeats 5]

Quality: on 1 mm phantom heads never used to train the shipped models (those trained on seeds
0 and 100-129), for each of six structures the robot annotator (benchmarks/robot_annotator.py:
≤ 30 seed voxels on three axial slices per connected component, a background shell 3-4 mm
outside; 3-4 mm, 1-2 mm and 7-8 mm were tried on tuning seeds 800-801) seeds one structure at a
time; `Grower.grow` (full resolution), `Grower.preview` (the coarse preview) and
`Grower.grow_from_preview` grow it in its box; then `Grower.grow` again with the built-in
model's 2 mm class probabilities as the prior (`Prior`, through `ProbabilityGrid`). Dice against
the phantom's truth.
Speed: a 128³ box of a phantom head (seeds placed by the robot for the masseter, the box the
whole crop): a first grow at full resolution and the re-grow after one corrective 5-voxel
scribble (placed in the first grow's largest error), the same for the coarse preview, and the
update of a full-resolution preview; medians over repeats, each on a fresh `Grower`.
Writes benchmarks/results/grow.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from machine_info import machine_info
from robot_annotator import BACKGROUND_SEED, MAX_SEEDS, RING_MM, dice, robot_seeds

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "results" / "grow.json"
STRUCTURES = {"eyeballs": 8, "masseter": 5, "temporalis": 4, "mandible": 2, "upper_airway": 9,
              "spinal_cord": 12}
MARGIN_MM = 10.0
SMOOTHING_MM = 0.0
BOX = 128


def model_prior(image: np.ndarray, spacing: tuple[float, float, float]) -> tuple[object, float]:
    """The built-in model's 2 mm class probabilities as a `Prior`, and the seconds they took."""
    from headtwin_app.core.edit.grow import Prior
    from headtwin_app.core.seg import get_backend
    from headtwin_app.core.seg.prob_grid import ProbabilityGrid

    backend = get_backend("builtin", device="cpu")
    t = time.perf_counter()
    prob = backend.probabilities(image, spacing)[0].numpy()  # type: ignore[attr-defined]
    seconds = time.perf_counter() - t
    ids = tuple(backend.label_ids)  # type: ignore[attr-defined]
    return Prior(ProbabilityGrid(prob, image.shape), ids), seconds


def quality(case: int) -> dict[str, dict[str, float]]:
    from headtwin_app.core.edit.grow import Grower
    from headtwin_app.core.phantom.generate import make_phantom

    ph = make_phantom(case, spacing=1.0)
    image = np.asarray(ph.image.data, np.float32)
    truth = ph.labels.data
    spacing = ph.image.spacing
    prior, prior_s = model_prior(image, spacing)
    rows: dict[str, dict[str, float]] = {"_prior": {"model_2mm_s": round(prior_s, 1)}}
    for name, lid in STRUCTURES.items():
        seeds = robot_seeds(truth, lid, spacing)
        grower = Grower(image, spacing, MARGIN_MM, smoothing_mm=SMOOTHING_MM)
        quick = grower.preview(seeds)
        fast = grower.grow_from_preview(seeds)  # before `grow`: then the preview is exact
        exact = grower.grow(seeds)
        with_prior = Grower(image, spacing, MARGIN_MM, prior,  # type: ignore[arg-type]
                            smoothing_mm=SMOOTHING_MM).grow(seeds)
        want = truth == lid
        rows[name] = {
            "dice": round(dice(exact.full(image.shape) == lid, want), 4),
            "preview_dice": round(dice(quick.full(image.shape) == lid, want), 4),
            "grow_from_preview_dice": round(dice(fast.full(image.shape) == lid, want), 4),
            "prior_dice": round(dice(with_prior.full(image.shape) == lid, want), 4),
            "preview_scale": quick.scale,
            "grow_s": round(exact.seconds, 3), "preview_s": round(quick.seconds, 3),
            "grow_from_preview_s": round(fast.seconds, 3),
            "prior_grow_s": round(with_prior.seconds, 3),
            "seed_voxels": int((seeds == lid).sum()),
            "background_seed_voxels": int((seeds == BACKGROUND_SEED).sum()),
            "box": [s.stop - s.start for s in exact.box], "truth_voxels": int(want.sum())}
        print(case, name, rows[name], flush=True)
    return rows


def _ms(times: list[float]) -> float:
    return round(1000.0 * statistics.median(times), 1)


def correction(image: np.ndarray, seeds: np.ndarray, want: np.ndarray,
               spacing: tuple[float, float, float]) -> np.ndarray:
    """The seeds plus one corrective scribble: 5 voxels with the right label (the structure's or
    255) through the deepest voxel of the largest error of a first full-resolution grow."""
    from scipy import ndimage

    from headtwin_app.core.edit.grow import Grower

    lid = int(seeds[(seeds > 0) & (seeds < BACKGROUND_SEED)][0])
    first = Grower(image, spacing, margin_mm=500.0).grow(seeds).full(image.shape) == lid
    comps, n = ndimage.label(first != want)
    biggest = comps == 1 + int(np.argmax(np.bincount(comps.ravel())[1:]))
    depth = ndimage.distance_transform_edt(biggest)
    centre = np.unravel_index(int(np.argmax(depth)), depth.shape)
    more = seeds.copy()
    value = lid if want[centre] else BACKGROUND_SEED
    for k in range(-2, 3):
        p = (centre[0], min(max(centre[1] + k, 0), image.shape[1] - 1), centre[2])
        if biggest[p]:
            more[p] = value
    return more


def speed(case: int, repeats: int) -> dict[str, object]:
    """Timings on a 128³ crop around the masseter (the box is the whole crop)."""
    from headtwin_app.core.edit.grow import Grower
    from headtwin_app.core.phantom.generate import make_phantom

    ph = make_phantom(case, spacing=1.0)
    truth = ph.labels.data
    centre = [int(np.mean(i)) for i in np.nonzero(truth == STRUCTURES["masseter"])]
    lo = [min(max(c - BOX // 2, 0), n - BOX) for c, n in zip(centre, truth.shape, strict=True)]
    crop = tuple(slice(a, a + BOX) for a in lo)
    image = np.ascontiguousarray(ph.image.data[crop], dtype=np.float32)
    seeds = robot_seeds(truth[crop], STRUCTURES["masseter"], ph.image.spacing)
    more = correction(image, seeds, truth[crop] == STRUCTURES["masseter"], ph.image.spacing)
    big = 10**9  # a preview threshold above any box: the preview at full resolution
    out: dict[str, object] = {"box": [BOX] * 3, "voxels": BOX**3}
    runs: dict[str, list[float]] = {k: [] for k in (
        "grow_full_s", "regrow_full_after_scribble_s", "preview_s",
        "preview_update_after_scribble_s", "preview_full_res_update_s")}
    for _ in range(repeats):
        g = Grower(image, ph.image.spacing, margin_mm=500.0)
        t = time.perf_counter()
        first = g.grow(seeds)
        runs["grow_full_s"].append(time.perf_counter() - t)
        t = time.perf_counter()
        g.grow(more)
        runs["regrow_full_after_scribble_s"].append(time.perf_counter() - t)
        assert first.box == tuple(slice(0, BOX) for _ in range(3))
        g = Grower(image, ph.image.spacing, margin_mm=500.0)
        t = time.perf_counter()
        quick = g.preview(seeds)
        runs["preview_s"].append(time.perf_counter() - t)
        t = time.perf_counter()
        update = g.preview(more)
        runs["preview_update_after_scribble_s"].append(time.perf_counter() - t)
        assert update.incremental
        out["preview_scale"] = quick.scale
        g = Grower(image, ph.image.spacing, margin_mm=500.0, preview_voxels=big)
        g.preview(seeds)
        t = time.perf_counter()
        g.preview(more)
        runs["preview_full_res_update_s"].append(time.perf_counter() - t)
    for key, times in runs.items():
        out[key.removesuffix("_s") + "_ms"] = _ms(times)
        out[key.removesuffix("_s") + "_all_ms"] = [round(1000 * t, 1) for t in times]
    return out


def main() -> None:
    import itk

    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, nargs="+", default=[900, 901, 902])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    t0 = time.perf_counter()
    from headtwin_app.core.edit.growcut import GrowCut

    GrowCut(np.zeros((3, 3, 3), np.float32)).run(np.eye(3, dtype=np.uint8)[:, :, None]
                                                 .repeat(3, 2))
    import_s = time.perf_counter() - t0
    result: dict[str, object] = {
        "machine": machine_info(itk=itk.__version__),
        "data": "synthetic phantom heads, 1 mm (make_phantom(seed, spacing=1.0)), seeds never "
                "used to train the shipped models",
        "robot": {"max_seed_voxels": MAX_SEEDS, "slices_per_component": 3,
                  "background_shell_mm": list(RING_MM), "margin_mm": MARGIN_MM,
                  "smoothing_mm": SMOOTHING_MM},
        "first_use_import_s": round(import_s, 2),
        "cases": args.cases, "repeats": args.repeats}
    per_case = {c: quality(c) for c in args.cases}
    result["quality"] = {str(c): rows for c, rows in per_case.items()}
    result["median_dice"] = {
        name: round(statistics.median(per_case[c][name]["dice"] for c in args.cases), 4)
        for name in STRUCTURES}
    for key in ("preview_dice", "grow_from_preview_dice", "prior_dice"):
        result[f"median_{key}"] = {
            name: round(statistics.median(per_case[c][name][key] for c in args.cases), 4)
            for name in STRUCTURES}
    result["speed_128"] = speed(args.cases[0], args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "quality"}, indent=1))


if __name__ == "__main__":
    main()
