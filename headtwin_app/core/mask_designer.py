"""The logic behind the k-space designer workspace: parameters in, display-ready frame out.

`MaskDesigner` holds one case image (a Volume array, (X, Y, Z) RAS+) and caches a prepared
`KSpaceSimulator` per mode and slice, so a change of family, R, seed or a painted point costs
one mask selection, one inverse FFT and the metrics. No Qt here: the workspace, the benchmark
and tests all call `update`.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from headtwin_app.core.kspace import (
    KSpaceSimulator,
    SimulationResult,
    encoding_image,
    iter_sweep,
    volume_data,
)
from headtwin_app.core.masks import (
    DEFAULT_FILL,
    FAMILIES,
    FAMILY_NAMES,
    expand_mask,
    get_family,
    make_mask,
)
from headtwin_app.core.scantime import ScanTime, ScanTimeModel, default_model, describe, estimate

CUSTOM = "custom"  # the family name of a hand-painted mask


@dataclass(frozen=True)
class DesignerParams:
    """Everything that defines one designer frame. None means "the family's default"."""

    family: str = "cartesian"
    accel: float = 4.0
    seed: int = 0
    dims: int = 2
    slice_index: int | None = None  # 2D: the slice simulated; 3D: the slice displayed
    center_fraction: float | None = None
    pf_fraction: float | None = None  # None or 1.0: no partial Fourier
    noise: float = 0.0
    tr_s: float | None = None  # scan-time model TR (default per dims)

    def scan_model(self) -> ScanTimeModel:
        return default_model(self.dims) if self.tr_s is None else ScanTimeModel(self.tr_s)

    def mask_params(self) -> dict[str, Any]:
        """Keyword arguments for `masks.make_mask` (only those the family takes)."""
        kw: dict[str, Any] = {"strict": False}
        if self.center_fraction is not None:
            kw["center_fraction"] = self.center_fraction
        if self.pf_fraction is not None and self.pf_fraction < 1.0:
            kw["pf_fraction"] = self.pf_fraction
        return kw


@dataclass
class DesignerFrame:
    """One computed state of the designer, ready to show."""

    params: DesignerParams
    mask: np.ndarray
    family_label: str  # e.g. "upper_half × random_line" or "custom (painted)"
    result: SimulationResult
    display: dict[str, np.ndarray]
    levels: dict[str, tuple[float, float]]
    scan: ScanTime
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, float]:
        return self.result.metrics

    def mask_record(self) -> dict[str, Any]:
        """The dict handed to AppState.set_mask for the reconstruction workspace."""
        p = self.params
        return {
            "mask": self.mask,
            "family": self.extra.get("family", p.family),
            "combined_with": self.extra.get("combined_with"),
            "painted": self.extra.get("painted", False),
            "accel": p.accel,
            "accel_achieved": self.result.accel_achieved,
            "seed": p.seed,
            "dims": p.dims,
            "slice": self.extra.get("slice"),
            "plane": "ky,kx" if p.dims == 2 else "ky,kz",
            "layout": ("mask rows = ky along the image's Y axis; columns = kx (X)" if p.dims == 2
                       else "mask rows = ky (Y), columns = kz (Z); readout kx (X) fully sampled"),
            "center_fraction": p.center_fraction,
            "pf_fraction": p.pf_fraction,
            "noise": p.noise,
            "psnr": self.metrics.get("psnr"),
            "ssim": self.metrics.get("ssim"),
            "nmse": self.metrics.get("nmse"),
            "scan_time_s": self.scan.seconds,
        }


class MaskDesigner:
    """Undersampling experiments on one volume, cached for interactive use.

    Args:
        data: the case image, (X, Y, Z) RAS+ (Z = 1 for a 2D image).
    """

    def __init__(self, data: np.ndarray) -> None:
        data = np.asarray(data)
        if data.ndim == 2:
            data = data[:, :, None]
        if data.ndim != 3 or min(data.shape[:2]) < 8:
            raise ValueError(f"the designer needs an (X, Y, Z) image of at least 8×8, got "
                             f"{data.shape}")
        if not np.isfinite(data).all() or not np.max(np.abs(data)) > 0:
            raise ValueError("the image is empty or has non-finite values")
        self.data = data.astype(np.float32, copy=False)
        self._sims: OrderedDict[tuple[int, int | None], KSpaceSimulator] = OrderedDict()
        self._lock = threading.Lock()  # the GUI's update and sweep workers share the cache

    @property
    def n_slices(self) -> int:
        return int(self.data.shape[2])

    @property
    def can_3d(self) -> bool:
        return self.n_slices >= 8

    def middle(self) -> int:
        return self.n_slices // 2

    def simulator(self, dims: int, slice_index: int | None = None) -> KSpaceSimulator:
        """The prepared simulator for a mode (2D: per slice), cached (a few 2D slices)."""
        if dims == 3 and not self.can_3d:
            raise ValueError("3D mode needs a volume with at least 8 slices; this image is 2D")
        key = (dims, (self.middle() if slice_index is None else int(slice_index))
               if dims == 2 else None)
        with self._lock:
            return self._simulator(key)

    def _simulator(self, key: tuple[int, int | None]) -> KSpaceSimulator:
        dims = key[0]
        sim = self._sims.get(key)
        if sim is None:
            sim = KSpaceSimulator(encoding_image(self.data, dims, key[1]), dims)
            self._sims[key] = sim
            n2d = sum(1 for k in self._sims if k[0] == 2)
            while n2d > 4:  # keep a few recent 2D slices
                old = next(k for k in self._sims if k[0] == 2)
                del self._sims[old]
                n2d -= 1
        self._sims.move_to_end(key)
        return sim

    def is_prepared(self, dims: int, slice_index: int | None = None) -> bool:
        key = (dims, (self.middle() if slice_index is None else int(slice_index))
               if dims == 2 else None)
        return key in self._sims

    def make_mask(self, p: DesignerParams) -> tuple[np.ndarray, str | None]:
        """The family's mask for `p`; families with a ceiling asked for more are combined with
        their default fill (returned as the second item)."""
        get_family(p.family)
        sim = self.simulator(p.dims, p.slice_index)
        cap = FAMILIES[p.family].max_accel
        combine = DEFAULT_FILL.get(p.family) if cap is not None and p.accel > cap * 1.02 else None
        mask = make_mask(p.family, sim.plane, p.accel, p.seed, combine_with=combine,
                         **p.mask_params())
        return mask, combine

    def update(self, p: DesignerParams, painted: np.ndarray | None = None) -> DesignerFrame:
        """Compute one frame: the family mask (or the painted one), undersampling with noise,
        zero filling, PSNR/SSIM/NMSE, scan time and display-ready arrays."""
        sim = self.simulator(p.dims, p.slice_index)
        if painted is not None:
            mask, combine = np.asarray(painted, dtype=bool), None
            if mask.shape != sim.plane:
                raise ValueError(f"painted mask {mask.shape} does not fit the plane {sim.plane}")
            if not mask.any():
                raise ValueError("the painted mask samples nothing")
            label, family = f"{CUSTOM} (painted)", CUSTOM
        else:
            mask, combine = self.make_mask(p)
            label = p.family if combine is None else f"{p.family} × {combine}"
            family = p.family
        res = sim.run(mask, noise=p.noise, seed=p.seed, keep_kspace=(p.dims == 2))
        z = self._display_slice(p)
        display = sim.display_arrays(res, None if p.dims == 2 else z)
        display["kspace_full"] = sim.log_kspace()
        vmax = sim.max_value
        kmax = float(display["kspace_full"].max()) or 1.0
        levels = {
            "image": (0.0, vmax), "zero_filled": (0.0, vmax), "difference": (-0.5 * vmax,
                                                                             0.5 * vmax),
            "kspace_log": (0.0, kmax), "kspace_full": (0.0, kmax), "mask": (0.0, 1.0),
        }
        scan = estimate(mask, (combine or family) if family != CUSTOM else None, p.dims,
                        p.scan_model())
        extra = {"family": family, "combined_with": combine, "painted": painted is not None,
                 "slice": z, "scan_model": describe(p.dims, p.scan_model())}
        return DesignerFrame(p, mask, label, res, display, levels, scan, extra)

    def _display_slice(self, p: DesignerParams) -> int:
        z = self.middle() if p.slice_index is None else int(p.slice_index)
        if not 0 <= z < self.n_slices:
            raise ValueError(f"slice {z} is outside 0..{self.n_slices - 1}")
        return z

    def sweep(self, p: DesignerParams, accels: Sequence[float],
              families: Sequence[str] = FAMILY_NAMES) -> Iterator[dict[str, Any]]:
        """Rows of `kspace.iter_sweep` on this image in p's mode (the other params apply)."""
        sim = self.simulator(p.dims, p.slice_index)
        kw = p.mask_params()
        kw.pop("strict", None)
        yield from iter_sweep(sim.gt, families, accels, dims=p.dims, seed=p.seed, noise=p.noise,
                              simulator=sim, scan_model=p.scan_model(), **kw)

    def with_defaults(self, p: DesignerParams) -> DesignerParams:
        """`p` with the slice filled in."""
        return replace(p, slice_index=self._display_slice(p))


def _frame_affine(frame: DesignerFrame, affine: np.ndarray | None) -> np.ndarray:
    aff = np.eye(4) if affine is None else np.asarray(affine, dtype=float).copy()
    if frame.params.dims == 2:  # the simulated slice's own grid
        z = frame.extra.get("slice") or 0
        aff[:3, 3] = (aff @ np.array([0.0, 0.0, float(z), 1.0]))[:3]
    return aff


def save_mask(path: str | os.PathLike[str], frame: DesignerFrame,
              affine: np.ndarray | None = None) -> Path:
    """The frame's mask as NIfTI (uint8 on the image grid; in 3D the readout filled in) or,
    for a .png path, the sampling plane as an image (rows = ky, row 0 on top)."""
    from matplotlib import image as mpimg

    from headtwin_app.core.io import save_volume
    from headtwin_app.core.volume import Volume

    p = Path(path)
    if p.suffix.lower() == ".png":
        p.parent.mkdir(parents=True, exist_ok=True)
        mpimg.imsave(str(p), frame.mask.astype(np.uint8), cmap="gray", vmin=0, vmax=1)
        return p
    full = np.broadcast_to(expand_mask(frame.mask, frame.params.dims),
                           frame.result.zero_filled.shape).astype(np.uint8)
    return save_volume(Volume(volume_data(full), _frame_affine(frame, affine), {}), p)


def export_frame(folder: str | os.PathLike[str], frame: DesignerFrame,
                 affine: np.ndarray | None = None) -> dict[str, str]:
    """Write mask, zero-filled and difference as NIfTI on the image grid (2D: the slice's grid)
    plus PNGs of the displayed panels. Returns name → path."""
    from matplotlib import image as mpimg  # no pyplot: no GUI backend involved

    from headtwin_app.core.io import save_volume
    from headtwin_app.core.volume import Volume

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    res = frame.result
    aff = _frame_affine(frame, affine)
    paths: dict[str, str] = {"mask": str(save_mask(out / "mask.nii.gz", frame, affine))}
    for name, arr in (("zero_filled", res.zero_filled), ("difference", res.difference)):
        path = save_volume(Volume(volume_data(np.asarray(arr)), aff, {}), out / f"{name}.nii.gz")
        paths[name] = str(path)
    cmaps = {"image": "gray", "kspace_full": "viridis", "kspace_log": "viridis", "mask": "gray",
             "zero_filled": "gray", "difference": "RdBu_r"}
    for name, cmap in cmaps.items():
        arr = frame.display[name]
        lo, hi = frame.levels[name]
        origin: Literal["upper", "lower"] = ("upper" if name.startswith(("kspace", "mask"))
                                             else "lower")
        png = out / f"{name}.png"
        mpimg.imsave(str(png), arr, cmap=cmap, vmin=lo, vmax=hi, origin=origin)
        paths[f"{name}_png"] = str(png)
    return paths


def paint_disc(mask: np.ndarray, row: float, col: float, radius: float,
               value: bool) -> np.ndarray:
    """A copy of `mask` with a disc of `radius` pixels around (row, col) set to `value`
    (radius 0: the one pixel under the point). Points outside the plane are ignored."""
    out = np.array(mask, dtype=bool, copy=True)
    r0, c0 = int(round(row)), int(round(col))
    rad = max(0.0, float(radius))
    n = int(np.ceil(rad))
    rows = np.arange(r0 - n, r0 + n + 1)
    cols = np.arange(c0 - n, c0 + n + 1)
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    keep = ((rr - r0) ** 2 + (cc - c0) ** 2 <= rad * rad + 1e-9)
    keep &= (rr >= 0) & (rr < out.shape[0]) & (cc >= 0) & (cc < out.shape[1])
    out[rr[keep], cc[keep]] = value
    return out


def paint_stroke(mask: np.ndarray, start: tuple[float, float], end: tuple[float, float],
                 radius: float, value: bool) -> np.ndarray:
    """A copy of `mask` with every pixel within `radius` (at least 0.5) of the segment
    start → end (row, col) set to `value`: a gap-free brush stroke between two mouse events."""
    out = np.array(mask, dtype=bool, copy=True)
    (r0, c0), (r1, c1) = start, end
    rad = max(0.5, float(radius))
    lo_r = max(0, int(np.floor(min(r0, r1) - rad)))
    hi_r = min(out.shape[0] - 1, int(np.ceil(max(r0, r1) + rad)))
    lo_c = max(0, int(np.floor(min(c0, c1) - rad)))
    hi_c = min(out.shape[1] - 1, int(np.ceil(max(c0, c1) + rad)))
    if lo_r > hi_r or lo_c > hi_c:
        return out
    rr, cc = np.meshgrid(np.arange(lo_r, hi_r + 1), np.arange(lo_c, hi_c + 1), indexing="ij")
    dr, dc = r1 - r0, c1 - c0
    length2 = dr * dr + dc * dc
    t = np.zeros(rr.shape) if length2 == 0 else np.clip(((rr - r0) * dr + (cc - c0) * dc)
                                                        / length2, 0.0, 1.0)
    d2 = (rr - (r0 + t * dr)) ** 2 + (cc - (c0 + t * dc)) ** 2
    sel = d2 <= rad * rad + 1e-9
    out[rr[sel], cc[sel]] = value
    return out
