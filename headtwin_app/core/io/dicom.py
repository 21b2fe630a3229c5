"""DICOM: every file's pixel data checked against what its header announces (ITK would read
past a short PixelData into uninitialised memory), and the MR series writer."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from headtwin_app.core.errors import stderr_to_log
from headtwin_app.core.volume import Volume, VolumeError

UNDEFINED_LENGTH = 0xFFFFFFFF  # encapsulated (compressed) pixel data: the codec checks it


def looks_like_dicom(p: Path) -> bool:
    try:
        with open(p, "rb") as fh:
            head = fh.read(132)
        return len(head) == 132 and head[128:132] == b"DICM"
    except OSError:
        return False


def check_file(p: Path) -> None:
    """VolumeError unless `p` is a DICOM image whose PixelData holds at least
    Rows × Columns × frames × samples × bits/8 bytes."""
    import pydicom

    try:
        ds = pydicom.dcmread(str(p), force=True, defer_size=1024)
        if "PixelData" not in ds:
            raise VolumeError(f"{p}: the DICOM file has no pixel data (not an image)")
        try:  # pydicom 3: the raw element (declared length, file offset), value unread
            elem = ds.get_item("PixelData", keep_deferred=True)
        except TypeError:  # pydicom 2 returns the raw element already
            elem = ds.get_item("PixelData")
        rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.get("BitsAllocated", 0) or 0)
    except VolumeError:
        raise
    except Exception as exc:  # pydicom's parse errors are of many types
        raise VolumeError(f"{p}: not a readable DICOM file ({str(exc)[:120]})") from None
    if rows <= 0 or cols <= 0 or bits <= 0:
        raise VolumeError(f"{p}: the DICOM header lacks Rows, Columns or BitsAllocated")
    length = int(getattr(elem, "length", 0) or 0)
    if length == UNDEFINED_LENGTH:
        return
    tell = getattr(elem, "value_tell", None)
    if tell is not None:
        length = min(length, max(0, os.path.getsize(p) - int(tell)))
    need = (rows * cols * frames * samples * bits + 7) // 8
    if length < need:
        raise VolumeError(f"{p}: the pixel data holds {length} bytes but Rows × Columns × frames "
                          f"× samples × bits ({rows}×{cols}×{frames}×{samples}×{bits}) needs "
                          f"{need}; the file is truncated or damaged")


def series_files(folder: Path) -> list[str]:
    """The files of the largest DICOM series in `folder`, each checked by `check_file`."""
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    with stderr_to_log():
        series = reader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise VolumeError(f"{folder}: the folder holds no DICOM series")
    # The series with the most slices is the image the user means.
    files = max((list(reader.GetGDCMSeriesFileNames(str(folder), s)) for s in series), key=len)
    # GDCM leaves out a damaged slice without a word: check every DICOM file in the folder.
    for f in sorted(folder.iterdir()):
        if f.is_file() and (f.suffix.lower() in (".dcm", ".dicom", ".ima") or looks_like_dicom(f)):
            check_file(f)
    return files


def is_series_folder(folder: Path) -> bool:
    """True when `folder` holds nothing but DICOM files (a series this writer may replace)."""
    return all(f.is_file() and f.suffix.lower() == ".dcm" for f in folder.iterdir())


def write_series(vol: Volume, folder: Path) -> None:
    """Write a minimal but valid MR DICOM series (one file per axial slice) into `folder`."""
    import SimpleITK as sitk
    from pydicom.uid import generate_uid

    from headtwin_app.core.io.itk import quiet_itk, to_itk

    quiet_itk()
    data = np.asarray(vol.data, dtype=np.float32)
    lo, hi = float(data.min()), float(data.max())
    # Stored as signed 16-bit with rescale slope/intercept: 30000 steps over the data range.
    scale = (hi - lo) / 30000.0 if hi > lo else 1.0
    image = to_itk(vol.with_data(data))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    study_uid, series_uid = generate_uid(), generate_uid()  # unique per written series
    direction = image.GetDirection()
    for z in range(image.GetDepth()):
        sl = image[:, :, z]
        origin = image.TransformIndexToPhysicalPoint((0, 0, z))
        tags = {
            "0008|0060": "MR",
            "0020|000d": study_uid,
            "0020|000e": series_uid,
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
        with stderr_to_log():
            writer.Execute(sl)
