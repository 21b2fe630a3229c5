"""Domain randomisation (the SynthSeg idea, Billot et al., MedIA 2023): training images drawn from
a tissue-class map with random contrast, so the model must learn shape rather than grey level.

Every draw picks per-tissue intensities — either uniform random (most draws) or the signal of a
random spin-echo, gradient-echo or inversion-recovery sequence with jittered tissue parameters —
then degrades the image like a scanner might: within-tissue texture, a random resolution and
slice thickness along a random axis, a smooth bias field, Rician noise, and a gamma curve.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from headtwin_app.core.phantom.sequences import Sequence, signal_lut
from headtwin_app.core.phantom.tissues import BRAIN_CODES, CODE, TISSUES, parameter_table

N_CODES = len(TISSUES) + 1  # code 0 (unpainted) never occurs in a finished phantom


@dataclass(frozen=True)
class SynthConfig:
    """How wide the random draws are."""

    physics: float = 0.3  # share of draws using a random pulse sequence instead of random means
    texture: float = 0.06  # max within-tissue standard deviation (relative to the brightest)
    max_thickness_mm: float = 6.0  # slice thickness drawn up to this along one axis
    max_blur_mm: float = 1.5  # in-plane resolution loss (FWHM)
    bias: float = 0.35  # std of the log bias field
    max_noise: float = 0.05  # Rician noise sigma, up to this (relative to the brightest)
    gamma: float = 0.3  # std of log gamma


def random_lut(rng: np.random.Generator, cfg: SynthConfig = SynthConfig()) -> np.ndarray:
    """Per-tissue-code intensity, brightest ≈ 1; air and bone stay dark (no signal in any MR)."""
    if rng.random() < cfg.physics:
        lut = _physics_lut(rng)
    else:
        lut = rng.uniform(0.0, 1.0, N_CODES).astype(np.float32)
        lut[CODE["air"]] = rng.uniform(0.0, 0.05)
        for dark in ("cortical_bone", "teeth"):
            lut[CODE[dark]] = rng.uniform(0.0, 0.15)
    peak = float(lut.max())
    return (lut / peak if peak > 0 else lut).astype(np.float32)


def _physics_lut(rng: np.random.Generator) -> np.ndarray:
    """Signal of a random sequence with each tissue's PD, T1 and T2 jittered by ±20 %."""
    p = parameter_table()
    for k in ("pd", "t1", "t2", "t2s"):
        p[k] = p[k] * rng.uniform(0.8, 1.2, p[k].shape)
    kind = str(rng.choice(["se", "gre", "ir"]))
    tr = float(np.exp(rng.uniform(np.log(300.0), np.log(10000.0))))
    te = float(rng.uniform(2.0, min(150.0, 0.5 * tr)))
    if kind == "gre":
        tr = float(rng.uniform(5.0, 50.0))
        te = float(rng.uniform(1.5, min(30.0, 0.8 * tr)))
        seq = Sequence("gre", tr=tr, te=te, flip=float(rng.uniform(5.0, 90.0)))
    elif kind == "ir":
        seq = Sequence("ir", tr=tr, te=te, ti=float(rng.uniform(0.05, 0.6) * tr))
    else:
        seq = Sequence("se", tr=tr, te=te)
    return signal_lut(seq, p)


def gaussian_blur(x: torch.Tensor, sigmas: Seq[float]) -> torch.Tensor:
    """Separable Gaussian blur of a (x, y, z) tensor, sigma per axis in voxels (≤ 0.2: none)."""
    out = x[None, None]
    for ax, s in enumerate(sigmas):
        if s <= 0.2:
            continue
        r = int(np.ceil(2.5 * s))
        k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype, device=x.device) / s) ** 2)
        k = (k / k.sum()).reshape([1, 1] + [2 * r + 1 if a == ax else 1 for a in range(3)])
        pad = [0] * 6
        pad[2 * (2 - ax)] = pad[2 * (2 - ax) + 1] = r
        out = F.conv3d(F.pad(out, pad, mode="replicate"), k)
    return out[0, 0]


def smooth_field(shape: Seq[int], rng: np.random.Generator, std: float, cells: int = 4,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """A smooth random field (trilinear from a `cells`³ grid) of about this std."""
    coarse = torch.from_numpy(rng.normal(0.0, std, (1, 1, cells, cells, cells)).astype(np.float32))
    coarse = coarse.to(device)
    return F.interpolate(coarse, size=tuple(shape), mode="trilinear", align_corners=True)[0, 0]


def degrade(base: torch.Tensor, voxel_mm: float, rng: np.random.Generator,
            texture: torch.Tensor | None = None, cfg: SynthConfig = SynthConfig()) -> torch.Tensor:
    """Scanner-like degradation of a noise-free (x, y, z) image (brightest ≈ 1) on a grid of
    `voxel_mm`: texture (a field of per-voxel std `texture`), resolution, bias, noise, gamma."""
    x = base
    if texture is not None:
        x = x + texture * _randn(x, rng)
    fwhm = rng.uniform(0.0, cfg.max_blur_mm, 3)
    if rng.random() < 0.5:
        fwhm[int(rng.integers(3))] = rng.uniform(1.0, cfg.max_thickness_mm)
    x = gaussian_blur(x, [max(0.0, f) / 2.355 / voxel_mm for f in fwhm])
    x = x * torch.exp(smooth_field(x.shape, rng, cfg.bias * rng.random(), device=x.device))
    sigma = float(rng.uniform(0.0, cfg.max_noise))
    x = torch.sqrt((x + sigma * _randn(x, rng)) ** 2 + (sigma * _randn(x, rng)) ** 2)
    x = x.clamp(min=0.0) ** float(np.exp(rng.normal(0.0, cfg.gamma)))
    return x


def _randn(like: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Standard normal noise shaped and placed like `like`, seeded from `rng` (reproducible)."""
    g = torch.Generator(like.device).manual_seed(int(rng.integers(2 ** 62)))
    return torch.randn(like.shape, generator=g, device=like.device, dtype=like.dtype)


def draw_contrast(rng: np.random.Generator, cfg: SynthConfig = SynthConfig()
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """One random contrast: per-code intensity (brightest 1) and within-tissue std."""
    lut = torch.from_numpy(random_lut(rng, cfg))
    sd = torch.from_numpy(rng.uniform(0.0, cfg.texture, N_CODES).astype(np.float32))
    return lut, sd


def render_classes(classes: np.ndarray, voxel_mm: float, rng: np.random.Generator,
                   cfg: SynthConfig = SynthConfig(), strip: bool = False,
                   device: torch.device | str = "cpu") -> np.ndarray:
    """A random-contrast image of a whole tissue-class map (uint8 codes) on its own grid
    (`strip`: skull-stripped, everything but the brain and cord black); torch work on `device`."""
    lut, sd = draw_contrast(rng, cfg)
    if strip:
        lut = strip_lut(lut)
    idx = torch.from_numpy(np.asarray(classes, dtype=np.int64)).to(device)
    lut, sd = lut.to(device), sd.to(device)
    return degrade(lut[idx], voxel_mm, rng, sd[idx], cfg).cpu().numpy()  # type: ignore[no-any-return]


KEPT_BY_STRIPPING = (*BRAIN_CODES, CODE["cord"])
"""Tissue codes a skull-stripped scan keeps (brain-masked templates such as the MNI ICBM152 T1
are black elsewhere); the only twin structure left visible is the spinal cord."""


STRIP_KEEPS = (12,)
"""Label ids still visible in a skull-stripped scan: the spinal cord (tissue code "cord")."""


def stripped_classes(ids: Seq[int]) -> list[int]:
    """Class indices (positions in label `ids`) that stay labelled in a skull-stripped image."""
    return [k for k, i in enumerate(ids) if i in STRIP_KEEPS]


def strip_lut(lut: torch.Tensor) -> torch.Tensor:
    """`lut` with every code outside `KEPT_BY_STRIPPING` black, rescaled so the brightest is 1."""
    keep = torch.zeros_like(lut)
    keep[list(KEPT_BY_STRIPPING)] = 1.0
    out = lut * keep
    peak = float(out.max())
    return out / peak if peak > 0 else out


def class_fractions(classes: np.ndarray, size: Seq[int],
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """Area-averaged one-hot tissue codes on a coarser grid → (N_CODES, *size) float16 on
    `device`, so a coarse image of any contrast is one weighted sum (exact partial volume)."""
    idx = torch.from_numpy(np.asarray(classes, dtype=np.int64)).to(device)
    out = torch.zeros((N_CODES, *size), dtype=torch.float16, device=device)
    for k in np.unique(classes):
        m = (idx == int(k)).float()[None, None]
        out[int(k)] = F.interpolate(m, size=tuple(size), mode="area")[0, 0].half()
    return out


def whole_scale(frac: torch.Tensor, lut: torch.Tensor) -> float:
    """The 99.5th percentile of the noise-free image of all of `frac` (sampled every 3rd voxel),
    the number the predictor's normalisation would divide the whole image by."""
    sub = torch.einsum("k,kxyz->xyz", lut.to(frac.device), frac[:, ::3, ::3, ::3].float())
    return max(float(torch.quantile(sub.flatten()[::4], 0.995)), 1e-3)


def render_fractions(frac: torch.Tensor, lut: torch.Tensor, sd: torch.Tensor, scale: float,
                     voxel_mm: float, rng: np.random.Generator,
                     cfg: SynthConfig = SynthConfig()) -> torch.Tensor:
    """A random-contrast image from class fractions (N_CODES, x, y, z) → (x, y, z), divided by
    `scale` (see `whole_scale`) so a patch is normalised like the whole image it comes from."""
    f = frac.float()
    base = torch.einsum("k,kxyz->xyz", lut.to(f.device), f) / scale
    texture = torch.einsum("k,kxyz->xyz", sd.to(f.device), f) / scale
    return degrade(base, voxel_mm, rng, texture, cfg).clamp(max=2.0)
