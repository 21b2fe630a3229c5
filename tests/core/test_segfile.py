"""Segmentations for 3D Slicer (.seg.nrrd) and PACS (DICOM-SEG): round trips keep ids, names,
colours and the voxel grid; checked with independent readers (pynrrd, highdicom)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nrrd
import numpy as np
import pytest

from headtwin_app.cli.main import main
from headtwin_app.core.io import load_volume, save_volume
from headtwin_app.core.labelmap import load_label_map
from headtwin_app.core.labels import default_label_table
from headtwin_app.core.segfile import read_seg_nrrd, write_dicom_seg, write_seg_nrrd
from headtwin_app.core.volume import Volume

IDS = (1, 2, 5, 8, 12, 22)


def _labels(shape=(20, 24, 16)) -> np.ndarray:  # type: ignore[no-untyped-def]
    lab = np.zeros(shape, np.int16)
    for k, lid in enumerate(IDS):
        lab[2 + 3 * k:4 + 3 * k, 3:20, 2 + 2 * k:6 + 2 * k] = lid
    return lab


def _volume(data: np.ndarray) -> Volume:
    affine = np.array([[1.1, 0, 0, -10.0], [0, 0.9, 0, 20.0], [0, 0, 1.7, -30.0], [0, 0, 0, 1]])
    return Volume(data, affine)


def test_seg_nrrd_round_trip_keeps_ids_names_colours_and_grid(tmp_path: Path) -> None:
    labels = _volume(_labels())
    path = write_seg_nrrd(labels, tmp_path / "twin.seg.nrrd")
    data, header = nrrd.read(str(path))  # pynrrd, no app code
    assert header["space"] == "left-posterior-superior"
    np.testing.assert_allclose(header["space directions"], np.diag([-1.1, -0.9, 1.7]))
    np.testing.assert_allclose(header["space origin"], [10.0, -20.0, -30.0])
    table = default_label_table()
    fields = {header[f"Segment{k}_Name"]: k for k in range(len(IDS))}
    assert set(fields) == {table[i].name for i in IDS}
    for lid in IDS:
        k = fields[table[lid].name]
        assert int(header[f"Segment{k}_LabelValue"]) == lid
        rgb = [float(c) for c in header[f"Segment{k}_Color"].split()]
        np.testing.assert_allclose(rgb, [c / 255 for c in table[lid].rgb], atol=1e-6)
    np.testing.assert_array_equal(data, labels.data)
    back = read_seg_nrrd(path)
    np.testing.assert_array_equal(back.data, labels.data)
    np.testing.assert_allclose(back.affine, labels.affine, atol=1e-9)
    via_loader = load_label_map(path)
    np.testing.assert_array_equal(via_loader.data, labels.data)


def test_seg_nrrd_from_slicer_matches_segments_by_name(tmp_path: Path) -> None:
    """A segmentation made in Slicer with its own label values: names decide our ids."""
    import slicerio

    seg = slicerio.create_segmentation((10, 10, 6), np.diag([-1.0, -1.0, 1.0, 1.0]))
    mask = np.zeros((10, 10, 6), bool)
    mask[2:5, 2:5, 1:3] = True
    slicerio.add_segment(seg, mask, {"name": "Mandible", "color": [1, 0, 0]})
    mask2 = np.zeros_like(mask)
    mask2[6:9, 6:9, 3:5] = True
    slicerio.add_segment(seg, mask2, {"name": "spinal_cord", "color": [0, 1, 0]})
    slicerio.write_segmentation(str(tmp_path / "slicer.seg.nrrd"), seg)
    back = read_seg_nrrd(tmp_path / "slicer.seg.nrrd")
    assert sorted(np.unique(back.data).tolist()) == [0, 2, 12]  # mandible 2, spinal cord 12


def _series(tmp_path: Path, labels: Volume) -> Path:
    img = labels.with_data(np.asarray(labels.data, np.float32) * 10 + 5)
    return save_volume(img, tmp_path / "series")


def test_dicom_seg_round_trip(tmp_path: Path) -> None:
    import highdicom as hd

    labels = _volume(_labels())
    series = _series(tmp_path, labels)
    path = write_dicom_seg(labels, series, tmp_path / "seg" / "segmentation.dcm")
    seg = hd.seg.segread(str(path))  # highdicom, independent of our reader
    table = default_label_table()
    by_name = {str(s.SegmentLabel): s for s in seg.SegmentSequence}
    assert set(by_name) == {table[i].name for i in IDS}
    skull = by_name["skull"]
    assert skull.SegmentedPropertyTypeCodeSequence[0].CodeValue == "89546000"
    assert skull.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "91723000"
    lab = hd.color.CIELabColor.from_dicom_value(skull.RecommendedDisplayCIELabValue)
    np.testing.assert_allclose(lab.to_rgb(), table[1].rgb, atol=2)
    refs = {str(r.ReferencedSOPInstanceUID) for item in seg.ReferencedSeriesSequence
            for r in item.ReferencedInstanceSequence}
    import pydicom

    assert refs == {str(pydicom.dcmread(f).SOPInstanceUID) for f in series.iterdir()}
    back = load_label_map(path)
    np.testing.assert_array_equal(back.data, labels.data)
    np.testing.assert_allclose(back.affine, labels.affine, atol=1e-4)


def test_dicom_seg_on_real_mr(tmp_path: Path) -> None:
    """pydicom's MR_small.dcm (a real scan) as the source: the segment refers to it."""
    import highdicom as hd
    from pydicom.data import get_testdata_file

    folder = tmp_path / "mr"
    folder.mkdir()
    shutil.copy(get_testdata_file("MR_small.dcm"), folder / "mr.dcm")
    image = load_volume(folder)
    mask = (image.data > np.percentile(image.data, 60)).astype(np.int16)  # "skull": bright
    path = write_dicom_seg(image.with_data(mask), folder, tmp_path / "seg.dcm")
    seg = hd.seg.segread(str(path))
    assert [str(s.SegmentLabel) for s in seg.SegmentSequence] == ["skull"]
    back = load_label_map(path)
    np.testing.assert_array_equal(back.data, mask)


def test_export_seg_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labels = save_volume(_volume(_labels()), tmp_path / "labels.nii.gz")
    assert main(["export-seg", "--labels", str(labels), "--out", str(tmp_path / "t.seg.nrrd"),
                 "--colour-table", str(tmp_path / "t.ctbl")]) == 0
    assert (tmp_path / "t.seg.nrrd").exists()
    assert "1 skull 241 213 144 255" in (tmp_path / "t.ctbl").read_text()
    capsys.readouterr()
    assert main(["export-seg", "--labels", str(labels), "--out", str(tmp_path / "d"),
                 "--format", "dicom-seg"]) == 2
    assert "--image" in capsys.readouterr().err
    assert main(["export-seg", "--labels", str(labels), "--out", str(tmp_path / "t.nrrd")]) == 2
    assert ".seg.nrrd" in capsys.readouterr().err
