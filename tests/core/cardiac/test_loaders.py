"""Loading a user's own cine: case folders, .npz, .h5 and phase-contrast DICOM folders, each
written here from a small phantom and read back (arrays, geometry, frame/slice order, venc)."""

import random

import numpy as np
import pytest

from headtwin_app.core.cardiac.loaders import load_array_file, load_cardiac
from headtwin_app.core.cardiac.phantom import make_case
from headtwin_app.core.cardiac.store import save_case
from headtwin_app.core.cardiac.velocity import assess, assess_case, velocity_from_phase
from headtwin_app.core.errors import UserError

Y0, Y1 = 8, 56  # crop y so images are not square: 64 columns (x) × 48 rows (y)


@pytest.fixture(scope="module")
def case():
    c = make_case(1, frames=12, slices=2, size=64, snr=0)
    for name in ("magnitude", "phase", "velocity", "lv_mask", "tissues"):
        setattr(c, name, np.ascontiguousarray(getattr(c, name)[:, Y0:Y1]))
    return c


def write_dicom(case, folder, venc_style="tag", rescale=False, shuffle_series=False,
                pixel_spacing=(1.5, 1.2)):
    """A Siemens-like phase-contrast cine: one magnitude series and three phase series (12-bit
    phase, 0…4095 ↔ −π…π), one file per image, written in a shuffled order. Slices at
    z = the phantom's slice positions, normal +z (towards the base)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    study = generate_uid()
    venc = case.info["venc_mm_s"]
    codes = ("rl", "ap", "in")
    dirs = ([1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0])
    numbers = [2, 3, 4] if not shuffle_series else [4, 2, 3]
    series = [("M", None, 1)] + [("P", c, numbers[c]) for c in range(3)]
    nx, ny, ns, nf = case.magnitude.shape
    files = []
    for kind, comp, number in series:
        uid = generate_uid()
        for s in range(ns):
            z = case.info["slice_positions_mm"][s]
            for f in range(nf):
                if kind == "M":
                    img = np.round(case.magnitude[:, :, s, f] * 1000).astype(np.uint16)
                else:
                    phi = case.phase[:, :, s, f, comp]
                    img = np.clip(np.round(phi / np.pi * 2048 + 2048), 0, 4095).astype(np.uint16)
                ds = Dataset()
                ds.file_meta = FileMetaDataset()
                ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
                ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
                ds.SOPClassUID = MRImageStorage
                ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
                ds.StudyInstanceUID, ds.SeriesInstanceUID = study, uid
                ds.Modality = "MR"
                ds.SeriesNumber, ds.InstanceNumber = number, s * nf + f + 1
                ds.ImageType = ["ORIGINAL", "PRIMARY", kind, "ND"]
                ds.Rows, ds.Columns = img.shape[1], img.shape[0]
                ds.PixelSpacing = list(pixel_spacing)  # (between rows = dy, between cols = dx)
                ds.SliceThickness = 8.0
                ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
                ds.ImagePositionPatient = [0.0, 0.0, float(z)]
                ds.SliceLocation = float(z)
                ds.TriggerTime = float(case.info["frame_times_ms"][f])
                ds.NominalInterval = int(round(case.info["rr_ms"]))
                ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
                ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
                ds.PixelRepresentation = 0
                if kind == "M":
                    ds.RescaleSlope, ds.RescaleIntercept = 0.001, 0
                elif rescale:
                    ds.RescaleSlope, ds.RescaleIntercept = 2, -4096
                if kind == "P" and venc_style == "tag":
                    item = Dataset()
                    item.VelocityEncodingDirection = dirs[comp]
                    item.VelocityEncodingMaximumValue = venc[comp] / 10.0  # cm/s
                    ds.MRVelocityEncodingSequence = [item]
                elif kind == "P" and venc_style == "seqname":
                    ds.SequenceName = f"fl2d1_v{venc[comp] / 10:g}{codes[comp]}"
                ds.PixelData = np.ascontiguousarray(img.T).tobytes()  # rows = y
                files.append(ds)
    random.Random(0).shuffle(files)
    for i, ds in enumerate(files):
        ds.save_as(folder / f"IM{i:05d}.dcm", enforce_file_format=True)
    (folder / "README.txt").write_text("not DICOM: the loader skips it")
    return folder


def check_dicom_case(loaded, case):
    # Slices come back in ascending SliceLocation: apex first, the phantom's order reversed.
    assert loaded.magnitude.shape == case.magnitude.shape
    np.testing.assert_allclose(loaded.magnitude, case.magnitude[:, :, ::-1], atol=6e-4)
    myo = case.lv_mask[:, :, ::-1] == 1
    v = velocity_from_phase(loaded.phase, loaded.info["venc_mm_s"])[myo]
    step = np.array(case.info["venc_mm_s"]) / 2048  # one 12-bit level
    assert np.all(np.abs(v - case.velocity[:, :, ::-1][myo]) <= step * 0.51 + 1e-3)
    assert loaded.info["venc_mm_s"] == case.info["venc_mm_s"]
    np.testing.assert_allclose(loaded.info["frame_times_ms"], case.info["frame_times_ms"],
                               atol=1e-3)
    assert loaded.info["slice_locations_mm"] == pytest.approx(
        sorted(case.info["slice_positions_mm"]), abs=1e-3)


def test_dicom_folder_round_trip_with_venc_tags(case, tmp_path):
    loaded = load_cardiac(write_dicom(case, tmp_path / "dcm", "tag"))
    check_dicom_case(loaded, case)
    assert loaded.info["venc_from"] == "DICOM (cm/s)"
    assert loaded.info["rr_ms"] == round(case.info["rr_ms"])
    # Geometry: PixelSpacing (dy, dx) → spacing (dx, dy); x along the rows, slice step +z.
    assert loaded.info["spacing_mm"] == [1.2, 1.5]
    np.testing.assert_allclose(loaded.affine[:3, :3], np.diag(
        [1.2, 1.5, case.info["slice_positions_mm"][0] - case.info["slice_positions_mm"][1]]))
    assert loaded.affine[2, 3] == pytest.approx(min(case.info["slice_positions_mm"]))
    # The assessment of the loaded phase matches the phantom's velocities.
    loaded.lv_mask = case.lv_mask[:, :, ::-1].copy()
    loaded.info["spacing_mm"] = [1.5, 1.5]
    got = assess_case(loaded)
    want = assess(case.velocity, case.lv_mask, (1.5, 1.5), oversample=4)
    assert got["source"] == "phase"
    for d, pk in want["peaks"].items():
        assert got["peaks"][d]["psv"] == pytest.approx(pk["psv"], abs=0.05)
        assert got["peaks"][d]["pdv"] == pytest.approx(pk["pdv"], abs=0.05)


def test_dicom_folder_siemens_sequence_names_and_rescale(case, tmp_path):
    loaded = load_cardiac(write_dicom(case, tmp_path / "dcm", "seqname", rescale=True,
                                      shuffle_series=True))
    check_dicom_case(loaded, case)


def test_dicom_venc_tag_order_does_not_depend_on_series_numbers(case, tmp_path):
    loaded = load_cardiac(write_dicom(case, tmp_path / "dcm", "tag", shuffle_series=True))
    check_dicom_case(loaded, case)


def test_dicom_without_venc_needs_the_argument(case, tmp_path):
    folder = write_dicom(case, tmp_path / "dcm", "none")
    with pytest.raises(UserError, match="venc"):
        load_cardiac(folder)
    loaded = load_cardiac(folder, venc=case.info["venc_mm_s"])
    check_dicom_case(loaded, case)  # directions from the series order (x, y, through-plane)
    assert loaded.info["venc_from"] == "argument"


def test_folder_without_dicom_is_a_user_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match="no DICOM images"):
        load_cardiac(tmp_path)


def npz_arrays(case):
    return {"magnitude": case.magnitude, "phase": case.phase, "lv_mask": case.lv_mask,
            "venc": np.array(case.info["venc_mm_s"]), "rr_ms": case.info["rr_ms"],
            "spacing_mm": np.array([1.5, 1.5])}


def test_npz_round_trip(case, tmp_path):
    p = tmp_path / "cine.npz"
    np.savez(p, **npz_arrays(case))
    loaded = load_cardiac(p)
    np.testing.assert_array_equal(loaded.magnitude, case.magnitude)
    np.testing.assert_array_equal(loaded.phase, case.phase)
    np.testing.assert_array_equal(loaded.lv_mask, case.lv_mask)
    assert loaded.velocity is None
    assert loaded.info["venc_mm_s"] == case.info["venc_mm_s"]
    assert loaded.info["rr_ms"] == pytest.approx(case.info["rr_ms"])
    assert loaded.info["frame_times_ms"] == pytest.approx(case.info["frame_times_ms"])
    assert loaded.info["spacing_mm"] == [1.5, 1.5] and loaded.info["synthetic"] is False
    got = assess_case(loaded)
    want = assess_case(case)  # from the exact velocity
    for d in want["peaks"]:
        assert got["peaks"][d]["psv"] == pytest.approx(want["peaks"][d]["psv"], abs=1e-3)


def test_npz_velocity_one_slice_and_scalar_venc(case, tmp_path):
    p = tmp_path / "cine.npz"
    np.savez(p, magnitude=case.magnitude[:, :, 0], velocity=case.velocity[:, :, 0],
             lv_mask=case.lv_mask[:, :, 0], venc=250.0)
    loaded = load_cardiac(p)
    assert loaded.magnitude.shape == case.magnitude[:, :, :1].shape
    np.testing.assert_array_equal(loaded.velocity, case.velocity[:, :, :1])
    assert loaded.info["venc_mm_s"] == [250.0] * 3 and loaded.info["spacing_assumed"]


@pytest.mark.parametrize(("drop", "change", "message"), [
    ("magnitude", {}, "no 'magnitude'"),
    ("phase", {}, "needs a 'phase'"),
    ("venc", {}, "phase without a venc"),
    (None, {"phase": "degrees"}, "radians"),
    (None, {"lv_mask": "small"}, "'lv_mask' grid"),
    (None, {"venc": [200.0, -1.0, 300.0]}, "venc must be"),
])
def test_npz_errors_are_one_line_user_errors(case, tmp_path, drop, change, message):
    arrays = npz_arrays(case)
    if drop:
        arrays.pop(drop)
    for k, v in change.items():
        if v == "degrees":
            arrays[k] = np.degrees(arrays[k])
        elif v == "small":
            arrays[k] = arrays[k][:32]
        else:
            arrays[k] = np.array(v)
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    with pytest.raises(UserError, match=message) as err:
        load_cardiac(p)
    assert "\n" not in str(err.value)


def test_npz_phase_without_venc_takes_the_argument(case, tmp_path):
    arrays = npz_arrays(case)
    arrays.pop("venc")
    p = tmp_path / "cine.npz"
    np.savez(p, **arrays)
    assert load_cardiac(p, venc=[200, 200, 300]).info["venc_mm_s"] == [200.0, 200.0, 300.0]


def test_h5_round_trip(case, tmp_path):
    h5py = pytest.importorskip("h5py")
    p = tmp_path / "cine.h5"
    with h5py.File(p, "w") as f:
        f["magnitude"] = case.magnitude
        f["phase"] = case.phase
        f["lv_mask"] = case.lv_mask
        f.attrs["venc"] = np.array(case.info["venc_mm_s"])
        f.attrs["rr_ms"] = case.info["rr_ms"]
        f.attrs["spacing_mm"] = 1.5
        f.attrs["z_towards_base"] = False
    loaded = load_cardiac(p)
    np.testing.assert_array_equal(loaded.phase, case.phase)
    np.testing.assert_array_equal(loaded.lv_mask, case.lv_mask)
    assert loaded.info["venc_mm_s"] == case.info["venc_mm_s"]
    assert loaded.info["z_towards_base"] is False
    # z_towards_base = False flips the longitudinal curve only.
    a, b = assess_case(loaded), assess_case(case)
    np.testing.assert_allclose(a["curves_mm_s"]["longitudinal"],
                               -np.array(b["curves_mm_s"]["longitudinal"]), atol=1e-3)
    np.testing.assert_allclose(a["curves_mm_s"]["radial"], b["curves_mm_s"]["radial"],
                               atol=1e-3)


def test_case_folder_and_venc_override(case, tmp_path):
    save_case(case, tmp_path / "c")
    loaded = load_cardiac(tmp_path / "c")
    np.testing.assert_array_equal(loaded.velocity, case.velocity)
    assert loaded.info["truth"] == case.info["truth"]
    assert load_cardiac(tmp_path / "c", venc=150).info["venc_mm_s"] == [150.0] * 3


def test_array_files(case, tmp_path):
    import nibabel as nib

    np.save(tmp_path / "m.npy", case.lv_mask)
    np.savez(tmp_path / "p.npz", phase=case.phase, other=np.zeros(2))
    nib.save(nib.Nifti1Image(case.phase, np.eye(4)), tmp_path / "p.nii.gz")
    np.testing.assert_array_equal(load_array_file(tmp_path / "m.npy", "lv_mask"), case.lv_mask)
    np.testing.assert_array_equal(load_array_file(tmp_path / "p.npz", "phase"), case.phase)
    np.testing.assert_array_equal(load_array_file(tmp_path / "p.nii.gz", "phase"), case.phase)
    with pytest.raises(UserError, match="no 'lv_mask' array"):
        load_array_file(tmp_path / "p.npz", "lv_mask")
    with pytest.raises(UserError, match="unsupported"):
        load_array_file(_touch(tmp_path / "x.csv"), "phase")


def _touch(p):
    p.write_text("1,2")
    return p


def test_unknown_inputs_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        load_cardiac(tmp_path / "missing.npz")
    with pytest.raises(UserError, match="not a cardiac case"):
        load_cardiac(_touch(tmp_path / "x.csv"))
    with pytest.raises(UserError, match="readable"):
        load_cardiac(_touch(tmp_path / "x.npz"))
