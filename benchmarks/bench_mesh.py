"""Meshing speed and quality of the head twin, and frame time of rotating it (software GL).

    python benchmarks/bench_mesh.py [--repeats 5] [--seed 0] [--spacing 1.0]
    xvfb-run -a python benchmarks/bench_mesh.py   # adds the frame time through Xvfb (GLX)

Writes benchmarks/results/mesh.json. Meshing: every structure of the phantom's twin label map
(ids 1-12) with the default options (SurfaceNets3D + 25 windowed-sinc iterations + normals, no
decimation), median wall and CPU time over repeats, fresh extractor each time; VTK's default
Sequential SMP back end, and once more with the STDThread back end. Also the brain tissue layer
and a 256³ synthetic map of 20 labels (the issue's reference case). Rendering: the full twin
(12 structures + brain tissue, depth peeling for the translucent ones) turned 360°/frames per frame,
median frame time, with the full meshes and with the coarse copies (3 mm quadric clustering of
meshes over 40k triangles) that the Qt view draws while the camera moves; all rendering here is
Mesa llvmpipe, i.e. software rendering on the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
from vtkmodules.vtkCommonCore import vtkSMPTools

from headtwin_app.core.volume import Volume
from headtwin_app.render.mesh import MeshOptions, SurfaceExtractor
from headtwin_app.render.offscreen import capture, new_render_window, window_class_name
from headtwin_app.render.scene import TwinScene, make_lod

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "mesh.json"


def synthetic_map(n: int = 256, labels: int = 20, seed: int = 0) -> Volume:
    """`labels` random overlapping balls in an n³ grid (1 mm)."""
    rng = np.random.default_rng(seed)
    lab = np.zeros((n, n, n), np.uint8)
    i, j, k = np.ogrid[:n, :n, :n]
    for lid in range(1, labels + 1):
        c = rng.uniform(0.15 * n, 0.85 * n, 3)
        r = rng.uniform(0.05 * n, 0.14 * n)
        lab[(i - c[0]) ** 2 + (j - c[1]) ** 2 + (k - c[2]) ** 2 < r * r] = lid
    return Volume.from_spacing(lab)


def time_meshing(vol: Volume, repeats: int, options: MeshOptions | None = None) -> dict:
    times, cpu, meshes = [], [], {}
    for _ in range(repeats):
        ex = SurfaceExtractor(vol, options)
        t0, c0 = time.perf_counter(), time.process_time()
        meshes = ex.extract()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    structures = []
    for lid, m in meshes.items():
        met = m.metrics()
        structures.append({
            "id": lid, "triangles": met.triangles, "area_mm2": round(met.area_mm2, 1),
            "volume_ml": round(met.volume_ml, 3), "voxel_volume_ml": round(m.voxel_volume_ml, 3),
            "volume_error_pct": round(100 * (met.volume_ml / m.voxel_volume_ml - 1), 2),
            "boundary_edges": met.boundary_edges, "nonmanifold_edges": met.nonmanifold_edges,
        })
    return {
        "shape": list(vol.shape), "labels": len(meshes),
        "triangles": sum(s["triangles"] for s in structures),
        "median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
        "all_s": [round(t, 3) for t in times],
        "median_cpu_s": round(statistics.median(cpu), 3),
        "max_abs_volume_error_pct": max(abs(s["volume_error_pct"]) for s in structures),
        "boundary_edges_total": sum(s["boundary_edges"] for s in structures),
        "structures": structures,
    }


def time_rotation(scene: TwinScene, frames: int, size: tuple[int, int], lod: bool) -> dict:
    scene.set_lod(lod)
    window = new_render_window(size)
    window.SetNumberOfLayers(scene.layers)
    for r in scene.renderers():
        window.AddRenderer(r)
    scene.set_view("lateral")
    capture(window)  # first frame compiles shaders: not counted
    times = []
    for _ in range(frames):
        scene.azimuth(360.0 / frames)
        t0 = time.perf_counter()
        window.Render()
        window.WaitForCompletion()
        times.append(time.perf_counter() - t0)
    info = window.ReportCapabilities()
    renderer = next((ln.split(":", 1)[1].strip() for ln in info.splitlines()
                     if "renderer string" in ln), "unknown")
    for r in scene.renderers():
        window.RemoveRenderer(r)
    window.Finalize()
    med = statistics.median(times)
    return {"window": window.GetClassName(), "gl_renderer": renderer, "size": list(size),
            "frames": frames, "median_frame_ms": round(1000 * med, 1),
            "p90_frame_ms": round(1000 * float(np.percentile(times, 90)), 1),
            "fps": round(1.0 / med, 1), "software": "llvmpipe" in renderer.lower()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--spacing", type=float, default=1.0)
    ap.add_argument("--frames", type=int, default=36)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()

    result: dict = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]},
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                 capture_output=True, text=True).stdout.strip(),
        "options": MeshOptions().__dict__,
        "target_s": 1.0,
    }
    from headtwin_app.core.phantom import make_phantom

    t0 = time.perf_counter()
    ph = make_phantom(args.seed, args.spacing)
    result["phantom"] = {"seed": args.seed, "spacing_mm": args.spacing,
                         "generate_s": round(time.perf_counter() - t0, 1)}
    result["twin_mesh"] = time_meshing(ph.labels, args.repeats)
    print(f"twin: {result['twin_mesh']['median_s']} s median "
          f"({result['twin_mesh']['triangles']} triangles)", flush=True)
    result["brain_tissue_mesh"] = time_meshing(ph.brain_tissue, max(1, args.repeats // 2))
    result["twin_mesh_no_normals"] = {
        k: v for k, v in time_meshing(ph.labels, args.repeats, MeshOptions(normals=False)).items()
        if k != "structures"}
    vtkSMPTools.SetBackend("STDThread")
    result["twin_mesh_smp_stdthread"] = {
        k: v for k, v in time_meshing(ph.labels, args.repeats).items() if k != "structures"}
    vtkSMPTools.SetBackend("Sequential")
    result["synthetic_256_20_mesh"] = {
        k: v for k, v in time_meshing(synthetic_map(), args.repeats).items() if k != "structures"}
    print(f"synthetic 256³/20: {result['synthetic_256_20_mesh']['median_s']} s", flush=True)

    scene = TwinScene()
    t0 = time.perf_counter()
    for vol in (ph.labels, ph.brain_tissue):
        for lid, mesh in SurfaceExtractor(vol).extract().items():
            scene.add_mesh(lid, mesh, make_lod(mesh.polydata))
    result["scene_build_with_lod_s"] = round(time.perf_counter() - t0, 2)
    renders = {}
    backends = [window_class_name()]
    if backends[0] == "vtkRenderWindow":
        backends.append("vtkEGLRenderWindow")
    for backend in backends:
        previous = os.environ.get("VTK_DEFAULT_OPENGL_WINDOW")
        if backend != "vtkRenderWindow":
            os.environ["VTK_DEFAULT_OPENGL_WINDOW"] = backend
        try:
            for lod in (False, True):
                key = f"{backend}{'_lod' if lod else ''}"
                renders[key] = time_rotation(scene, args.frames, (800, 800), lod)
                print(f"rotate ({key}): {renders[key]['median_frame_ms']} ms/frame", flush=True)
        finally:
            if previous is None:
                os.environ.pop("VTK_DEFAULT_OPENGL_WINDOW", None)
            else:
                os.environ["VTK_DEFAULT_OPENGL_WINDOW"] = previous
    result["rotate_full_twin"] = renders
    scene.set_lod(False)
    result["rotate_full_twin_triangles"] = sum(
        scene.actor(i).GetMapper().GetInput().GetNumberOfCells() for i in scene.label_ids())
    scene.set_lod(True)
    result["rotate_full_twin_lod_triangles"] = sum(
        scene.actor(i).GetMapper().GetInput().GetNumberOfCells() for i in scene.label_ids())

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
