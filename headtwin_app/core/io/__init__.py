"""Load and save Volumes: NIfTI, MHA/NRRD, DICOM (file or series folder), fastMRI HDF5, .npy.

Loading never returns garbage silently: compressed data is CRC-checked, headers are checked
against the bytes there are, DICOM pixel data against Rows × Columns × frames × bits, and every
Volume has scalar finite voxels and a finite, invertible affine (`checks.validate`). Saving is
atomic (`core.atomic`): the target appears complete or not at all; a DICOM series folder too.
The format follows the suffix, or the suffix is refused. Every failure is a `VolumeError` (or an
`OutputError`) whose message is one line naming the file and the problem.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

import nibabel as nib

from headtwin_app.core.atomic import (
    atomic_folder,
    atomic_output,
    check_name,
    full_suffix,
    remove_stale_temporaries,
)
from headtwin_app.core.errors import OutputError, describe_os_error, log_warning, one_line
from headtwin_app.core.io import dicom
from headtwin_app.core.io.checks import check_affine, validate
from headtwin_app.core.volume import Volume, VolumeError

NIFTI_SUFFIXES = (".nii", ".nii.gz")
ITK_SUFFIXES = (".mha", ".mhd", ".nrrd", ".nhdr")
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
HDF5_SUFFIXES = (".h5", ".hdf5")
WRITE_SUFFIXES = NIFTI_SUFFIXES + (".mha", ".nrrd") + HDF5_SUFFIXES + (".npy", ".dcm")
OPEN_FILTER = (
    "Images (*.nii *.nii.gz *.mha *.mhd *.nrrd *.nhdr *.dcm *.dicom *.ima *.h5 *.hdf5 *.npy);;"
    "All files (*)"
)


def read_nifti(path: str | os.PathLike[str]) -> nib.Nifti1Image:
    """nibabel's plain loader, for the trusted template files shipped inside packages."""
    return cast(nib.Nifti1Image, nib.load(str(path)))


def load_volume(path: str | os.PathLike[str]) -> Volume:
    """Read any supported image into a RAS+ `Volume`; raise `VolumeError` on any problem."""
    p = Path(path)
    if str(path) == "":
        raise VolumeError("no image file given (an empty path)")
    try:
        exists = p.exists()
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise VolumeError(describe_os_error(exc, p)) from None
    if not exists:
        raise VolumeError(f"{p}: no such file or folder")
    try:
        vol = _read(p)
    except VolumeError:
        raise
    except MemoryError:
        raise VolumeError(f"{p}: too large to load into memory") from None
    except Exception as exc:  # any reader failure becomes one clear line
        if isinstance(exc, OSError) and exc.errno is not None:
            raise VolumeError(describe_os_error(exc, p)) from None
        reason = one_line(str(exc), 200) or type(exc).__name__
        raise VolumeError(f"{p}: cannot read the file ({reason})") from None
    validate(vol, p)
    vol.meta.setdefault("path", str(p))
    return vol


def _read(p: Path) -> Volume:
    from headtwin_app.core.io.fastmri import load_fastmri
    from headtwin_app.core.io.itk import load_itk, load_series
    from headtwin_app.core.io.nifti import load_nifti
    from headtwin_app.core.io.npy import load_npy

    if p.is_dir():
        remove_stale_temporaries(p)
        return load_series(p, dicom.series_files(p))
    if not p.is_file():
        raise VolumeError(f"{p}: not a regular file")
    if p.stat().st_size == 0:
        raise VolumeError(f"{p}: the file is empty")
    suffix = full_suffix(p)
    if suffix in NIFTI_SUFFIXES:
        return load_nifti(p)
    if suffix in ITK_SUFFIXES:
        return load_itk(p)
    if suffix in HDF5_SUFFIXES:
        return load_fastmri(p)
    if suffix == ".npy":
        return load_npy(p)
    if suffix in DICOM_SUFFIXES or dicom.looks_like_dicom(p):
        dicom.check_file(p)
        return load_itk(p, "dicom")
    raise VolumeError(f"{p}: unknown image format '{suffix or p.name}'")


def check_save_suffix(path: str | os.PathLike[str], allowed: tuple[str, ...] = WRITE_SUFFIXES,
                      folder_ok: bool = True) -> str:
    """The output format from the suffix ("" = a DICOM series folder), or a clear error."""
    p = Path(path)
    suffix = full_suffix(p)
    if suffix == "" and folder_ok:
        return suffix
    if suffix not in allowed:
        shown = ", ".join(allowed) + (", or a folder (DICOM series)" if folder_ok else "")
        raise OutputError(f"{p}: cannot write '{suffix or p.name}' files (use {shown})")
    return suffix


def save_volume(vol: Volume, path: str | os.PathLike[str]) -> Path:
    """Write a Volume atomically; the format follows the suffix (.nii/.nii.gz, .mha/.nrrd, .h5,
    .npy; a folder for a DICOM series when the path has no suffix or ends in .dcm). Returns the
    written path."""
    from headtwin_app.core.io.fastmri import write_fastmri
    from headtwin_app.core.io.itk import write_itk
    from headtwin_app.core.io.nifti import write_nifti
    from headtwin_app.core.io.npy import write_npy

    p = Path(path)
    suffix = check_save_suffix(p)
    check_name(p)
    check_affine(vol.affine, p)
    if suffix in ("", ".dcm"):
        folder = p.with_suffix("") if suffix else p
        try:
            with atomic_folder(folder, dicom.is_series_folder) as tmp:
                dicom.write_series(vol, tmp)
        except (OutputError, VolumeError):
            raise
        except Exception as exc:
            raise _write_failure(folder, "the DICOM series", exc) from None
        return folder
    writer = {".nii": write_nifti, ".nii.gz": write_nifti, ".mha": write_itk,
              ".nrrd": write_itk, ".h5": write_fastmri, ".hdf5": write_fastmri,
              ".npy": write_npy}[suffix]
    try:
        with atomic_output(p) as tmp:
            writer(vol, tmp)
    except (OutputError, VolumeError):
        raise
    except Exception as exc:
        raise _write_failure(p, "the file", exc) from None
    return p


def _write_failure(p: Path, what: str, exc: Exception) -> OutputError:
    """One line for a writer's failure: the OS reason when there is one; a library's long
    exception text (ITK's C++ trace) goes to the log instead."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return OutputError(describe_os_error(exc, p))
    log_warning(f"writing {p}: {type(exc).__name__}: {exc}")
    return OutputError(f"{p}: cannot write {what} (the disk may be full or the folder not "
                       "writable)")


__all__ = ["NIFTI_SUFFIXES", "ITK_SUFFIXES", "DICOM_SUFFIXES", "HDF5_SUFFIXES", "OPEN_FILTER",
           "WRITE_SUFFIXES", "read_nifti", "load_volume", "save_volume", "check_save_suffix"]
