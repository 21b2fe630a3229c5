"""The head-twin path as one flow: undersample → reconstruct → segment → brain → fuse → score.

Every stage is a generator yielding `Progress` (stop iterating to cancel) so the GUI's job runner,
the `headtwin pipeline` command, `twin-sweep` and the cohort runner share one implementation.
Meshing is VTK (the render layer), so it is passed in as a callable and never imported here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from headtwin_app.core.recon.job import case_slices, slices_to_volume
from headtwin_app.core.seg.backend import Progress
from headtwin_app.core.seg.fusion import FusedTwin, fuse_twin
from headtwin_app.core.twin_score import twin_scores
from headtwin_app.core.volume import Volume

METHODS = ("zf", "cs", "cascade")
Stage = Generator[Progress, None, Any]


@dataclass(frozen=True)
class PipelineConfig:
    """What to undersample with and how to reconstruct and segment."""

    family: str | None = "cartesian"  # None with k-space input: the acquired pattern as is
    accel: float = 4.0
    seed: int = 0
    method: str = "cascade"
    model: str | None = None  # cascade weights (default: the shipped model)
    seg_model: str | None = None  # built-in segmentation weights (default: shipped)
    refine: bool = True  # built-in model's 1 mm fine stage
    brain: bool = True  # atlas brain layers, fused into the twin
    device: str = "cpu"
    batch_size: int = 4

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method '{self.method}' (choose from {', '.join(METHODS)})")


@dataclass
class PipelineResult:
    """Every layer the flow made, on the input's grid, plus the report."""

    recon: Volume
    labels: Volume
    brain: dict[str, Volume] = field(default_factory=dict)
    twin: FusedTwin | None = None
    report: dict[str, Any] = field(default_factory=dict)


def _sub(gen: Iterator[Any], stage: str, lo: float, hi: float) -> Stage:
    """Re-yield a stage's progress mapped into [lo, hi] of the whole run; return its value."""
    while True:
        try:
            item = next(gen)
        except StopIteration as stop:
            return stop.value
        if isinstance(item, Progress):
            yield Progress(stage, lo + (hi - lo) * item.fraction, item.message, item.metrics)
        elif isinstance(item, tuple) and len(item) == 2:
            done, total = item
            yield Progress(stage, lo + (hi - lo) * done / max(total, 1),
                           f"slice {done}/{total}")
        else:
            return item  # a backend's generator yields its result last


def reconstruct_volume(image: Volume, cfg: PipelineConfig) -> Stage:
    """Undersample the image's axial slices (ky along Y, readout X) with cfg's mask and
    reconstruct them; returns (reconstruction Volume on the image's grid, measured mask)."""
    from headtwin_app.core.recon.data import recon_mask, undersample
    from headtwin_app.core.recon.predict import DEFAULT_MODEL, load_cascade, reconstruct_iter

    if cfg.family is None:
        raise ValueError("an image input needs a mask family")
    slices = case_slices(image.data, 2)
    if not float(slices.max()) > 0:
        raise ValueError("the image is empty (no voxel above 0); nothing to reconstruct")
    mask = recon_mask(cfg.family, slices.shape[-2:], cfg.accel, cfg.seed)
    k0, _ = undersample(slices, mask)
    model = load_cascade(cfg.model or DEFAULT_MODEL, cfg.device) if cfg.method == "cascade" \
        else None
    rec = yield from _sub(reconstruct_iter(cfg.method, k0, mask, model, cfg.batch_size),
                          "recon", 0.0, 1.0)
    recon = slices_to_volume(np.abs(rec), 2, image)
    recon.meta["recon"] = cfg.method
    return recon, mask


def reconstruct_kspace(vol: Volume, cfg: PipelineConfig) -> Stage:
    """Reconstruct fastMRI-style single-coil k-space (slices, ky, kx) carried by `vol`; with a
    family, that mask is applied on top of what was acquired. Returns (recon Volume, mask,
    fully sampled image or None when the file was already undersampled)."""
    from headtwin_app.core.fft import ifft2c
    from headtwin_app.core.io.fastmri import stack_to_volume_data
    from headtwin_app.core.recon.data import recon_mask
    from headtwin_app.core.recon.predict import DEFAULT_MODEL, load_cascade, reconstruct_iter

    if vol.kspace is None or vol.kspace.ndim != 3:
        raise ValueError("needs single-coil k-space (slices, ky, kx)")
    k_full = vol.kspace.astype(np.complex64)
    sampled = np.abs(k_full).max(axis=0) > 0
    mask = sampled
    if cfg.family is not None:
        mask = recon_mask(cfg.family, sampled.shape, cfg.accel, cfg.seed) & sampled
    gt = np.abs(ifft2c(k_full)).astype(np.float32) if sampled.all() else None
    model = load_cascade(cfg.model or DEFAULT_MODEL, cfg.device) if cfg.method == "cascade" \
        else None
    rec = yield from _sub(reconstruct_iter(cfg.method, k_full * mask, mask, model,
                                           cfg.batch_size), "recon", 0.0, 1.0)

    def as_volume(stack: np.ndarray) -> np.ndarray:
        return stack_to_volume_data(np.abs(stack).astype(np.float32))

    recon = Volume(as_volume(rec), vol.affine, {**vol.meta, "recon": cfg.method})
    truth = recon.with_data(as_volume(gt)) if gt is not None else None
    return recon, mask, truth


def segment_volume(image: Volume, cfg: PipelineConfig) -> Stage:
    """Craniofacial/CNS labels (ids 1-12) from the built-in model, on the image's grid."""
    from headtwin_app.core.seg import get_backend

    backend = get_backend("builtin", model=cfg.seg_model, device=cfg.device, refine=cfg.refine)
    return (yield from _sub(backend.iter_predict(image), "segment", 0.0, 1.0))  # type: ignore[attr-defined]


def brain_volume(image: Volume) -> Stage:
    """Brain tissue, regions, hemispheres and mask by atlas registration, on the image's grid."""
    from headtwin_app.core.seg import get_backend

    layers = yield from _sub(get_backend("atlas").iter_predict(image), "brain", 0.0, 1.0)  # type: ignore[attr-defined]
    return layers.as_dict()


def twin_layers(image: Volume, cfg: PipelineConfig | None = None,
                segment: Callable[[Volume], Stage] | None = None,
                brain: Callable[[Volume], Stage] | None = None) -> Stage:
    """The twin's layers from a case image: craniofacial/CNS labels (`segment`, default the
    built-in model) then, with cfg.brain, the atlas brain layers (`brain`); returns
    (labels Volume, {layer: Volume}). The GUI's Build twin runs this."""
    cfg = cfg or PipelineConfig()
    segment = segment or (lambda img: segment_volume(img, cfg))
    labels = yield from _sub(segment(image), "segment", 0.0, 0.6 if cfg.brain else 1.0)
    layers: dict[str, Volume] = {}
    if cfg.brain:
        brain = brain or brain_volume
        layers = yield from _sub(brain(image), "brain", 0.6, 1.0)
    return labels, layers


def image_metrics(truth: Volume, recon: Volume) -> dict[str, float]:
    """PSNR/SSIM of the reconstruction against the fully sampled image (project convention:
    magnitude, data_range = max(truth), SSIM 7×7×7 over the volume)."""
    from headtwin_app.core.metrics import psnr, ssim

    gt = np.asarray(truth.data, np.float32)
    rec = np.asarray(recon.data, np.float32)
    if min(gt.shape) >= 7:
        return {"psnr": psnr(gt, rec), "ssim": ssim(gt, rec)}
    return {"psnr": psnr(gt, rec),
            "ssim": float(np.mean([ssim(gt[..., z], rec[..., z]) for z in range(gt.shape[2])]))}


def iter_pipeline(source: Volume, cfg: PipelineConfig, reference: Volume | None = None,
                  mesher: Callable[[Volume], Any] | None = None) -> Stage:
    """Run the whole flow on an image (undersampled here) or on a Volume carrying k-space.

    Yields `Progress` with fractions of the whole run; returns a PipelineResult whose report
    holds seconds per stage, the mask actually used, PSNR/SSIM where a fully sampled image is
    known, and — with a `reference` label map — Dice/HD95/ASSD per structure and their means.
    `mesher(twin)` (the render layer's surface extraction) runs last when given.
    """
    seconds: dict[str, float] = {}
    report: dict[str, Any] = {"method": cfg.method, "family": cfg.family, "accel": cfg.accel,
                              "seed": cfg.seed}
    spans = {"recon": (0.0, 0.25), "segment": (0.25, 0.6), "brain": (0.6, 0.9)}

    def staged(name: str, gen: Stage) -> Stage:
        lo, hi = spans[name]
        t0 = time.perf_counter()
        value = yield from _sub(gen, name, lo, hi)
        seconds[name] = round(time.perf_counter() - t0, 3)
        return value

    from headtwin_app.core.masks import achieved_accel

    if source.kspace is not None:
        recon, mask, truth = yield from staged("recon", reconstruct_kspace(source, cfg))
    else:
        recon, mask = yield from staged("recon", reconstruct_volume(source, cfg))
        truth = source
    report["accel_achieved"] = round(achieved_accel(mask), 4)
    if truth is not None:
        report["image"] = {k: round(v, 4) for k, v in image_metrics(truth, recon).items()}
    labels = yield from staged("segment", segment_volume(recon, cfg))
    brain: dict[str, Volume] = {}
    twin = None
    if cfg.brain:
        brain = yield from staged("brain", brain_volume(recon))
        t0 = time.perf_counter()
        twin = fuse_twin(labels, brain)
        seconds["fuse"] = round(time.perf_counter() - t0, 3)
        report["fusion"] = twin.report
    result = PipelineResult(recon, labels, brain, twin, report)
    if reference is not None:
        yield Progress("score", 0.9, "scoring against the reference")
        t0 = time.perf_counter()
        report["twin"] = twin_scores(reference, twin.twin if twin else labels, labels)
        seconds["score"] = round(time.perf_counter() - t0, 3)
    if mesher is not None:
        yield Progress("mesh", 0.95, "meshing the twin")
        t0 = time.perf_counter()
        report["meshes"] = mesher(twin.twin if twin else labels)
        seconds["mesh"] = round(time.perf_counter() - t0, 3)
    seconds["total"] = round(sum(seconds.values()), 3)
    report["seconds"] = seconds
    yield Progress("done", 1.0, f"done in {seconds['total']:.1f} s")
    return result


def save_result(result: PipelineResult, out: str | Path,
                source: Volume | None = None) -> dict[str, Path]:
    """Write recon.nii.gz, labels.nii.gz, brain_*.nii.gz, twin.nii.gz + twin.json into `out`,
    each in the voxel grid of the file `source` was loaded from (array order and affine)."""
    from headtwin_app.core.io import save_volume
    from headtwin_app.core.io.grid import to_source_grid
    from headtwin_app.core.seg.fusion import BRAIN_FILES, save_twin

    def grid(vol: Volume) -> Volume:
        return vol if source is None else to_source_grid(vol, source)

    d = Path(out)
    written = {"recon": save_volume(grid(result.recon), d / "recon.nii.gz"),
               "labels": save_volume(grid(result.labels), d / "labels.nii.gz")}
    for name, vol in result.brain.items():
        written[f"brain_{name}"] = save_volume(grid(vol), d / f"{BRAIN_FILES[name]}.nii.gz")
    if result.twin is not None:
        twin = FusedTwin(grid(result.twin.twin),
                         {k: grid(v) for k, v in result.twin.layers.items()}, result.twin.report)
        for name, path in save_twin(twin, d / "twin.nii.gz").items():
            written[name if name in ("twin", "sidecar") else f"twin_{name}"] = path
    return written
