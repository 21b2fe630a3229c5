"""All-in-one DICOM path: context from real vendor tags, reversible standardisation, a derived
series whose tags, pixels and geometry (pydicom and SimpleITK) match the source, clear errors.

The four vendor DICOMs: Toshiba MR_small (pydicom), Siemens MR-SIEMENS-DICOM-WithOverlays,
Philips MR2_UNCI and the same Philips image JPEG 2000 compressed (MR2_J2KI, output must be
uncompressed); plus the enhanced multi-frame emri_small (no geometry tags) for the frame path.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from headtwin_app.core.enhance.dicom_io import (
    context_from_tags,
    read_dicom,
    standardise,
    unstandardise,
    write_derived_series,
)

VENDOR = ["MR_small.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm", "MR2_UNCI.dcm", "MR2_J2KI.dcm"]


def data(name: str) -> Path:
    p = get_testdata_file(name, download=False)
    if p is None:
        pytest.skip(f"{name} not installed (pydicom-data)")
    return Path(p)


def itk_geometry(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if path.is_dir():
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(path)))
        reader.MetaDataDictionaryArrayUpdateOff()
        img = reader.Execute()
    else:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        img = reader
    return (np.array(img.GetOrigin()), np.array(img.GetSpacing()),
            np.array(img.GetDirection()).reshape(3, 3))


def make_series(tmp: Path, n: int = 4) -> Path:
    """A 4-slice MR series from MR_small, files in shuffled order with distinct positions."""
    src = pydicom.dcmread(data("MR_small.dcm"))
    folder = tmp / "series"
    folder.mkdir()
    series = generate_uid()
    rng = np.random.default_rng(1)
    for k, slot in enumerate(rng.permutation(n)):
        ds = src.copy()
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = int(slot) + 1
        ds.ImagePositionPatient = [-83.9063, -91.2, 6.6406 + 0.8 * int(slot)]
        arr = src.pixel_array.copy()
        arr[0, 0] = 1000 + int(slot)  # marks the slice
        ds.PixelData = arr.tobytes()
        ds.save_as(folder / f"f{k}.dcm", enforce_file_format=True)
    return folder


def test_context_siemens() -> None:
    im = read_dicom(data("MR-SIEMENS-DICOM-WithOverlays.dcm"))
    ctx, src = context_from_tags(im, 2.0)
    assert im.phase_axis == "col" and im.phase_slice_axis == 0 and im.is_3d
    # 256 readout samples over 484 columns; 134 phase lines over 484 × 0.75 = 363 rows
    assert ctx.freq_kmax == pytest.approx(256 / 484)
    assert ctx.phase_kmax == pytest.approx(134 / 363)
    # PercentSampling 69.79 is already inside the 134 lines: 256 × 0.75 × 0.6979 = 134
    assert ctx.phase_kmax == pytest.approx(ctx.freq_kmax * 0.6979166667, rel=1e-6)
    assert ctx.is_3d == 1 and ctx.nrf == 2.0 and ctx.phase_pf == 1.0
    assert "AcquisitionMatrix" in src["phase_kmax"] and "not applied again" in \
        src["PercentSampling"]
    assert src["slice_kmax"].startswith("defaulted")


def test_context_philips() -> None:
    ctx, src = context_from_tags(pydicom.dcmread(data("MR2_UNCI.dcm")), 1.5)
    assert ctx.freq_kmax == 1.0 and src["freq_kmax"].startswith("defaulted")
    assert ctx.phase_kmax == pytest.approx(0.5) and "PercentSampling 50" in src["phase_kmax"]
    assert ctx.is_3d == 0 and src["phase_axis"] == "InPlanePhaseEncodingDirection COL"


def test_context_defaults_and_enhanced() -> None:
    ctx, src = context_from_tags(read_dicom(data("MR_small.dcm")), 1.0)
    assert (ctx.phase_kmax, ctx.freq_kmax, ctx.is_3d) == (1.0, 1.0, 1.0)
    assert src["phase_axis"].startswith("defaulted") and src["phase_kmax"].startswith("default")
    ctx, src = context_from_tags(read_dicom(data("emri_small.dcm")), 1.0)
    assert ctx.freq_kmax == 1.0 and "clipped" in src["freq_kmax"]  # 256 samples, 64 pixels
    assert src["phase_pf"] == "PartialFourier NO"


def test_partial_fourier_tag() -> None:
    ds = pydicom.dcmread(data("emri_small.dcm"), stop_before_pixels=True)
    ds.PartialFourier, ds.PartialFourierDirection = "YES", "PHASE"
    ctx, src = context_from_tags(ds, 1.0)
    assert ctx.phase_pf == 0.75 and ctx.slice_pf == 1.0 and "assumed" in src["phase_pf"]


@pytest.mark.parametrize("name", ["MR-SIEMENS-DICOM-WithOverlays.dcm", "MR2_UNCI.dcm"])
def test_standardise_round_trip(name: str) -> None:
    im = read_dicom(data(name))
    std = standardise(im)
    assert np.percentile(std.pixels, 99) == pytest.approx(1.0, rel=1e-3)
    if name.startswith("MR-SIEMENS"):  # 75 % phase FOV in a square: 363 signal rows kept
        assert std.crop == (60, 423) and std.pixels.shape == (1, 363, 484)
    back = unstandardise(std.pixels, std)
    np.testing.assert_allclose(back, im.pixels, rtol=1e-6, atol=1e-6 * std.scale)


def test_standardise_transposes_row_phase() -> None:
    im = read_dicom(data("MR_small.dcm"))
    im.phase_axis = "row"
    im.pixels = im.pixels[:, :, :40].copy()  # non-square, to catch a wrong axis
    std = standardise(im)
    assert std.transposed and std.pixels.shape == (1, 40, 64)
    np.testing.assert_allclose(unstandardise(std.pixels, std), im.pixels, rtol=1e-6)
    with pytest.raises(ValueError, match="must match"):
        unstandardise(std.pixels[:, :-1], std)


@pytest.mark.parametrize("name", VENDOR)
def test_derived_series_round_trip(tmp_path: Path, name: str) -> None:
    src_path = data(name)
    im = read_dicom(src_path)
    rng = np.random.default_rng(0)
    new = im.pixels * 0.9 + rng.normal(0, 1, im.pixels.shape).astype(np.float32)
    new = np.maximum(new, 0)
    files = write_derived_series(im, new, tmp_path / "out", "AIO", "ce-unet-small", 2.0)
    assert [f.name for f in files] == ["IM0001.dcm"] and files[0].is_file()
    src = pydicom.dcmread(src_path)
    out = pydicom.dcmread(files[0])
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert out.SeriesInstanceUID != src.SeriesInstanceUID
    assert out.SOPInstanceUID not in (src.SOPInstanceUID,)
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert list(out.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert "ce-unet-small" in out.DerivationDescription and "2" in out.DerivationDescription
    assert out.SeriesDescription.endswith("AIO")
    assert int(out.SeriesNumber) == int(src.get("SeriesNumber", 0) or 0) + 1000
    assert out.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    for kw in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
               "SliceThickness", "SpacingBetweenSlices", "RescaleSlope", "RescaleIntercept",
               "PatientID", "StudyInstanceUID", "FrameOfReferenceUID"):
        assert out.get(kw) == src.get(kw), kw
    assert not [t for t in out.keys() if 0x6000 <= t.group <= 0x60FF]  # overlays dropped
    assert "IconImageSequence" not in out
    assert out.BitsStored == out.BitsAllocated == 16 and out.HighBit == 15
    assert out.PixelRepresentation == src.PixelRepresentation
    # pixels within half a rescale step
    back = read_dicom(files[0])
    step = float(im.slope[0])
    np.testing.assert_allclose(back.pixels, new, atol=0.5 * step + 1e-3)
    # geometry: ours, pydicom's and SimpleITK's agree with the source's
    assert back.origin == pytest.approx(im.origin) and back.spacing == pytest.approx(im.spacing)
    o1, s1, d1 = itk_geometry(src_path)
    o2, s2, d2 = itk_geometry(files[0])
    np.testing.assert_allclose(o2, o1, atol=1e-5)
    np.testing.assert_allclose(s2, s1, atol=1e-6)
    np.testing.assert_allclose(d2, d1, atol=1e-6)
    np.testing.assert_allclose(o1, im.origin, atol=1e-4)
    np.testing.assert_allclose(s1[:2], im.spacing[:2], atol=1e-6)
    np.testing.assert_allclose(d1, im.direction, atol=1e-6)


def test_series_folder_sorted_and_written(tmp_path: Path) -> None:
    folder = make_series(tmp_path)
    im = read_dicom(folder)
    assert im.pixels.shape == (4, 64, 64)
    assert [int(v) for v in im.pixels[:, 0, 0]] == [1000, 1001, 1002, 1003]  # by position
    assert im.spacing[2] == pytest.approx(0.8)
    files = write_derived_series(im, im.pixels + 10, tmp_path / "derived", "AIO", "m", 1.5)
    outs = [pydicom.dcmread(f) for f in files]
    assert len({o.SOPInstanceUID for o in outs}) == 4 and len({o.SeriesInstanceUID
                                                                for o in outs}) == 1
    assert not {o.SOPInstanceUID for o in outs} & {d.SOPInstanceUID for d in im.datasets}
    np.testing.assert_allclose(read_dicom(tmp_path / "derived").pixels, im.pixels + 10)
    o1, s1, d1 = itk_geometry(folder)
    o2, s2, d2 = itk_geometry(tmp_path / "derived")
    np.testing.assert_allclose(o2, o1, atol=1e-5)
    np.testing.assert_allclose(s2, s1, atol=1e-6)
    np.testing.assert_allclose(d2, d1, atol=1e-6)
    np.testing.assert_allclose(o1, im.origin, atol=1e-4)
    np.testing.assert_allclose(s1, im.spacing, atol=1e-5)
    # refusals: the source folder, a non-empty folder, wrong shape
    with pytest.raises(ValueError, match="source series"):
        write_derived_series(im, im.pixels, folder, "AIO", "m", 1.5)
    with pytest.raises(ValueError, match="not empty"):
        write_derived_series(im, im.pixels, tmp_path / "derived", "AIO", "m", 1.5)
    with pytest.raises(ValueError, match="source image is"):
        write_derived_series(im, im.pixels[:2], tmp_path / "x", "AIO", "m", 1.5)


@pytest.mark.parametrize("name", ["MR_small_bigendian.dcm", "MR_small_implicit.dcm"])
def test_other_encodings_written_explicit_little(tmp_path: Path, name: str) -> None:
    im = read_dicom(data(name))
    files = write_derived_series(im, im.pixels, tmp_path / "o", "AIO", "m", 1.0)
    out = pydicom.dcmread(files[0])
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    np.testing.assert_array_equal(read_dicom(files[0]).pixels, im.pixels)


def test_multiframe_round_trip(tmp_path: Path) -> None:
    im = read_dicom(data("emri_small.dcm"))
    assert im.multiframe and im.pixels.shape == (10, 64, 64) and not im.geometry_from_tags
    files = write_derived_series(im, im.pixels * 2, tmp_path / "o", "AIO", "m", 3.0)
    assert len(files) == 1
    out = pydicom.dcmread(files[0])
    assert int(out.NumberOfFrames) == 10 and out.ImageType[0] == "DERIVED"
    np.testing.assert_array_equal(read_dicom(files[0]).pixels, im.pixels * 2)


def test_errors(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, not an image\n")
    with pytest.raises(ValueError, match="not a DICOM file"):
        read_dicom(text)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no DICOM files"):
        read_dicom(tmp_path / "empty")
    with pytest.raises(ValueError, match="no such file"):
        read_dicom(tmp_path / "missing.dcm")
    two = tmp_path / "two"
    two.mkdir()
    shutil.copy(data("MR_small.dcm"), two / "a.dcm")
    shutil.copy(data("MR2_UNCI.dcm"), two / "b.dcm")
    with pytest.raises(ValueError, match="2 series.*series 1") as err:
        read_dicom(two)
    for f in ("MR_small.dcm", "MR2_UNCI.dcm"):  # both series named by their UID
        assert pydicom.dcmread(data(f)).SeriesInstanceUID in str(err.value)
    with pytest.raises(ValueError, match="not an MR image .Modality CT"):
        read_dicom(get_testdata_file("CT_small.dcm"))
    ds = pydicom.dcmread(data("MR_small.dcm"))
    del ds.PixelData
    ds.save_as(tmp_path / "nopix.dcm")
    with pytest.raises(ValueError, match="no pixel data"):
        read_dicom(tmp_path / "nopix.dcm")
