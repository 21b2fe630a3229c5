"""Undersampling simulation: image → k-space → mask (+ noise) → zero-filled image → metrics.

Layout ("encoding layout"): a 2D image is (ky, kx) — axis 0 phase encode, axis 1 readout; a
3D image is (ky, kx, kz) — the readout kx is axis 1 and the mask acts on the (ky, kz) plane.
`encoding_image` / `volume_data` convert from/to a `Volume`'s (X, Y, Z) RAS+ array: phase
encode along Y (anterior–posterior), readout along X, slices (or kz) along Z.

FFTs are centred and orthonormal (`headtwin_app.core.fft`), so image and k-space energies match.
`KSpaceSimulator` caches the full k-space (and, in 3D, the k-space already inverse-transformed
along the readout, since a 3D mask never varies along kx) so a mask change costs one inverse FFT.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.fft as _sfft

from headtwin_app.core import fft
from headtwin_app.core.masks import (
    DEFAULT_FILL,
    FAMILIES,
    FAMILY_NAMES,
    achieved_accel,
    expand_mask,
    make_mask,
    plane_shape,
)
from headtwin_app.core.metrics import MetricReference
from headtwin_app.core.scantime import ScanTimeModel, estimate


def encoding_image(data: np.ndarray, dims: int, slice_index: int | None = None) -> np.ndarray:
    """From a Volume array (X, Y, Z) to encoding layout: 2D → slice (Y, X) at `slice_index`
    (default the middle axial slice); 3D → (Y, X, Z)."""
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[:, :, None]
    if data.ndim != 3:
        raise ValueError(f"expected an (X, Y, Z) array, got shape {data.shape}")
    if dims == 2:
        nz = data.shape[2]
        z = nz // 2 if slice_index is None else int(slice_index)
        if not 0 <= z < nz:
            raise ValueError(f"slice {z} is outside the volume's 0..{nz - 1} axial slices")
        return data[:, :, z].T
    if dims == 3:
        if data.shape[2] < 2:
            raise ValueError("3D mode needs a 3D volume; this image is 2D (use --dims 2)")
        return data.transpose(1, 0, 2)
    raise ValueError(f"dims must be 2 or 3, got {dims}")


def volume_data(image: np.ndarray) -> np.ndarray:
    """Inverse of `encoding_image`: (ky, kx) → (X, Y, 1); (ky, kx, kz) → (X, Y, Z)."""
    if image.ndim == 2:
        return np.ascontiguousarray(image.T[:, :, None])
    if image.ndim == 3:
        return np.ascontiguousarray(image.transpose(1, 0, 2))
    raise ValueError(f"expected a 2D or 3D image, got shape {image.shape}")


def _axes(dims: int) -> tuple[int, ...]:
    return (0, 1) if dims == 2 else (0, 1, 2)


def to_kspace(image: np.ndarray) -> np.ndarray:
    """Centred orthonormal FFT over all axes (complex64)."""
    return fft.fftnc(np.asarray(image, dtype=np.complex64), _axes(image.ndim))


def undersample(kspace: np.ndarray, mask: np.ndarray, dims: int | None = None) -> np.ndarray:
    """Keep only the sampled points: kspace × mask (a plane mask is broadcast, kx full in 3D)."""
    dims = dims or kspace.ndim
    plane_shape(kspace.shape, dims)  # validates dims against the array
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != plane_shape(kspace.shape, dims) and mask.shape != kspace.shape:
        raise ValueError(f"mask shape {mask.shape} does not fit k-space {kspace.shape}")
    m = expand_mask(mask, dims) if mask.ndim == 2 else mask
    return kspace * m


def zero_filled(kspace: np.ndarray) -> np.ndarray:
    """Zero-filled reconstruction: magnitude of the inverse centred FFT (float32)."""
    return np.abs(fft.ifftnc(kspace, _axes(kspace.ndim))).astype(np.float32, copy=False)


def add_noise(kspace: np.ndarray, sigma: float, seed: int | Sequence[int] | None = 0,
              mask: np.ndarray | None = None) -> np.ndarray:
    """Add complex white Gaussian noise of std `sigma` (real and imaginary parts σ/√2 each);
    with `mask` (same shape or a broadcastable plane), only at sampled points."""
    if not (sigma >= 0 and math.isfinite(sigma)):
        raise ValueError(f"noise sigma must be >= 0, got {sigma:g}")
    out = np.array(kspace, dtype=np.complex64, copy=True)
    if sigma == 0:
        return out
    rng = np.random.default_rng(seed)
    sel = (np.ones(out.shape, dtype=bool) if mask is None
           else np.broadcast_to(np.asarray(mask, dtype=bool), out.shape))
    n = int(sel.sum())
    noise = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * (sigma / math.sqrt(2.0))
    out[sel] += noise.astype(np.complex64)
    return out


@dataclass
class SimulationResult:
    """One undersampling experiment.

    Attributes:
        mask: bool sampling plane, (ky, kx) in 2D or (ky, kz) in 3D.
        kspace: the undersampled (and noisy) k-space in encoding layout, or None if not kept.
        zero_filled: magnitude of the zero-filled reconstruction (float32).
        difference: zero_filled − ground truth (float32, signed).
        metrics: {"psnr", "ssim", "nmse"} against the ground-truth magnitude.
        accel_achieved: points of the plane / points sampled.
    """

    mask: np.ndarray
    kspace: np.ndarray | None
    zero_filled: np.ndarray
    difference: np.ndarray
    metrics: dict[str, float]
    accel_achieved: float
    dims: int
    meta: dict[str, Any] = field(default_factory=dict)


def _workers(size: int) -> int:
    """One FFT thread for small arrays (no thread start-up on busy machines), all for big."""
    return 1 if size < (1 << 18) else -1


def _ramp(n: int) -> np.ndarray:
    """exp(−2πi·k·(n//2)/n) for k in FFT order: multiplying k-space by it equals an fftshift
    of the inverse transform's output."""
    k = np.arange(n)
    return np.exp(-2j * np.pi * k * (n // 2) / n).astype(np.complex64)


def _prepare_hybrid(kspace: np.ndarray) -> np.ndarray:
    """(ky, kx, kz) centred k-space → (ky, x, kz) in FFT order along ky, kz, output shift
    folded in, such that |ifftn(masked, axes=(0, 2))| is the centred zero-filled image."""
    hyb = fft.ifftnc(kspace, (1,))
    hyb = np.fft.ifftshift(hyb, axes=(0, 2))
    hyb *= _ramp(kspace.shape[0])[:, None, None]
    hyb *= _ramp(kspace.shape[2])[None, None, :]
    return hyb


class KSpaceSimulator:
    """One image prepared for many masks: full k-space, ground truth and its SSIM windows cached.

    Args:
        image: magnitude (or complex) image in encoding layout, 2D (ky, kx) or 3D (ky, kx, kz).
        dims: 2 or 3 (default: image.ndim).
    """

    def __init__(self, image: np.ndarray, dims: int | None = None) -> None:
        image = np.asarray(image)
        dims = dims or image.ndim
        self.plane = plane_shape(image.shape, dims)
        self.dims = dims
        self.shape = image.shape
        self.gt = np.abs(image).astype(np.float32)
        self.kspace = to_kspace(image)
        # 3D: the mask is constant along kx, so transform kx back once: (ky, x, kz). Stored
        # in FFT order with the output fftshift folded in as a phase ramp, so a mask change
        # costs one plain inverse FFT over (ky, kz) and no shifts.
        self._hybrid = _prepare_hybrid(self.kspace) if dims == 3 else None
        self._ramp2 = (_ramp(self.shape[0])[:, None] * _ramp(self.shape[1])[None, :]
                       if dims == 2 else None)
        self.reference = MetricReference(self.gt)
        self._log_kspace: np.ndarray | None = None

    @property
    def max_value(self) -> float:
        return self.reference.data_range

    def log_kspace(self) -> np.ndarray:
        """Display-ready log(1 + |k|) of the full k-space plane (3D: the kx = 0 plane), cached."""
        if self._log_kspace is None:
            k = self.kspace if self.dims == 2 else self.kspace[:, self.shape[1] // 2, :]
            self._log_kspace = np.log1p(np.abs(k)).astype(np.float32)
        return self._log_kspace

    def run(self, mask: np.ndarray, *, noise: float = 0.0, seed: int = 0,
            keep_kspace: bool = True, metrics: bool = True) -> SimulationResult:
        """Apply a plane mask (and complex Gaussian noise) and reconstruct by zero filling.

        Args:
            mask: bool plane of shape `self.plane`.
            noise: noise std as a fraction of the image maximum (complex, white; at full
                sampling it equals the image-domain noise std, the FFT being orthonormal).
            seed: seed of the noise.
            keep_kspace: also return the undersampled k-space.
            metrics: compute PSNR/SSIM/NMSE.
        """
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.plane:
            raise ValueError(f"mask shape {mask.shape} does not match the plane {self.plane}")
        if not (noise >= 0 and math.isfinite(noise)):
            raise ValueError(f"noise must be >= 0, got {noise:g}")
        sigma = noise * self.max_value
        nseed = None if seed is None else (int(seed), 7919)  # noise stream apart from the mask's
        kspace_u: np.ndarray | None
        if self.dims == 2:
            kspace_u = self.kspace * mask
            if sigma > 0:
                kspace_u = add_noise(kspace_u, sigma, nseed, mask)
            # = zero_filled(kspace_u): the output fftshift folded into a cached phase ramp
            zk = _sfft.ifft2(_sfft.ifftshift(kspace_u) * self._ramp2, norm="ortho",
                             workers=_workers(kspace_u.size), overwrite_x=True)
            zf = np.abs(zk).astype(np.float32, copy=False)
        else:
            assert self._hybrid is not None
            ny, _, nz = self.shape
            cy, cz = np.nonzero(mask)  # centred indices of the sampled lines
            iy, iz = (cy - ny // 2) % ny, (cz - nz // 2) % nz  # the same lines in FFT order
            hyb = np.zeros_like(self._hybrid)
            lines = self._hybrid[iy, :, iz]  # (n_lines, x)
            noise_lines = None
            if sigma > 0:  # white noise stays white under the orthonormal kx transform
                rng = np.random.default_rng(nseed)
                shp = lines.shape
                noise_lines = ((rng.standard_normal(shp) + 1j * rng.standard_normal(shp))
                               * (sigma / math.sqrt(2.0))).astype(np.complex64)
                ramp = _ramp(ny)[iy] * _ramp(nz)[iz]
                lines = lines + noise_lines * ramp[:, None]
            hyb[iy, :, iz] = lines
            zf = np.abs(_sfft.ifftn(hyb, axes=(0, 2), norm="ortho", workers=_workers(hyb.size),
                                    overwrite_x=True))
            zf = zf.astype(np.float32, copy=False)
            kspace_u = None
            if keep_kspace:
                kspace_u = self.kspace * expand_mask(mask, 3)
                if noise_lines is not None:
                    kspace_u[cy, :, cz] += fft.fftnc(noise_lines, (1,))
        if not keep_kspace:
            kspace_u = None
        diff = zf - self.gt
        scores = self.reference.all(zf) if metrics else {}
        return SimulationResult(mask, kspace_u, zf, diff, scores, achieved_accel(mask), self.dims)

    def display_arrays(self, result: SimulationResult,
                       slice_index: int | None = None) -> dict[str, np.ndarray]:
        """Display-ready 2D float32 arrays: log-magnitude k-space (masked), mask, image,
        zero-filled and difference. 3D results show axial slice `slice_index` (default middle)
        and the (ky, kz) plane through kx = 0."""
        if self.dims == 2 or result.kspace is None or result.dims == 2:
            if self.dims == 2 and result.kspace is not None:
                klog = np.log1p(np.abs(result.kspace)).astype(np.float32)
            else:
                klog = self.log_kspace() * result.mask
        else:
            klog = np.log1p(np.abs(result.kspace[:, self.shape[1] // 2, :])).astype(np.float32)
        if self.dims == 2:
            img, zf, diff = self.gt, result.zero_filled, result.difference
        else:
            z = self.shape[2] // 2 if slice_index is None else int(slice_index)
            img = self.gt[:, :, z]
            zf, diff = result.zero_filled[:, :, z], result.difference[:, :, z]
        return {
            "kspace_log": klog,
            "mask": result.mask.astype(np.float32),
            "image": img,
            "zero_filled": zf,
            "difference": diff,
        }


def simulate(image: np.ndarray, family: str, accel: float, *, seed: int = 0,
             dims: int | None = None, noise: float = 0.0, pf_fraction: float | None = None,
             combine_with: str | None = None, keep_kspace: bool = True,
             scan_model: ScanTimeModel | None = None,
             simulator: KSpaceSimulator | None = None, **params: Any) -> SimulationResult:
    """Make a `family` mask at R for `image` (encoding layout), undersample, add noise, zero-fill.

    Args:
        image: 2D (ky, kx) or 3D (ky, kx, kz) image; 3D with dims=3 uses a (ky, kz) mask.
        family: mask family name; accel: requested R; seed: mask and noise seed.
        noise: complex Gaussian noise std as a fraction of the image maximum.
        pf_fraction / combine_with / **params: see `masks.make_mask`.
        simulator: a prepared `KSpaceSimulator` for this image (skips the forward FFT).
    Returns:
        a `SimulationResult` whose `meta` holds family, accel_requested and scan time.
    """
    sim = simulator or KSpaceSimulator(image, dims)
    mask = make_mask(family, sim.plane, accel, seed, pf_fraction=pf_fraction,
                     combine_with=combine_with, **params)
    res = sim.run(mask, noise=noise, seed=seed, keep_kspace=keep_kspace)
    st = estimate(mask, combine_with or family, sim.dims, scan_model)
    res.meta.update({
        "family": family,
        "combined_with": combine_with,
        "accel_requested": float(accel),
        "scan_time_s": st.seconds,
        "scan_time_full_s": st.full_seconds,
        "scan_time_model": st.model,
    })
    return res


def result_row(res: SimulationResult) -> dict[str, Any]:
    """The JSON-ready summary of a result (the CLI's stable keys)."""
    def num(x: float) -> float | None:
        return float(x) if math.isfinite(x) else None

    return {
        "mask": res.meta.get("family"),
        "combined_with": res.meta.get("combined_with"),
        "dims": res.dims,
        "accel_requested": res.meta.get("accel_requested"),
        "accel_achieved": num(res.accel_achieved),
        "psnr": num(res.metrics.get("psnr", math.nan)),
        "ssim": num(res.metrics.get("ssim", math.nan)),
        "nmse": num(res.metrics.get("nmse", math.nan)),
        "scan_time_s": res.meta.get("scan_time_s"),
        "scan_time_full_s": res.meta.get("scan_time_full_s"),
    }


def iter_sweep(image: np.ndarray, families: Sequence[str] = FAMILY_NAMES,
               accels: Sequence[float] = (2, 4, 8), *, dims: int | None = None, seed: int = 0,
               noise: float = 0.0, fill: dict[str, str] | None = None,
               simulator: KSpaceSimulator | None = None,
               **params: Any) -> Iterator[dict[str, Any]]:
    """Yield one row per (family, R) — the `result_row` keys plus "error" (None when fine).

    A family with a ceiling (upper_half, partial_fourier) asked for more is combined with its
    `fill` family (default `masks.DEFAULT_FILL`) and the row names it in "combined_with"; a
    combination that still cannot be made gives a row with the error and null metrics.
    """
    for name in families:
        if name not in FAMILIES:
            raise ValueError(f"unknown mask family '{name}'; choose from {', '.join(FAMILY_NAMES)}")
    fill = DEFAULT_FILL if fill is None else fill
    sim = simulator or KSpaceSimulator(image, dims)
    for name in families:
        for r in accels:
            cap = FAMILIES[name].max_accel
            combine = fill.get(name) if cap is not None and r > cap * 1.02 else None
            kw = dict(params)
            if name == "partial_fourier":  # its fraction is 1/R; a PF support is for the others
                kw.pop("pf_fraction", None)
            try:
                res = simulate(image, name, r, seed=seed, noise=noise, combine_with=combine,
                               keep_kspace=False, simulator=sim, strict=False, **kw)
                row = result_row(res)
                row["error"] = None
            except ValueError as exc:
                row = {"mask": name, "combined_with": combine, "dims": sim.dims,
                       "accel_requested": float(r), "accel_achieved": None, "psnr": None,
                       "ssim": None, "nmse": None, "scan_time_s": None,
                       "scan_time_full_s": None, "error": str(exc)}
            yield row


def sweep(image: np.ndarray, families: Sequence[str] = FAMILY_NAMES,
          accels: Sequence[float] = (2, 4, 8), **kwargs: Any) -> list[dict[str, Any]]:
    """All rows of `iter_sweep` as a list."""
    return list(iter_sweep(image, families, accels, **kwargs))
