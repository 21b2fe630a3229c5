"""DICOM: every file's pixel data checked against what its header announces (ITK would read
past a short PixelData into uninitialised memory), and the MR series writer."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from headtwin_app.core.errors import stderr_to_log
from headtwin_app.core.volume import Volume, VolumeError

UNDEFINED_LENGTH = 0xFFFFFFFF  # encapsulated (compressed) pixel data: the codec checks it
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


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
    """Write a classic MR Image Storage series (one single-frame file per slice along the third
    voxel axis) with the geometry scanners write: ImagePositionPatient, ImageOrientationPatient,
    PixelSpacing, FrameOfReferenceUID; voxels as int16 with rescale slope/intercept."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    from headtwin_app.core.io.itk import LPS_TO_RAS

    data = np.asarray(vol.data, dtype=np.float64)
    lo, hi = float(data.min()), float(data.max())
    # 30000 signed 16-bit steps over the data range, centred on 0
    slope = (hi - lo) / 30000.0 if hi > lo else 1.0
    intercept = lo + 15000.0 * slope
    stored = np.clip(np.round((data - intercept) / slope), -32768, 32767).astype(np.int16)
    lps = LPS_TO_RAS @ vol.affine
    spacing = np.sqrt((lps[:3, :3] ** 2).sum(axis=0))
    row_dir, col_dir = lps[:3, 0] / spacing[0], lps[:3, 1] / spacing[1]
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    now = time.strftime("%Y%m%d"), time.strftime("%H%M%S")
    for k in range(stored.shape[2]):
        uid = generate_uid()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = UID(MR_IMAGE_STORAGE)
        meta.MediaStorageSOPInstanceUID = uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = MR_IMAGE_STORAGE, uid
        ds.Modality, ds.Manufacturer = "MR", "HeadTwin Studio"
        ds.PatientName, ds.PatientID = "HeadTwin^Export", "HEADTWIN"
        ds.PatientBirthDate = ds.PatientSex = ds.ReferringPhysicianName = ""
        ds.AccessionNumber = ""
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = now[0]
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = now[1]
        ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 1, k + 1
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.ImagePositionPatient = [float(f"{c:.6f}") for c in (lps @ [0.0, 0.0, k, 1.0])[:3]]
        ds.ImageOrientationPatient = [float(f"{c:.6f}") for c in (*row_dir, *col_dir)]
        ds.PixelSpacing = [float(f"{spacing[1]:.6f}"), float(f"{spacing[0]:.6f}")]
        ds.SliceThickness = ds.SpacingBetweenSlices = float(f"{spacing[2]:.6f}")
        ds.Rows, ds.Columns = stored.shape[1], stored.shape[0]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = f"{intercept:.6f}"[:16], f"{slope:.9g}"[:16]
        ds.RescaleType = "US"
        ds.PixelData = np.ascontiguousarray(stored[:, :, k].T).tobytes()
        ds.save_as(str(folder / f"slice_{k:04d}.dcm"), enforce_file_format=True)
