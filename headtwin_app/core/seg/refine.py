"""Fine stage of the built-in model: a 1 mm U-Net that corrects the 2 mm class probabilities.

At 2 mm the TMJ discs (1-3 mm thick) and thin bone fall below the grid: the 2 mm truth itself,
upsampled, scores only 0.84 Dice on the discs. The refiner sees the image on a 1 mm grid with the
coarse probabilities upsampled beside it and adds a learned correction to their logarithm, so
untrained it reproduces the coarse model and trained it moves boundaries. Tiles where the coarse
model is sure of every voxel are skipped (on a whole head few are: 1 of 100).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from headtwin_app.core.seg.backend import Progress, TrainingCase
from headtwin_app.core.seg.builtin import (
    coarse_shape,
    normalise,
    pad_to_multiple,
    padded_size,
    seg_loss,
    tent,
    tile_starts,
)
from headtwin_app.core.seg.fit import fit, init_from, load_checkpoint, save_checkpoint
from headtwin_app.core.seg.synth import render_classes, stripped_classes
from headtwin_app.core.seg.unet import UNet3D

SURE = 0.97  # a tile whose every voxel has a coarse class probability ≥ this is left as it is

CoarseFn = Callable[[np.ndarray, Sequence[float]], torch.Tensor]


@dataclass
class RefineConfig:
    """Fine-stage settings (saved in the checkpoint)."""

    spacing_mm: float = 1.0
    base: int = 16
    depth: int = 4
    patch: int = 64
    stride: int = 48  # tile stride at prediction
    batch: int = 2
    iterations: int = 3000
    lr: float = 2e-3
    seed: int = 0
    time_limit_s: float = 1e9
    threads: int = 0
    init_from: str = ""
    bf16: bool = False
    randomise: float = 0.0  # share of renders in a random contrast (core.seg.synth)
    renders: int = 1  # images made of each case (each its own draw; more cost memory)
    strip: float = 0.0  # share of random-contrast renders skull-stripped (see builtin.TrainConfig)
    focus: int = 0  # a label id whose voxels centre `focus_share` of the patches (0: none)
    focus_share: float = 0.0


class RefineNet(nn.Module):
    """U-Net on [image, coarse probabilities] whose output is added to log(probabilities); the
    last layer starts at zero, so an untrained refiner returns the coarse prediction."""

    def __init__(self, n_classes: int, base: int = 16, depth: int = 4):
        super().__init__()
        self.unet = UNet3D(1 + n_classes, n_classes, base, depth)
        nn.init.zeros_(self.unet.head.weight)
        nn.init.zeros_(self.unet.head.bias)  # type: ignore[arg-type]

    @property
    def multiple(self) -> int:
        return self.unet.multiple

    def forward(self, image: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        """image (N, 1, ...), prior (N, C, ...) probabilities → logits (N, C, ...), float32."""
        correction = self.unet(torch.cat([image, prior.to(image.dtype)], 1))
        return correction.float() + torch.log(prior.float().clamp_min(1e-3))


def resample(t: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """(N, C, ...) onto `size`: area-averaging when shrinking, trilinear otherwise."""
    size = tuple(int(s) for s in size)
    if tuple(t.shape[2:]) == size:
        return t
    shrink = all(n <= s for n, s in zip(size, t.shape[2:], strict=True))
    if shrink:
        return F.interpolate(t, size=size, mode="area")
    return F.interpolate(t, size=size, mode="trilinear", align_corners=False)


def fine_image(image: np.ndarray, size: Sequence[int]) -> torch.Tensor:
    """Normalised image on the fine grid → (1, 1, *size) float32."""
    return resample(torch.from_numpy(normalise(image))[None, None], size)


def fine_prior(coarse: torch.Tensor, size: Sequence[int],
               device: torch.device | str = "cpu") -> torch.Tensor:
    """Coarse probabilities (1, C, ...) upsampled to `size` (on `device`), quantised to uint8
    (C, *size) on the CPU so a whole head's 13 classes take 160 MB instead of 630."""
    out = torch.empty((coarse.shape[1], *size), dtype=torch.uint8)
    for k in range(coarse.shape[1]):
        up = F.interpolate(coarse[:, k : k + 1].float().to(device), size=tuple(size),
                           mode="trilinear", align_corners=False)[0, 0]
        out[k] = (up.clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    return out


def fine_labels(labels: np.ndarray, ids: Sequence[int], size: Sequence[int]) -> torch.Tensor:
    """Label ids → class indices (uint8) on the fine grid (nearest neighbour)."""
    lut = np.zeros(int(max(int(np.max(labels, initial=0)), max(ids))) + 1, dtype=np.uint8)
    for k, i in enumerate(ids):
        lut[i] = k
    idx = torch.from_numpy(lut[np.asarray(labels, dtype=np.int64)])
    if tuple(idx.shape) != tuple(size):
        idx = F.interpolate(idx[None, None].float(), size=tuple(size), mode="nearest")[0, 0]
    return idx.to(torch.uint8)


def iter_refine_tiles(net: RefineNet, image: torch.Tensor, prior: torch.Tensor, patch: int,
                      stride: int, sure: float = SURE
                      ) -> Generator[tuple[int, int], None, torch.Tensor]:
    """Refined probabilities (1, C, *image.shape[2:]), returned when the generator ends, after
    yielding (tiles done, tiles to run) per tile so a caller can report progress and stop:
    tent-blended tiles where some voxel's coarse probability is below `sure`, elsewhere the
    (dequantised) coarse probabilities."""
    device = next(net.parameters()).device
    shape = tuple(int(s) for s in image.shape[2:])
    size = padded_size(shape, patch, net.multiple)
    pad = [v for s, n in zip(reversed(shape), reversed(size), strict=True) for v in (0, n - s)]
    img, pri = F.pad(image, pad), F.pad(prior, pad)
    tile = [min(patch, n) for n in size]
    w = tent(tile)
    starts = tile_starts(size, tile, [min(stride, t) for t in tile])
    level = round(sure * 255)
    tiles = [sl for a in starts[0] for b in starts[1] for c in starts[2]
             for sl in [(slice(a, a + tile[0]), slice(b, b + tile[1]), slice(c, c + tile[2]))]
             if int(pri[(slice(None), *sl)].max(0).values.min()) < level]
    acc = torch.zeros((prior.shape[0], *size))
    norm = torch.zeros(size)
    for n, sl in enumerate(tiles):
        with torch.no_grad():
            p = (pri[(slice(None), *sl)].float() / 255)[None].to(device)
            logits = net(img[(slice(None), slice(None), *sl)].to(device), p)
            acc[(slice(None), *sl)] += torch.softmax(logits, 1)[0].cpu() * w
            norm[sl] += w
        yield n + 1, len(tiles)
    skipped = norm == 0
    acc /= norm.clamp_min(1e-6)  # in place: a whole head's 13 classes take 0.7 GB
    acc[:, skipped] = pri[:, skipped].float() / 255
    return acc[None, :, : shape[0], : shape[1], : shape[2]]


def refine_tiles(net: RefineNet, image: torch.Tensor, prior: torch.Tensor, patch: int,
                 stride: int, sure: float = SURE) -> torch.Tensor:
    """`iter_refine_tiles` run to the end."""
    return run_to_end(iter_refine_tiles(net, image, prior, patch, stride, sure))


def run_to_end(gen: Generator[Any, None, Any]) -> Any:
    """The return value of a generator, its yields ignored."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


class Refiner:
    """Fine-stage weights, loaded once; `refine` maps coarse to fine-grid probabilities."""

    def __init__(self, weights: str | os.PathLike[str], device: torch.device):
        self.weights = Path(weights)
        self.device = device
        self._net: RefineNet | None = None
        self.checkpoint: dict[str, Any] = {}

    def load(self) -> RefineNet:
        if self._net is not None:
            return self._net
        net, ck = load_checkpoint(
            self.weights, lambda c: RefineNet(len(c["label_ids"]), c["config"]["base"],
                                              c["config"]["depth"]),
            "refinement checkpoint", "refinement weights not found")
        self.checkpoint = ck
        self._net = net.to(self.device).eval()
        return self._net

    def iter_refine(self, image: np.ndarray, spacing: Sequence[float], coarse: torch.Tensor
                    ) -> Generator[tuple[int, int], None, torch.Tensor]:
        """Probabilities (1, C, fine grid) from the image and the coarse probabilities, as the
        return value of a generator yielding (tiles done, tiles to run)."""
        net = self.load()
        cfg = self.checkpoint["config"]
        size = coarse_shape(image.shape, spacing, cfg["spacing_mm"])
        return (yield from iter_refine_tiles(net, fine_image(image, size),
                                             fine_prior(coarse, size), int(cfg["patch"]),
                                             int(cfg["stride"])))

    def refine(self, image: np.ndarray, spacing: Sequence[float],
               coarse: torch.Tensor) -> torch.Tensor:
        """`iter_refine` run to the end."""
        return run_to_end(self.iter_refine(image, spacing, coarse))


def train_refiner(coarse: CoarseFn, label_ids: Sequence[int], cases: Sequence[TrainingCase],
                  out: str | os.PathLike[str], device: torch.device,
                  **options: Any) -> Iterator[Progress]:
    """Train the fine stage on `cases` behind the coarse model `coarse` (image, spacing →
    (1, C, coarse grid) probabilities) and save it to `out`; options are `RefineConfig` fields.
    Yields Progress (stop iterating to cancel; nothing is saved)."""
    cfg = RefineConfig(**options)
    if not cases:
        raise ValueError("no training cases")
    ids = [int(i) for i in label_ids]
    for c in cases:
        extra = sorted(set(int(i) for i in np.unique(c.labels.data)) - set(ids))
        if extra:
            raise ValueError(f"case {c.name} has labels {extra} the coarse model does not know")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    data = []
    renders = [(c, r) for c in cases for r in range(max(1, cfg.renders))]
    for n, (c, _) in enumerate(renders):
        size = coarse_shape(c.image.shape, c.image.spacing, cfg.spacing_mm)
        image, strip = c.image.data, False
        if c.tissue is not None and rng.random() < cfg.randomise:
            strip = bool(rng.random() < cfg.strip)
            image = render_classes(c.tissue.data, float(np.mean(c.image.spacing)), rng,
                                   strip=strip, device=device)
        with torch.inference_mode():
            prior = fine_prior(coarse(image, c.image.spacing), size, device)
        lab = fine_labels(c.labels.data, ids, size)
        if strip:
            lab = lab * torch.isin(lab, torch.tensor(stripped_classes(ids), dtype=torch.uint8))
        sub = lab[::2, ::2, ::2]
        voxels = [torch.nonzero(sub == k) * 2 for k in range(1, len(ids))]
        focus = voxels[ids.index(cfg.focus) - 1] if cfg.focus in ids[1:] else None
        if focus is not None and not len(focus):
            focus = None  # not in this case
        data.append((fine_image(image, size)[0].half(), prior, lab,
                     [v for v in voxels if len(v)], focus))
        yield Progress("prepare", (n + 1) / len(renders), f"case {c.name}: coarse prediction")
    net = RefineNet(len(ids), cfg.base, cfg.depth)
    if cfg.init_from:
        init_from(net, cfg.init_from, ids)
    net = net.to(device)

    def batch() -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        xb, pb, yb = _batch(data, cfg, rng)
        target = F.one_hot(yb.to(device).long(), len(ids)).permute(0, 4, 1, 2, 3).float()
        return (xb.to(device), pb.to(device)), target

    it, loss_avg = yield from fit(net, batch, seg_loss, device, cfg.lr, cfg.iterations,
                                  cfg.bf16, cfg.time_limit_s, t0)
    seconds = time.perf_counter() - t0
    out = save_checkpoint({"state_dict": net.cpu().state_dict(), "config": asdict(cfg),
                           "label_ids": ids, "iterations_done": it, "train_seconds": seconds,
                           "cases": [c.name for c in cases], "final_loss": loss_avg,
                           "stage": "refine"}, out)
    yield Progress("done", 1.0, f"saved {out}", {"loss": loss_avg, "seconds": seconds})


def _batch(data: list, cfg: RefineConfig, rng: np.random.Generator
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Patches (image, prior, class indices): a share `cfg.focus_share` centred near a voxel of
    the `cfg.focus` structure, of the rest 80 % near a voxel of a structure drawn uniformly and
    20 % anywhere; random left-right flip and intensity jitter."""
    xs, ps, ys = [], [], []
    for _ in range(cfg.batch):
        x, prior, lab, voxels, focus = data[int(rng.integers(len(data)))]
        shape = lab.shape
        p = [min(cfg.patch, s) for s in shape]
        idx = None
        if focus is not None and rng.random() < cfg.focus_share:
            idx = focus
        elif voxels and rng.random() < 0.8:
            idx = voxels[int(rng.integers(len(voxels)))]
        if idx is not None:
            c = idx[int(rng.integers(len(idx)))].tolist()
            lo = [int(np.clip(c[a] - p[a] // 2 + rng.integers(-16, 17), 0, shape[a] - p[a]))
                  for a in range(3)]
        else:
            lo = [int(rng.integers(0, shape[a] - p[a] + 1)) for a in range(3)]
        sl = tuple(slice(lo[a], lo[a] + p[a]) for a in range(3))
        xp, pp, yp = x[(slice(None), *sl)].float(), prior[(slice(None), *sl)], lab[sl]
        if rng.random() < 0.5:
            xp, pp, yp = xp.flip(1), pp.flip(1), yp.flip(0)
        xs.append(xp * float(rng.uniform(0.85, 1.15)) + float(rng.normal(0, 0.03)))
        ps.append(pp.float() / 255)
        ys.append(yp)
    mult = 2 ** (cfg.depth - 1)
    return (pad_to_multiple(torch.stack(xs), mult)[0], pad_to_multiple(torch.stack(ps), mult)[0],
            pad_to_multiple(torch.stack(ys)[:, None], mult)[0][:, 0])
