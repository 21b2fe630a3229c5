"""Volume I/O: round trips for every format and a clear one-line error for each bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from headtwin_app.core.io import load_volume, save_volume
from headtwin_app.core.volume import Volume, VolumeError


def make_volume(shape=(20, 24, 16), spacing=(1.0, 1.2, 2.0)) -> Volume:
    rng = np.random.default_rng(0)
    data = (rng.random(shape) * 1000).astype(np.float32)
    data[5:10, 6:12, 4:8] += 2000  # an asymmetric block to catch axis flips
    vol = Volume.from_spacing(data, spacing, origin=(-10.0, -14.0, -16.0))
    return vol


def assert_same_geometry(a: Volume, b: Volume, atol: float = 1e-4) -> None:
    assert a.shape == b.shape
    np.testing.assert_allclose(a.affine, b.affine, atol=atol)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".mha", ".nrrd"])
def test_round_trip_lossless(tmp_path: Path, suffix: str) -> None:
    vol = make_volume()
    out = save_volume(vol, tmp_path / f"img{suffix}")
    back = load_volume(out)
    assert_same_geometry(vol, back)
    np.testing.assert_array_equal(back.data, vol.data)


def test_nifti_reoriented_to_ras(tmp_path: Path) -> None:
    """An LPS-stored NIfTI comes back in RAS+ order with the same world positions."""
    vol = make_volume()
    flipped = np.diag([-1.0, -1.0, 1.0, 1.0]) @ vol.affine
    data = vol.data[::-1, ::-1, :]
    flipped[:3, 3] = vol.affine[:3, :3] @ np.array([vol.shape[0] - 1, vol.shape[1] - 1, 0]) \
        + vol.affine[:3, 3]
    flipped[:3, :3] = vol.affine[:3, :3] @ np.diag([-1.0, -1.0, 1.0])
    nib.save(nib.Nifti1Image(np.ascontiguousarray(data), flipped), str(tmp_path / "lps.nii.gz"))
    back = load_volume(tmp_path / "lps.nii.gz")
    assert_same_geometry(vol, back)
    np.testing.assert_array_equal(back.data, vol.data)


def test_round_trip_dicom_series(tmp_path: Path) -> None:
    vol = make_volume()
    folder = save_volume(vol, tmp_path / "series")
    assert len(list(folder.glob("*.dcm"))) == vol.shape[2]
    back = load_volume(folder)
    assert_same_geometry(vol, back, atol=1e-3)
    # DICOM stores 16-bit integers with a rescale: values agree to the quantisation step
    step = (vol.data.max() - vol.data.min()) / 30000
    assert np.abs(back.data - vol.data).max() <= step


def test_single_dicom_file(tmp_path: Path) -> None:
    vol = make_volume()
    folder = save_volume(vol, tmp_path / "series")
    one = sorted(folder.glob("*.dcm"))[3]
    back = load_volume(one)
    assert back.shape == (vol.shape[0], vol.shape[1], 1)


def test_round_trip_fastmri_h5(tmp_path: Path) -> None:
    vol = make_volume(spacing=(1.0, 1.0, 1.0))
    out = save_volume(vol, tmp_path / "case.h5")
    back = load_volume(out)
    assert back.kspace is not None and np.iscomplexobj(back.kspace)
    assert back.shape == vol.shape
    np.testing.assert_allclose(back.data, vol.data, rtol=1e-5, atol=1e-3)


def test_fastmri_without_target_uses_kspace(tmp_path: Path) -> None:
    import h5py

    from headtwin_app.core.fft import fft2c

    image = np.zeros((3, 32, 32), np.float32)
    image[:, 8:20, 10:14] = 1.0
    with h5py.File(tmp_path / "raw.h5", "w") as f:
        f["kspace"] = fft2c(image.astype(np.complex64))
    back = load_volume(tmp_path / "raw.h5")
    assert back.shape == (32, 32, 3)
    assert back.data.max() == pytest.approx(1.0, abs=1e-4)


def test_npy_and_2d(tmp_path: Path) -> None:
    arr = np.arange(64, dtype=np.float32).reshape(8, 8)
    np.save(tmp_path / "a.npy", arr)
    back = load_volume(tmp_path / "a.npy")
    assert back.shape == (8, 8, 1) and back.is_2d
    nib.save(nib.Nifti1Image(arr, np.eye(4)), str(tmp_path / "a.nii.gz"))
    assert load_volume(tmp_path / "a.nii.gz").shape == (8, 8, 1)


# --- bad input: one line naming the file and the problem --------------------------------------
def expect_error(path: Path, words: str) -> None:
    with pytest.raises(VolumeError) as err:
        load_volume(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(path) in msg
    assert words in msg


def test_missing_file(tmp_path: Path) -> None:
    expect_error(tmp_path / "nope.nii.gz", "no such file")


def test_truncated_nifti(tmp_path: Path) -> None:
    good = save_volume(make_volume(), tmp_path / "good.nii.gz")
    bad = tmp_path / "truncated.nii.gz"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    expect_error(bad, "truncated")


def test_corrupt_file(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.nii.gz"
    bad.write_bytes(gzip.compress(b"this is not an image" * 10))
    expect_error(bad, "not a NIfTI file")
    junk = tmp_path / "junk.mha"
    junk.write_bytes(b"\x00\x01garbage" * 40)
    expect_error(junk, "cannot read")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.nii").write_bytes(b"")
    expect_error(tmp_path / "empty.nii", "empty")


def test_dicom_without_pixels(tmp_path: Path) -> None:
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(tmp_path / "nopix.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.PatientName = "Test^NoPixels"
    ds.Modality = "MR"
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    pydicom.dcmwrite(str(tmp_path / "nopix.dcm"), ds, enforce_file_format=True)
    expect_error(tmp_path / "nopix.dcm", "no pixel data")


def test_4d_file(tmp_path: Path) -> None:
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4, 3), np.float32), np.eye(4)),
             str(tmp_path / "four.nii.gz"))
    expect_error(tmp_path / "four.nii.gz", "4D")


def test_nans(tmp_path: Path) -> None:
    data = np.ones((4, 4, 4), np.float32)
    data[1, 1, 1] = np.nan
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(tmp_path / "nan.nii.gz"))
    expect_error(tmp_path / "nan.nii.gz", "NaN")


def test_empty_array(tmp_path: Path) -> None:
    np.save(tmp_path / "empty.npy", np.zeros((0, 5), np.float32))
    expect_error(tmp_path / "empty.npy", "empty")


def test_unknown_format(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    expect_error(tmp_path / "notes.txt", "unknown image format")


def test_folder_without_dicom(tmp_path: Path) -> None:
    expect_error(tmp_path, "no DICOM series")
