"""A labelling project keeps the input file's voxel grid (issue 16): the case image, labels,
autosave, proposal and reference are stored in the imported file's shape, affine and array order
(so they overlay the original scan in any viewer), while the editor works on them in RAS+.
Labels saved from the editor (`Save labels as…`) keep the grid too. RAS, LPS, PSR, oblique."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from source_grids import GRIDS, assert_on_grid, write_grid_file

from headtwin_app.core.edit.case_editor import CaseEditor
from headtwin_app.core.io import load_volume
from headtwin_app.core.project import Project, auto_label
from headtwin_app.core.volume import Volume

SHAPE = (5, 6, 7)


def _image(tmp_path: Path, codes: str, oblique: bool) -> tuple[np.ndarray, np.ndarray, Volume]:
    """The file's data and affine, and the image as the app loads it (RAS)."""
    data = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)
    affine = write_grid_file(tmp_path / "head.nii.gz", data, codes, oblique)
    image = load_volume(tmp_path / "head.nii.gz")
    assert nib.aff2axcodes(image.affine) == ("R", "A", "S")
    return data, affine, image


def _ids(values: np.ndarray, mod: int) -> np.ndarray:
    """Label ids computed from the image values: the same in any array order."""
    return (np.asarray(values).astype(np.int64) * 7 % mod).astype(np.int16)


@pytest.mark.parametrize("codes, oblique", GRIDS)
def test_case_files_are_stored_on_the_input_grid(tmp_path: Path, codes: str,
                                                 oblique: bool) -> None:
    data, affine, image = _image(tmp_path, codes, oblique)
    project = Project.create(tmp_path / "p")
    project.add_case("c", image, labels=image.with_data(_ids(image.data, 3)),
                     reference=image.with_data(_ids(image.data, 4)))
    case = project.case_dir("c")
    assert_on_grid(case / "image.nii.gz", data, affine)
    assert_on_grid(case / "labels.nii.gz", _ids(data, 3), affine)
    assert_on_grid(case / "reference.nii.gz", _ids(data, 4), affine)

    opened = project.open_case("c")  # worked on in RAS, as loaded
    np.testing.assert_array_equal(opened.image.data, image.data)
    np.testing.assert_allclose(opened.image.affine, image.affine, atol=1e-5)
    np.testing.assert_array_equal(opened.labels.data, _ids(image.data, 3))
    assert opened.reference is not None
    np.testing.assert_array_equal(opened.reference.data, _ids(image.data, 4))

    project.save_proposal("c", image.with_data(_ids(image.data, 5)))
    assert_on_grid(case / "proposal.nii.gz", _ids(data, 5), affine)
    project.save_labels("c", _ids(image.data, 6))
    assert_on_grid(case / "labels.nii.gz", _ids(data, 6), affine)
    project.autosave("c", _ids(image.data, 7))
    assert_on_grid(case / "labels.autosave.nii.gz", _ids(data, 7), affine)

    again = project.open_case("c")
    assert again.restored_autosave
    np.testing.assert_array_equal(again.labels.data, _ids(image.data, 7))
    assert again.proposal is not None
    np.testing.assert_array_equal(again.proposal.data, _ids(image.data, 5))


@pytest.mark.parametrize("codes, oblique", GRIDS)
def test_auto_label_stores_proposal_and_labels_on_the_input_grid(tmp_path: Path, codes: str,
                                                                 oblique: bool) -> None:
    data, affine, _ = _image(tmp_path, codes, oblique)
    project = Project.create(tmp_path / "p")
    (tmp_path / "in").mkdir()
    (tmp_path / "head.nii.gz").rename(tmp_path / "in" / "head.nii.gz")
    assert project.import_folder(tmp_path / "in") == ["head"]

    def predict(image: Volume) -> Volume:  # a model: works in RAS
        assert nib.aff2axcodes(image.affine) == ("R", "A", "S")
        return image.with_data(_ids(image.data, 3))

    steps = list(auto_label(project, predict))
    assert [s.status for s in steps] == ["labelled", "report"]
    case = project.case_dir("head")
    assert_on_grid(case / "proposal.nii.gz", _ids(data, 3), affine)
    assert_on_grid(case / "labels.nii.gz", _ids(data, 3), affine)


@pytest.mark.parametrize("codes, oblique", GRIDS)
def test_save_labels_as_keeps_the_input_grid(tmp_path: Path, codes: str, oblique: bool) -> None:
    """`Save labels as…` of an image opened outside a project, and of a project case."""
    import nrrd

    data, affine, image = _image(tmp_path, codes, oblique)
    editor = CaseEditor()
    editor.open_image(image, "head", _ids(image.data, 3), source=tmp_path / "head.nii.gz")
    editor.save_as(tmp_path / "out.nii.gz")
    assert_on_grid(tmp_path / "out.nii.gz", _ids(data, 3), affine)
    editor.save_as(tmp_path / "out.seg.nrrd")
    voxels, header = nrrd.read(str(tmp_path / "out.seg.nrrd"))
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine
    np.testing.assert_allclose(header["space directions"], lps[:3, :3].T, atol=1e-6)
    np.testing.assert_allclose(header["space origin"], lps[:3, 3], atol=1e-6)
    np.testing.assert_array_equal(voxels, _ids(data, 3))

    project = editor.create_project(tmp_path / "p")
    project.add_case("c", image)
    editor.open_case("c")
    editor.take_labels(_ids(image.data, 4), "labels from elsewhere")
    editor.save_as(tmp_path / "case.nii.gz")
    assert_on_grid(tmp_path / "case.nii.gz", _ids(data, 4), affine)
    editor.save()
    assert_on_grid(project.case_dir("c") / "labels.nii.gz", _ids(data, 4), affine)
