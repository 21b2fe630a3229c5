"""Built-in segmentation backend: a small 3D U-Net that trains and predicts on CPU.

The network works at reduced resolution (2 mm by default): the image is area-averaged onto the
coarse grid, normalised by its 99.5th percentile, segmented in overlapping training-sized tiles,
and the class probabilities are
upsampled (trilinear, same half-voxel convention) to the input grid before the argmax, so the
label map keeps the input's shape, spacing and affine exactly. Training uses soft targets
(area-averaged one-hot labels) on random patches, cross-entropy + soft Dice, AdamW. When
`<weights>.refine.pt` sits beside the weights, its 1 mm fine stage (`refine.py`) corrects the
probabilities before the argmax.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from headtwin_app.core.device import resolve_device
from headtwin_app.core.seg.backend import MODELS_DIR, Progress, TrainingCase
from headtwin_app.core.seg.fit import fit, init_from, load_checkpoint, save_checkpoint
from headtwin_app.core.seg.synth import (
    class_fractions,
    draw_contrast,
    render_fractions,
    strip_lut,
    stripped_classes,
    whole_scale,
)
from headtwin_app.core.seg.unet import UNet3D
from headtwin_app.core.volume import Volume

DEFAULT_WEIGHTS = MODELS_DIR / "seg_builtin.pt"


@dataclass
class TrainConfig:
    """Training settings (saved in the checkpoint)."""

    spacing_mm: float = 2.0
    base: int = 16
    depth: int = 4
    patch: int = 64
    batch: int = 2
    iterations: int = 1500
    lr: float = 3e-3
    seed: int = 0
    time_limit_s: float = 1e9
    threads: int = 0  # 0: torch's default
    init_from: str = ""  # checkpoint to continue from (same architecture and labels)
    bf16: bool = False  # bfloat16 autocast: ~3x faster on CPUs with AVX512-BF16 (and on CUDA)
    # share of patches drawn in a random contrast from the case's tissue-class map (core.seg.synth;
    # cases without one always use their image)
    randomise: float = 0.0
    # share of random-contrast patches imaged skull-stripped (brain and cord only, all other
    # structures background), as brain-masked real scans such as the MNI ICBM152 T1 are
    strip: float = 0.0


def coarse_shape(shape: Sequence[int], spacing: Sequence[float], target_mm: float) -> tuple:
    """Grid size at `target_mm` covering the same extent."""
    return tuple(max(1, int(round(n * s / target_mm))) for n, s in zip(shape, spacing, strict=True))


def normalise(image: np.ndarray) -> np.ndarray:
    """Scale so the 99.5th percentile is 1 (clipped to [0, 2]); robust to the scanner's units."""
    img = np.asarray(image, dtype=np.float32)
    hi = float(np.percentile(img[::2, ::2, ::2], 99.5))
    lo = float(min(0.0, img.min()))
    if hi - lo <= 0:
        return np.zeros_like(img)
    return np.clip((img - lo) / (hi - lo), 0.0, 2.0)


def to_coarse(image: np.ndarray, spacing: Sequence[float], target_mm: float) -> torch.Tensor:
    """Area-average a normalised image onto the coarse grid → (1, 1, x, y, z) tensor."""
    t = torch.from_numpy(normalise(image))[None, None]
    size = coarse_shape(image.shape, spacing, target_mm)
    if tuple(t.shape[2:]) == size:
        return t
    return F.interpolate(t, size=size, mode="area")


def soft_targets(labels: np.ndarray, ids: Sequence[int], size: tuple,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """Area-averaged one-hot labels on the coarse grid → (C, x, y, z) float16 in [0, 1], made
    and kept on `device`."""
    lut = np.zeros(int(max(int(labels.max(initial=0)), max(ids))) + 1, dtype=np.int64)
    for k, i in enumerate(ids):
        lut[i] = k
    idx = torch.from_numpy(lut[np.asarray(labels, dtype=np.int64)]).to(device)
    out = torch.empty((len(ids), *size), dtype=torch.float16, device=device)
    for k in range(len(ids)):
        m = (idx == k).float()[None, None]
        out[k] = F.interpolate(m, size=size, mode="area")[0, 0].half()
    return out


def pad_to_multiple(t: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    shape = t.shape[2:]
    pads = [(-s) % multiple for s in shape]
    padding: list[int] = []
    for p in reversed(pads):
        padding += [0, p]
    return F.pad(t, padding), tuple(shape)


def tile_starts(size: Sequence[int], tile: Sequence[int], stride: Sequence[int]) -> list[list[int]]:
    """Start indices per axis so tiles of `tile` with `stride` cover `size` (last tile flush)."""
    return [sorted({*range(0, n - t + 1, max(1, s)), n - t})
            for n, t, s in zip(size, tile, stride, strict=True)]


def tent(tile: Sequence[int], device: torch.device | str = "cpu") -> torch.Tensor:
    """Blending weights of a tile: 1 in the centre falling linearly towards its faces (≥ 0.05)."""
    ramps = [torch.minimum(torch.arange(t) + 1.0, t - torch.arange(t).float()) / (t / 2)
             for t in tile]
    w = ramps[0][:, None, None] * ramps[1][None, :, None] * ramps[2][None, None, :]
    return w.clamp(min=0.05).to(device)


def padded_size(shape: Sequence[int], patch: int, multiple: int) -> list[int]:
    """Each side at least a patch and a multiple of the network's `multiple`."""
    return [max(patch, -(-int(s) // multiple) * multiple) for s in shape]


def sliding_window(net: UNet3D, x: torch.Tensor, patch: int) -> torch.Tensor:
    """Class probabilities (1, C, *x.shape[2:]) from overlapping patch-sized tiles (stride half
    a patch, tent-weighted): the network sees inputs like its training patches, which matters
    for instance normalisation."""
    shape = tuple(int(s) for s in x.shape[2:])
    size = padded_size(shape, patch, net.multiple)
    xp = F.pad(x, [v for s, n in zip(reversed(shape), reversed(size), strict=True)
                   for v in (0, n - s)])
    tile = [min(patch, n) for n in size]
    w = tent(tile, x.device)
    acc: torch.Tensor | None = None
    norm = torch.zeros(size, device=x.device)
    starts = tile_starts(size, tile, [t // 2 for t in tile])
    for a in starts[0]:
        for b in starts[1]:
            for c in starts[2]:
                sl = (slice(a, a + tile[0]), slice(b, b + tile[1]), slice(c, c + tile[2]))
                out = torch.softmax(net(xp[(slice(None), slice(None), *sl)]), 1)[0] * w
                if acc is None:
                    acc = torch.zeros((out.shape[0], *size), device=x.device)
                acc[(slice(None), *sl)] += out
                norm[sl] += w
    assert acc is not None
    prob = acc / norm
    return prob[None, :, : shape[0], : shape[1], : shape[2]]


def argmax_on_grid(prob: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Class index per voxel of `shape` from probabilities (1, C, ...) on another grid: each
    class upsampled trilinearly (same half-voxel convention) before the argmax, one at a time."""
    shape = tuple(int(s) for s in shape)
    if tuple(prob.shape[2:]) == shape:
        return prob[0].argmax(0).to(torch.int16)
    best = torch.full(shape, -math.inf)
    arg = torch.zeros(shape, dtype=torch.int16)
    for k in range(prob.shape[1]):
        up = F.interpolate(prob[:, k : k + 1], size=shape, mode="trilinear",
                           align_corners=False)[0, 0]
        better = up > best
        best = torch.where(better, up, best)
        arg[better] = k
    return arg


def refine_path(weights: str | os.PathLike[str]) -> Path:
    """Where a coarse model's fine stage lives: `seg_builtin.pt` → `seg_builtin.refine.pt`."""
    return Path(weights).with_suffix(".refine.pt")


class BuiltinUNetBackend:
    """Small 3D U-Net at reduced resolution; numpy/Volume in, label Volume out."""

    name = "builtin"

    def __init__(self, model: str | os.PathLike[str] | None = None, device: str | None = None,
                 threads: int | None = None, refine: bool | str | os.PathLike[str] = True):
        self.weights = Path(model) if model else DEFAULT_WEIGHTS
        self.device = resolve_device(device)
        self.threads = threads
        self.refine = refine
        self._net: UNet3D | None = None
        self._refiner: Any = None
        self.checkpoint: dict[str, Any] = {}

    # --- prediction -------------------------------------------------------------------------
    def load(self) -> UNet3D:
        """Load the weights once (clear error when they are missing or not ours)."""
        if self._net is not None:
            return self._net
        net, ck = load_checkpoint(
            self.weights, lambda c: UNet3D(1, len(c["label_ids"]), c["config"]["base"],
                                           c["config"]["depth"]),
            "built-in segmentation checkpoint", "built-in model weights not found (train them "
            "with `headtwin train-seg --backend builtin`)")
        self.checkpoint = ck
        self._net = net.to(self.device).eval()
        return self._net

    @property
    def refine_weights(self) -> Path | None:
        """The fine stage in use: `refine` when it is a path, else `<weights>.refine.pt` beside
        the coarse weights when that file exists (refine=True), else none."""
        if self.refine is False:
            return None
        if self.refine is not True:
            return Path(self.refine)
        path = refine_path(self.weights)
        return path if path.exists() else None

    def refiner(self) -> Any:
        """The loaded fine stage (`core.seg.refine.Refiner`) or None."""
        path = self.refine_weights
        if path is None:
            return None
        if self._refiner is None:
            from headtwin_app.core.seg.refine import Refiner

            fine = Refiner(path, self.device)
            fine.load()
            if [int(i) for i in fine.checkpoint["label_ids"]] != self.label_ids:
                raise ValueError(f"{path}: refinement trained for other labels than {self.weights}")
            self._refiner = fine
        return self._refiner

    @property
    def label_ids(self) -> list[int]:
        self.load()
        return [int(i) for i in self.checkpoint["label_ids"]]

    def predict(self, image: Volume) -> Volume:
        """Label map on the image's grid."""
        return image.with_data(self.predict_array(image.data, image.spacing))

    def probabilities(self, image: np.ndarray, spacing: Sequence[float]) -> torch.Tensor:
        """Coarse-stage class probabilities (1, C, coarse grid)."""
        net = self.load()
        if image.ndim != 3 or min(image.shape) < 2:
            raise ValueError(f"the built-in model needs a 3D image, got shape {image.shape}")
        if self.threads:
            torch.set_num_threads(int(self.threads))
        cfg = self.checkpoint["config"]
        x = to_coarse(image, spacing, cfg["spacing_mm"])
        with torch.inference_mode():
            return sliding_window(net, x.to(self.device), int(cfg["patch"])).cpu()

    def predict_array(self, image: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
        """numpy in (X, Y, Z), int16 labels out on the same grid."""
        from headtwin_app.core.seg.refine import run_to_end

        return run_to_end(self._iter_predict_array(image, spacing))  # type: ignore[no-any-return]

    def iter_predict(self, image: Volume) -> Iterator[Progress | Volume]:
        """Generator form of `predict`: `Progress` per stage and per fine-stage tile, the label
        Volume last (stop iterating to cancel within a tile)."""
        labels = yield from self._iter_predict_array(image.data, image.spacing)
        yield image.with_data(labels)

    def _iter_predict_array(self, image: np.ndarray, spacing: Sequence[float]
                            ) -> Generator[Progress, None, np.ndarray]:
        yield Progress("coarse", 0.0, "2 mm model")
        prob = self.probabilities(image, spacing)
        refiner = self.refiner()
        if refiner is not None:
            tiles = refiner.iter_refine(image, spacing, prob)
            while True:
                try:
                    done, total = next(tiles)
                except StopIteration as stop:
                    prob = stop.value
                    break
                yield Progress("refine", done / total, f"1 mm fine stage: tile {done}/{total}")
        with torch.inference_mode():
            arg = argmax_on_grid(prob, image.shape)
        ids = np.asarray(self.label_ids, dtype=np.int16)
        return ids[arg.numpy()]  # type: ignore[no-any-return]

    # --- training ---------------------------------------------------------------------------
    def train(self, cases: Sequence[TrainingCase], out: str | os.PathLike[str],
              **options: Any) -> Iterator[Progress]:
        """Train on `cases` and save the checkpoint to `out`; options are `TrainConfig` fields.
        Yields a Progress every few iterations (stop iterating to cancel; nothing is saved)."""
        cfg = TrainConfig(**options)
        if not cases:
            raise ValueError("no training cases")
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        ids = sorted({0} | {int(i) for c in cases for i in np.unique(c.labels.data)})
        t0 = time.perf_counter()
        data = []
        for n, c in enumerate(cases):
            x = to_coarse(c.image.data, c.image.spacing, cfg.spacing_mm)[0]
            # made, cut and synthesised where the network runs: no copies per step
            y = soft_targets(c.labels.data, ids, tuple(x.shape[1:]), self.device)
            frac = (class_fractions(c.tissue.data, tuple(x.shape[1:]), self.device)
                    if cfg.randomise > 0 and c.tissue is not None else None)
            data.append((x.to(self.device), y, class_voxels(y), frac))
            yield Progress("prepare", (n + 1) / len(cases), f"case {c.name} on the coarse grid")
        net = UNet3D(1, len(ids), cfg.base, cfg.depth)
        if cfg.init_from:
            init_from(net, cfg.init_from, ids)
        net = net.to(self.device)
        it, loss_avg = yield from fit(net, lambda: self._batch(data, cfg, rng, ids), seg_loss,
                                      self.device, cfg.lr, cfg.iterations, cfg.bf16,
                                      cfg.time_limit_s, t0)
        train_seconds = time.perf_counter() - t0
        out = save_checkpoint({"state_dict": net.cpu().state_dict(), "config": asdict(cfg),
                               "label_ids": ids, "iterations_done": it,
                               "train_seconds": train_seconds, "cases": [c.name for c in cases],
                               "final_loss": loss_avg}, out)
        self.weights, self._net, self._refiner = out, None, None
        yield Progress("done", 1.0, f"saved {out}", {"loss": loss_avg,
                                                     "seconds": train_seconds})

    def train_refiner(self, cases: Sequence[TrainingCase], out: str | os.PathLike[str],
                      **options: Any) -> Iterator[Progress]:
        """Train the fine stage (`core.seg.refine`) behind these coarse weights; options are
        `RefineConfig` fields. Save it as `refine_path(weights)` for `predict` to pick it up."""
        from headtwin_app.core.seg.refine import train_refiner

        yield from train_refiner(self.probabilities, self.label_ids, cases, out, self.device,
                                 **options)
        self._refiner = None

    @staticmethod
    def _batch(data: list, cfg: TrainConfig, rng: np.random.Generator, ids: Sequence[int] = ()
               ) -> tuple[tuple[torch.Tensor], torch.Tensor]:
        """Random patches, random left-right flip and intensity jitter. 80 % of patches are
        centred on a voxel of a structure drawn uniformly among those in the case (as nnU-Net
        oversamples foreground classes), so 600-voxel TMJ discs are seen as often as the skull.
        A share `cfg.randomise` is imaged in a random contrast from the tissue classes, and of
        those a share `cfg.strip` skull-stripped (`ids`: the label ids of the targets' classes)."""
        xs, ys = [], []
        for _ in range(cfg.batch):
            x, y, voxels, frac = data[int(rng.integers(len(data)))]
            shape = x.shape[1:]
            p = [min(cfg.patch, s) for s in shape]
            if voxels and rng.random() < 0.8:
                idx = voxels[int(rng.integers(len(voxels)))]
                c = idx[int(rng.integers(len(idx)))].tolist()
                lo = [int(np.clip(c[a] - p[a] // 2 + rng.integers(-12, 13), 0, shape[a] - p[a]))
                      for a in range(3)]
            else:
                lo = [int(rng.integers(0, shape[a] - p[a] + 1)) for a in range(3)]
            sl = (slice(None),) + tuple(slice(lo[a], lo[a] + p[a]) for a in range(3))
            yp = y[sl].float()
            if frac is not None and rng.random() < cfg.randomise:
                lut, sd = draw_contrast(rng)
                if rng.random() < cfg.strip:
                    lut, yp = strip_lut(lut), stripped_targets(yp, ids)
                xp = render_fractions(frac[sl], lut, sd, whole_scale(frac, lut), cfg.spacing_mm,
                                      rng)[None]
            else:
                xp = x[sl]
            if rng.random() < 0.5:
                xp, yp = xp.flip(1), yp.flip(1)
            xp = xp * float(rng.uniform(0.85, 1.15)) + float(rng.normal(0, 0.03))
            xs.append(xp)
            ys.append(yp)
        mult = 2 ** (cfg.depth - 1)
        xb, _ = pad_to_multiple(torch.stack(xs), mult)
        yb, _ = pad_to_multiple(torch.stack(ys), mult)
        return (xb,), yb


def stripped_targets(y: torch.Tensor, ids: Sequence[int]) -> torch.Tensor:
    """Soft targets (C, ...) over label `ids` of a skull-stripped patch: the structures of
    `synth.STRIP_KEEPS` stay, every other one becomes background."""
    out = torch.zeros_like(y)
    for k in stripped_classes(ids):
        out[k] = y[k]
    out[0] = 1.0 - out[1:].sum(0)
    return out


def class_voxels(y: torch.Tensor) -> list[torch.Tensor]:
    """Coarse-grid voxel indices (n, 3) of each foreground class with some voxel ≥ 30 % covered
    (soft targets y: (C, x, y, z)); the patch sampler draws centres from these."""
    out = []
    for k in range(1, y.shape[0]):
        idx = torch.nonzero(y[k] >= 0.3).cpu()
        if len(idx):
            out.append(idx)
    return out


def seg_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Soft cross-entropy + soft Dice over the foreground classes present in the batch."""
    logp = F.log_softmax(logits, dim=1)
    ce = -(target * logp).sum(1).mean()
    prob = logp.exp()
    dims = (0, 2, 3, 4)
    inter = (prob * target).sum(dims)
    denom = prob.sum(dims) + target.sum(dims)
    present = target.sum(dims) > 0
    present[0] = False
    dice = (2 * inter + 1e-5) / (denom + 1e-5)
    dl = 1 - dice[present].mean() if present.any() else torch.zeros((), device=logits.device)
    return ce + dl
