"""Load and save Volumes: NIfTI, MHA/NRRD, DICOM (file or series folder), fastMRI HDF5, .npy.

Every failure is a `VolumeError` whose message is one line naming the file and the problem, so
the command line can print it and exit non-zero and the GUI can show it in a dialog.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

import nibabel as nib
import numpy as np

from headtwin_app.core.volume import Volume, VolumeError

NIFTI_SUFFIXES = (".nii", ".nii.gz")
ITK_SUFFIXES = (".mha", ".mhd", ".nrrd", ".nhdr")
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
HDF5_SUFFIXES = (".h5", ".hdf5")
OPEN_FILTER = (
    "Images (*.nii *.nii.gz *.mha *.mhd *.nrrd *.nhdr *.dcm *.dicom *.ima *.h5 *.hdf5 *.npy);;"
    "All files (*)"
)

# ITK stores LPS directions, NIfTI/nibabel RAS: flip the first two world axes between them.
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def load_volume(path: str | os.PathLike[str]) -> Volume:
    """Read any supported image into a RAS+ `Volume`; raise `VolumeError` on any problem."""
    p = Path(path)
    if not p.exists():
        raise VolumeError(f"{p}: no such file or folder")
    try:
        if p.is_dir():
            vol = _load_dicom_series(p)
        else:
            suffix = _suffix(p)
            if p.stat().st_size == 0:
                raise VolumeError(f"{p}: the file is empty")
            if suffix in NIFTI_SUFFIXES:
                vol = _load_nifti(p)
            elif suffix in ITK_SUFFIXES:
                vol = _load_itk(p)
            elif suffix in HDF5_SUFFIXES:
                vol = _load_fastmri_h5(p)
            elif suffix == ".npy":
                vol = _load_npy(p)
            elif suffix in DICOM_SUFFIXES or _looks_like_dicom(p):
                vol = _load_itk(p, dicom=True)
            else:
                raise VolumeError(f"{p}: unknown image format '{suffix or p.name}'")
    except VolumeError:
        raise
    except MemoryError:
        raise VolumeError(f"{p}: too large to load into memory") from None
    except Exception as exc:  # any reader failure becomes one clear line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise VolumeError(f"{p}: cannot read the file ({reason[:200]})") from None
    _validate(vol, p)
    vol.meta.setdefault("path", str(p))
    return vol


def _validate(vol: Volume, p: Path) -> None:
    data = vol.data
    if data.size == 0 or 0 in data.shape:
        raise VolumeError(f"{p}: the image is empty (shape {data.shape})")
    if np.iscomplexobj(data):
        raise VolumeError(f"{p}: complex voxels; expected a magnitude image")
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        raise VolumeError(f"{p}: the image contains NaN or infinite values")


def _squeeze_to_3d(data: np.ndarray, p: Path) -> np.ndarray:
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim > 3:
        raise VolumeError(f"{p}: a {data.ndim}D image (shape {data.shape}); only 2D or 3D images")
    if data.ndim < 2:
        raise VolumeError(f"{p}: a {data.ndim}D array; expected a 2D or 3D image")
    return data


def read_nifti(path: str | os.PathLike[str]) -> nib.Nifti1Image:
    """nibabel's loader, typed as the NIfTI image it returns for .nii/.nii.gz files."""
    return cast(nib.Nifti1Image, nib.load(str(path)))


def _load_nifti(p: Path) -> Volume:
    img = read_nifti(p)
    if len(img.shape) > 3 and any(s > 1 for s in img.shape[3:]):
        raise VolumeError(f"{p}: a 4D image (shape {img.shape}); only 2D or 3D images")
    img = nib.as_closest_canonical(img) if len(img.shape) >= 3 else img
    data = _squeeze_to_3d(np.asanyarray(img.dataobj), p)
    affine = img.affine
    if data.ndim == 2:
        data = data[:, :, np.newaxis]
    return Volume(np.ascontiguousarray(data), affine, {"format": "nifti"})


def _itk_affine(image) -> np.ndarray:  # type: ignore[no-untyped-def]
    dim = image.GetDimension()
    direction = np.eye(3)
    direction[:dim, :dim] = np.asarray(image.GetDirection()).reshape(dim, dim)
    spacing = np.ones(3)
    spacing[:dim] = image.GetSpacing()
    origin = np.zeros(3)
    origin[:dim] = image.GetOrigin()
    lps = np.eye(4)
    lps[:3, :3] = direction * spacing
    lps[:3, 3] = origin
    return _LPS_TO_RAS @ lps


def _from_itk(image, p: Path, fmt: str) -> Volume:  # type: ignore[no-untyped-def]
    import SimpleITK as sitk

    if image.GetNumberOfComponentsPerPixel() > 1:
        raise VolumeError(f"{p}: a multi-component (vector/colour) image; expected a scalar image")
    if image.GetDimension() > 3:
        size = image.GetSize()
        if any(s > 1 for s in size[3:]):
            raise VolumeError(f"{p}: a {image.GetDimension()}D image (size {size}); only 2D or 3D")
        image = image[:, :, :, 0]
    arr = sitk.GetArrayFromImage(image)  # ITK array order is (z, y, x)
    data = np.ascontiguousarray(arr.transpose(*reversed(range(arr.ndim))))
    if data.ndim == 2:
        data = data[:, :, np.newaxis]
    nii = nib.Nifti1Image(data, _itk_affine(image))
    canon = nib.as_closest_canonical(nii)
    return Volume(np.ascontiguousarray(np.asanyarray(canon.dataobj)), canon.affine, {"format": fmt})


def _load_itk(p: Path, dicom: bool = False) -> Volume:
    import SimpleITK as sitk

    if dicom:
        _check_dicom_pixels(p)
    image = sitk.ReadImage(str(p))
    return _from_itk(image, p, "dicom" if dicom else "itk")


def _looks_like_dicom(p: Path) -> bool:
    try:
        with open(p, "rb") as fh:
            head = fh.read(132)
        return len(head) == 132 and head[128:132] == b"DICM"
    except OSError:
        return False


def _check_dicom_pixels(p: Path) -> None:
    import pydicom

    try:
        ds = pydicom.dcmread(str(p), stop_before_pixels=False, force=True)
    except Exception as exc:
        raise VolumeError(f"{p}: not a readable DICOM file ({str(exc)[:120]})") from None
    if "PixelData" not in ds:
        raise VolumeError(f"{p}: the DICOM file has no pixel data (not an image)")


def _load_dicom_series(p: Path) -> Volume:
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    series = reader.GetGDCMSeriesIDs(str(p))
    if not series:
        raise VolumeError(f"{p}: the folder holds no DICOM series")
    # The series with the most slices is the image the user means.
    files = max((reader.GetGDCMSeriesFileNames(str(p), s) for s in series), key=len)
    _check_dicom_pixels(Path(files[0]))
    reader.SetFileNames(files)
    return _from_itk(reader.Execute(), p, "dicom-series")


def _load_npy(p: Path) -> Volume:
    data = np.load(str(p), allow_pickle=False)
    if np.iscomplexobj(data):
        data = np.abs(data)
    data = _squeeze_to_3d(np.asarray(data), p)
    return Volume.from_spacing(data) if data.ndim == 3 else Volume.from_spacing(data[:, :, None])


def _load_fastmri_h5(p: Path) -> Volume:
    """fastMRI layout: complex `kspace` (slices, ky, kx) or multi-coil (slices, coils, ky, kx),
    optional `reconstruction_rss` magnitude target."""
    import h5py

    from headtwin_app.core.fft import ifft2c

    with h5py.File(str(p), "r") as f:
        if "kspace" not in f:
            raise VolumeError(f"{p}: HDF5 file has no 'kspace' dataset (fastMRI layout expected)")
        kspace = np.asarray(f["kspace"])
        target = np.asarray(f["reconstruction_rss"]) if "reconstruction_rss" in f else None
    if not np.iscomplexobj(kspace):
        raise VolumeError(f"{p}: 'kspace' is not complex")
    if kspace.ndim == 2:
        kspace = kspace[np.newaxis]
    if kspace.ndim == 4:  # multi-coil: (slices, coils, ky, kx) → root-sum-of-squares image
        image = np.sqrt((np.abs(ifft2c(kspace)) ** 2).sum(axis=1))
    elif kspace.ndim == 3:
        image = np.abs(ifft2c(kspace))
    else:
        raise VolumeError(f"{p}: 'kspace' has shape {kspace.shape}; expected (slices, ky, kx)")
    if not np.isfinite(kspace).all():
        raise VolumeError(f"{p}: 'kspace' contains NaN or infinite values")
    mag = target if target is not None and target.shape == image.shape else image
    # (slices, ky, kx) → (x, y, z) with y = phase encode, displayed anterior up.
    data = np.ascontiguousarray(mag.transpose(2, 1, 0)[:, ::-1, :]).astype(np.float32)
    vol = Volume.from_spacing(data)
    vol.meta["format"] = "fastmri-h5"
    vol.kspace = kspace
    return vol


def save_volume(vol: Volume, path: str | os.PathLike[str]) -> Path:
    """Write a Volume; the format follows the suffix (.nii/.nii.gz, .mha/.nrrd, .h5, a folder for
    a DICOM series when the path has no suffix or ends in .dcm). Returns the written path."""
    p = Path(path)
    suffix = _suffix(p)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        if suffix in NIFTI_SUFFIXES:
            nib.save(nib.Nifti1Image(np.asarray(vol.data), vol.affine), str(p))
        elif suffix in ITK_SUFFIXES:
            import SimpleITK as sitk

            sitk.WriteImage(_to_itk(vol), str(p), True)
        elif suffix in HDF5_SUFFIXES:
            _save_fastmri_h5(vol, p)
        elif suffix == ".npy":
            np.save(str(p), vol.data)
        elif suffix == "" or suffix in DICOM_SUFFIXES:
            _save_dicom_series(vol, p.with_suffix("") if suffix else p)
        else:
            raise VolumeError(f"{p}: cannot write format '{suffix}'")
    except VolumeError:
        raise
    except Exception as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise VolumeError(f"{p}: cannot write the file ({reason})") from None
    return p


def _to_itk(vol: Volume):  # type: ignore[no-untyped-def]
    import SimpleITK as sitk

    data = np.asarray(vol.data)
    image = sitk.GetImageFromArray(np.ascontiguousarray(data.transpose(2, 1, 0)))
    lps = _LPS_TO_RAS @ vol.affine
    spacing = np.sqrt((lps[:3, :3] ** 2).sum(axis=0))
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(o) for o in lps[:3, 3]])
    image.SetDirection([float(d) for d in (lps[:3, :3] / spacing).ravel()])
    return image


def _save_dicom_series(vol: Volume, folder: Path) -> None:
    """Write a minimal but valid MR DICOM series (one file per axial slice) for interchange."""
    import SimpleITK as sitk

    folder.mkdir(parents=True, exist_ok=True)
    data = np.asarray(vol.data, dtype=np.float32)
    lo, hi = float(data.min()), float(data.max())
    # Stored as signed 16-bit with rescale slope/intercept: 30000 steps over the data range.
    scale = (hi - lo) / 30000.0 if hi > lo else 1.0
    image = _to_itk(vol.with_data(data))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    uid = "1.2.826.0.1.3680043.2.1125." + str(abs(hash(str(folder))) % 10**12)
    direction = image.GetDirection()
    for z in range(image.GetDepth()):
        sl = image[:, :, z]
        origin = image.TransformIndexToPhysicalPoint((0, 0, z))
        tags = {
            "0008|0060": "MR",
            "0020|000d": uid + ".1",
            "0020|000e": uid + ".2",
            "0020|0013": str(z + 1),
            "0020|0032": "\\".join(f"{c:.6f}" for c in origin),
            "0020|0037": "\\".join(f"{c:.6f}" for c in direction[:3] + direction[3:6]),
            "0018|0050": f"{image.GetSpacing()[2]:.6f}",
            "0028|0100": "16", "0028|0101": "16", "0028|0102": "15", "0028|0103": "1",
            "0028|1052": f"{lo + 15000 * scale:.6f}",
            "0028|1053": f"{scale:.9g}",
        }
        for key, value in tags.items():
            sl.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"slice_{z:04d}.dcm"))
        writer.Execute(sl)


def _save_fastmri_h5(vol: Volume, p: Path) -> None:
    import h5py

    from headtwin_app.core.fft import fft2c

    image = np.asarray(vol.data, dtype=np.float32)[:, ::-1, :].transpose(2, 1, 0)
    kspace = vol.kspace if vol.kspace is not None else fft2c(image.astype(np.complex64))
    with h5py.File(str(p), "w") as f:
        f.create_dataset("kspace", data=kspace.astype(np.complex64))
        f.create_dataset("reconstruction_rss", data=np.ascontiguousarray(image))
