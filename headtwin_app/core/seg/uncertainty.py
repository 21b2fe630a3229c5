"""Where the built-in model is unsure: per-voxel and per-structure uncertainty by test-time
augmentation, so an annotator reviews the doubtful structures and cases first.

The model (both stages) runs on the image as is and mirrored left-right, and the two views'
class probabilities are averaged. The mirror is the one fair view: training flipped left-right
(the twin labels 1-12 have no left/right ids, so no channels swap), while an upside-down or
back-to-front head halves the Dice, and tiles shifted by half a stride segment worse and made the
scores track the error less well (docs/benchmarks/uncertainty.md). Per voxel: normalised entropy
of the mean probabilities. Per structure: the expected 1 - Dice of the proposal if the truth were
drawn from them, sum|h - p| / (sum h + sum p), which tracks the actual error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from headtwin_app.core.seg.backend import Progress
from headtwin_app.core.seg.builtin import (
    BuiltinUNetBackend,
    argmax_on_grid,
    coarse_shape,
    sliding_window,
    to_coarse,
)
from headtwin_app.core.volume import Volume

__all__ = ["VIEWS", "UncertaintyResult", "View", "case_score", "estimate_uncertainty",
           "expected_error", "iter_uncertainty", "iter_views", "normalised_entropy",
           "rank_by_uncertainty", "single_view_scores", "structure_scores"]


@dataclass(frozen=True)
class View:
    """One test-time view: the image as is, or mirrored left-right (array axis 0, RAS)."""

    flip: bool = False


# In order of use: `views=1` runs the first, `views=2` both.
VIEWS = (View(), View(flip=True))


@dataclass
class UncertaintyResult:
    """The proposal, where it is unsure, and how unsure each structure is.

    Attributes:
        labels: proposed label ids on the image grid (the first view's, i.e. `predict`'s).
        uncertainty: float32 in [0, 1] on the image grid (normalised entropy).
        scores: structure name → expected 1 - Dice of its proposal, in [0, 1]; structures the
            model finds nowhere are left out.
        voxels: structure name → proposed voxels (image grid).
        views: how many views were averaged; seconds: time taken; grid: "fine" or "coarse".
    """

    labels: Volume
    uncertainty: Volume
    scores: dict[str, float]
    voxels: dict[str, int] = field(default_factory=dict)
    views: int = 1
    seconds: float = 0.0
    grid: str = "fine"

    @property
    def case_score(self) -> float:
        """Mean of the structure scores (what `rank_by_uncertainty` orders cases by)."""
        return case_score(self.scores)


def normalised_entropy(prob: torch.Tensor) -> torch.Tensor:
    """Entropy of class probabilities (C, ...) over log C: 0 sure, 1 uniform; float32 (...).
    One class at a time, so a whole 1 mm head needs no second (C, ...) array."""
    n = int(prob.shape[0])
    if n < 2:
        return torch.zeros(prob.shape[1:])
    acc = torch.zeros(prob.shape[1:])
    for k in range(n):
        p = prob[k].float()
        acc -= p * torch.log(p.clamp_min(1e-12))
    return (acc / math.log(n)).clamp_(0.0, 1.0)


def expected_error(prob: torch.Tensor, hard: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Expected 1 - Dice per class of the hard labels `hard` (class indices) if the truth were
    drawn voxel by voxel from `prob` (C, ...): sum|h - p| / (sum h + sum p). When `hard` lies
    on a finer or coarser grid of the same extent, each class's probabilities are first
    resampled onto it (trilinear, as `argmax_on_grid` does), one class at a time.

    Returns:
        (error per class, NaN where a class has less than one voxel of mass; voxels of `hard`
        per class).
    """
    n = int(prob.shape[0])
    if hard.dim() != prob.dim() - 1:
        raise ValueError(f"hard labels of shape {tuple(hard.shape)} do not match probabilities "
                         f"of shape {tuple(prob.shape[1:])}")
    flat = hard.reshape(-1).long()
    hsum = torch.bincount(flat, minlength=n).double()
    if tuple(hard.shape) == tuple(prob.shape[1:]):
        p = prob.reshape(n, -1)
        inter = torch.bincount(flat, weights=p.gather(0, flat[None])[0].double(), minlength=n)
        psum = p.double().sum(1)
    else:
        size = tuple(int(s) for s in hard.shape)
        inter, psum = torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
        for k in range(n):
            up = F.interpolate(prob[None, k : k + 1].float(), size=size, mode="trilinear",
                               align_corners=False)[0, 0]
            psum[k] = up.sum(dtype=torch.float64)
            inter[k] = up[hard == k].sum(dtype=torch.float64)
    mass = hsum + psum
    err = torch.where(mass >= 1.0, (mass - 2 * inter) / mass.clamp_min(1e-12),
                      torch.full_like(mass, math.nan))
    return err.clamp(0.0, 1.0).numpy(), hsum.numpy().astype(np.int64)


def _coarse_view(backend: BuiltinUNetBackend, x: torch.Tensor, view: View) -> torch.Tensor:
    """Coarse probabilities (1, C, ...) of one view, left in the view's (mirrored) frame."""
    net = backend.load()
    patch = int(backend.checkpoint["config"]["patch"])
    with torch.inference_mode():
        return sliding_window(net, (x.flip(2) if view.flip else x).to(backend.device),
                              patch).cpu()


def _fine_view(refiner: Any, image: torch.Tensor, coarse: torch.Tensor, view: View
               ) -> Generator[tuple[int, int], None, torch.Tensor]:
    """Fine-stage probabilities (1, C, fine grid) of one view, back in the image's frame;
    `image` is the normalised image on the fine grid, `coarse` the view's coarse probabilities."""
    from headtwin_app.core.seg.refine import fine_prior, iter_refine_tiles

    net = refiner.load()
    cfg = refiner.checkpoint["config"]
    prior = fine_prior(coarse, tuple(int(s) for s in image.shape[2:]))
    with torch.inference_mode():
        prob = yield from iter_refine_tiles(net, image.flip(2) if view.flip else image, prior,
                                            int(cfg["patch"]), int(cfg["stride"]))
    return prob.flip(2) if view.flip else prob


ViewSink = Callable[[int, torch.Tensor], None]


def iter_views(backend: BuiltinUNetBackend, image: Volume, views: int, refine: bool,
               sink: ViewSink) -> Generator[Progress, None, str]:
    """Run the model on the first `views` of `VIEWS` and hand each view's class probabilities
    (1, C, working grid, in the image's frame) to `sink(view index, probabilities)`; yields
    `Progress` per view and stage and per fine-stage tile, returns the working grid, "fine"
    (the 1 mm stage ran) or "coarse"."""
    if not 1 <= int(views) <= len(VIEWS):
        raise ValueError(f"views must be 1-{len(VIEWS)}, got {views}")
    data = np.asarray(image.data)
    if data.ndim != 3 or min(data.shape) < 2:
        raise ValueError(f"uncertainty needs a 3D image, got shape {data.shape}")
    backend.load()
    if backend.threads:
        torch.set_num_threads(int(backend.threads))
    refiner = backend.refiner() if refine else None
    x = to_coarse(data, image.spacing, backend.checkpoint["config"]["spacing_mm"])
    fine_img = None
    if refiner is not None:
        from headtwin_app.core.seg.refine import fine_image

        refiner.load()
        fine_img = fine_image(data, coarse_shape(data.shape, image.spacing,
                                                 refiner.checkpoint["config"]["spacing_mm"]))
    n = int(views)
    for v, view in enumerate(VIEWS[:n]):
        name = f"view {v + 1}/{n}" + (" (mirrored)" if view.flip else "")
        yield Progress("coarse", v / n, f"{name}: 2 mm model")
        prob = _coarse_view(backend, x, view)
        if fine_img is not None:
            tiles = _fine_view(refiner, fine_img, prob, view)
            while True:
                try:
                    done, todo = next(tiles)
                except StopIteration as stop:
                    prob = stop.value
                    break
                yield Progress("refine", (v + done / todo) / n,
                               f"{name}: 1 mm fine stage, tile {done}/{todo}")
        elif view.flip:
            prob = prob.flip(2)
        sink(v, prob)
        del prob
    return "fine" if fine_img is not None else "coarse"


def structure_scores(mean: torch.Tensor, labels: torch.Tensor, label_ids: Sequence[int]
                     ) -> tuple[dict[str, float], dict[str, int]]:
    """Structure name → expected 1 - Dice (`expected_error`) of the proposal `labels` (class
    indices on the image grid) under the mean probabilities (C, working grid), and → its
    proposed voxels; background and structures with less than a voxel of mass are left out."""
    from headtwin_app.core.labels import default_label_table

    err, count = expected_error(mean, labels)
    table = default_label_table()
    scores, voxels = {}, {}
    for i, e, c in zip(label_ids, err, count, strict=True):
        if int(i) != 0 and np.isfinite(e):
            scores[table.name_of(int(i))] = round(float(e), 6)
            voxels[table.name_of(int(i))] = int(c)
    return scores, voxels


def single_view_scores(prob: torch.Tensor | np.ndarray, labels: np.ndarray,
                       label_ids: Sequence[int]) -> dict[str, float]:
    """Structure name → expected 1 - Dice of the label map `labels` (label ids, image grid)
    under one view's class probabilities (C, working grid): the cheap confidence that comes with
    every proposal (no test-time views, so less calibrated than `iter_uncertainty`). The labels
    are read at the working grid's voxel centres."""
    p = torch.as_tensor(prob)
    lab = np.asarray(labels)
    idx = [np.clip(((np.arange(n) + 0.5) * s / n).astype(np.int64), 0, s - 1)
           for n, s in zip(p.shape[1:], lab.shape, strict=True)]
    sub = lab[np.ix_(*idx)].astype(np.int64)
    lut = np.zeros(max(int(sub.max(initial=0)), max(int(i) for i in label_ids)) + 1, np.int64)
    for k, i in enumerate(label_ids):
        lut[int(i)] = k
    return structure_scores(p, torch.from_numpy(lut[sub]), label_ids)[0]


def iter_uncertainty(backend: BuiltinUNetBackend, image: Volume, views: int = 2,
                     refine: bool = True) -> Generator[Progress, None, UncertaintyResult]:
    """Generator form of `estimate_uncertainty`: a `Progress` per view and stage (and per
    fine-stage tile), the `UncertaintyResult` as its return value (close it to cancel).

    Args:
        backend: the built-in model (its fine stage runs when it has one and `refine`).
        image: a 3D head image (RAS, as loaders give it).
        views: test-time views to average (`VIEWS`): 1 is the model's own confidence (as long
            as `predict`), 2 adds the left-right mirror (twice as long, scores a little better).
        refine: use the 1 mm fine stage when the model has one (False: 2 mm stage only).
    """
    t0 = time.perf_counter()
    shape = tuple(image.shape)
    kept: dict[str, torch.Tensor] = {}

    def accumulate(v: int, prob: torch.Tensor) -> None:
        with torch.inference_mode():
            if v == 0:  # the first view is `predict`'s: its labels are the proposal
                kept["labels"] = argmax_on_grid(prob, shape)
                kept["total"] = prob[0]
            else:
                kept["total"].add_(prob[0])

    grid = yield from iter_views(backend, image, views, refine, accumulate)
    yield Progress("scores", 1.0, "uncertainty per voxel and structure")
    with torch.inference_mode():
        mean = kept.pop("total").div_(int(views))
        scores, voxels = structure_scores(mean, kept["labels"], backend.label_ids)
    ent = normalised_entropy(mean)
    del mean
    if tuple(ent.shape) != shape:
        ent = F.interpolate(ent[None, None], size=shape, mode="trilinear",
                            align_corners=False)[0, 0].clamp_(0.0, 1.0)
    lut = np.asarray(backend.label_ids, dtype=np.int16)
    return UncertaintyResult(
        labels=image.with_data(lut[kept["labels"].numpy()]),
        uncertainty=image.with_data(ent.numpy().astype(np.float32)),
        scores=scores, voxels=voxels, views=int(views), seconds=time.perf_counter() - t0,
        grid=grid)


def estimate_uncertainty(backend: BuiltinUNetBackend, image: Volume, views: int = 2,
                         refine: bool = True) -> UncertaintyResult:
    """Proposal, voxel uncertainty and structure scores of the built-in model on `image`
    (`iter_uncertainty` run to the end)."""
    gen = iter_uncertainty(backend, image, views, refine)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def case_score(scores: Mapping[str, float], how: str = "mean") -> float:
    """One number per case from its structure scores: their mean (default) or max; NaN when
    there are none."""
    values = [float(v) for v in scores.values() if v is not None and math.isfinite(float(v))]
    if how not in ("mean", "max"):
        raise ValueError(f"how must be 'mean' or 'max', got {how!r}")
    if not values:
        return math.nan
    return float(np.mean(values)) if how == "mean" else max(values)


def rank_by_uncertainty(cases: Mapping[str, Mapping[str, float]], how: str = "mean"
                        ) -> list[str]:
    """Case names, most uncertain first (active learning: label those next), from each case's
    structure scores; cases without a score go last, ties by name."""
    keyed = [(case_score(s, how), name) for name, s in cases.items()]
    known = sorted((k for k in keyed if math.isfinite(k[0])), key=lambda k: (-k[0], k[1]))
    unknown = sorted(name for value, name in keyed if not math.isfinite(value))
    return [name for _, name in known] + unknown

