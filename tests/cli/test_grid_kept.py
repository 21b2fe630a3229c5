"""Commands write in the input file's voxel grid (issue 16, "input grid kept everywhere"):
`fuse`, `export-seg` and the labelling project's `import | export-nnunet` keep the shape,
affine and array order of a RAS, LPS, PSR or oblique input, voxel for voxel."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from source_grids import GRIDS, assert_on_grid, write_grid_file

from headtwin_app.cli.main import main

SHAPE = (5, 6, 7)
LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _ids(mod: int) -> np.ndarray:
    """A label map in the file's own order with no symmetry a flip or transpose could hide."""
    return (np.arange(np.prod(SHAPE)).reshape(SHAPE) * 7 % mod).astype(np.int16)


@pytest.mark.parametrize("codes, oblique", GRIDS)
def test_fuse_writes_the_craniofacial_files_grid(tmp_path: Path, codes: str, oblique: bool,
                                                 capsys) -> None:  # type: ignore[no-untyped-def]
    cf = _ids(13)
    tissue = np.zeros(SHAPE, np.int16)
    tissue[1:4, 2:5, 1:6] = 21 + _ids(3)[1:4, 2:5, 1:6]
    hemi = np.zeros(SHAPE, np.int16)
    hemi[1:4, 2:5, 1:6] = 31 + (np.arange(3)[:, None, None] > 1)
    affine = write_grid_file(tmp_path / "cf.nii.gz", cf, codes, oblique)
    (tmp_path / "brain").mkdir()
    write_grid_file(tmp_path / "brain" / "brain_tissue.nii.gz", tissue, codes, oblique)
    write_grid_file(tmp_path / "brain" / "brain_hemispheres.nii.gz", hemi, codes, oblique)
    assert main(["fuse", "--craniofacial", str(tmp_path / "cf.nii.gz"), "--brain-dir",
                 str(tmp_path / "brain"), "--out", str(tmp_path / "twin.nii.gz"), "--json"]) == 0
    capsys.readouterr()
    cavity = (tissue > 0) | (hemi > 0)
    assert_on_grid(tmp_path / "twin.nii.gz", np.where(cavity, tissue, cf), affine)
    assert_on_grid(tmp_path / "twin_hemispheres.nii.gz", np.where(cavity, hemi, 0), affine)


def _seg_nrrd_geometry(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import nrrd  # pynrrd: what Slicer reads, no app code

    data, header = nrrd.read(str(path))
    assert header["space"] == "left-posterior-superior"
    return data, np.asarray(header["space directions"], float), np.asarray(
        header["space origin"], float)


@pytest.mark.parametrize("codes, oblique", GRIDS)
def test_export_seg_keeps_the_label_files_grid(tmp_path: Path, codes: str, oblique: bool,
                                               capsys) -> None:  # type: ignore[no-untyped-def]
    labels = _ids(4)
    affine = write_grid_file(tmp_path / "labels.nii.gz", labels, codes, oblique)
    assert main(["export-seg", "--labels", str(tmp_path / "labels.nii.gz"), "--out",
                 str(tmp_path / "t.seg.nrrd"), "--json"]) == 0
    capsys.readouterr()
    data, directions, origin = _seg_nrrd_geometry(tmp_path / "t.seg.nrrd")
    lps = LPS @ affine
    np.testing.assert_allclose(directions, lps[:3, :3].T, atol=1e-6)  # one row per array axis
    np.testing.assert_allclose(origin, lps[:3, 3], atol=1e-6)
    np.testing.assert_array_equal(data, labels)
    # and it reads back as the same label map
    from headtwin_app.core.labelmap import load_label_map

    back, ref = load_label_map(tmp_path / "t.seg.nrrd"), load_label_map(tmp_path / "labels.nii.gz")
    np.testing.assert_array_equal(back.data, ref.data)
    np.testing.assert_allclose(back.affine, ref.affine, atol=1e-6)


@pytest.mark.parametrize("codes, oblique", GRIDS)
def test_export_seg_takes_the_grid_of_the_image_given(tmp_path: Path, codes: str, oblique: bool,
                                                      capsys) -> None:  # type: ignore[no-untyped-def]
    """Labels saved in RAS order (as older versions wrote them) for an image stored `codes`:
    with --image the segmentation has the image's geometry, so Slicer overlays it on that image."""
    from headtwin_app.core.io import load_volume, save_volume

    image = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)
    affine = write_grid_file(tmp_path / "image.nii.gz", image, codes, oblique)
    ras = load_volume(tmp_path / "image.nii.gz")
    labels = (ras.data.astype(np.int64) * 7 % 4).astype(np.int16)  # the same ids, in RAS order
    save_volume(ras.with_data(labels), tmp_path / "ras_labels.nii.gz")
    assert main(["export-seg", "--labels", str(tmp_path / "ras_labels.nii.gz"), "--image",
                 str(tmp_path / "image.nii.gz"), "--out", str(tmp_path / "t.seg.nrrd")]) == 0
    capsys.readouterr()
    data, directions, origin = _seg_nrrd_geometry(tmp_path / "t.seg.nrrd")
    lps = LPS @ affine
    np.testing.assert_allclose(directions, lps[:3, :3].T, atol=1e-6)
    np.testing.assert_allclose(origin, lps[:3, 3], atol=1e-6)
    np.testing.assert_array_equal(data, _ids(4))


def test_export_seg_refuses_labels_off_the_images_grid(tmp_path: Path,
                                                       capsys) -> None:  # type: ignore[no-untyped-def]
    write_grid_file(tmp_path / "image.nii.gz", np.zeros(SHAPE, np.float32), "PSR")
    write_grid_file(tmp_path / "labels.nii.gz", _ids(4)[:, :, :6].copy(), "PSR")
    assert main(["export-seg", "--labels", str(tmp_path / "labels.nii.gz"), "--image",
                 str(tmp_path / "image.nii.gz"), "--out", str(tmp_path / "t.seg.nrrd")]) == 2
    assert "grid" in capsys.readouterr().err
    assert not (tmp_path / "t.seg.nrrd").exists()


@pytest.mark.parametrize("codes, oblique", GRIDS)
def test_project_import_and_export_nnunet_keep_the_grid(tmp_path: Path, codes: str,
                                                        oblique: bool,
                                                        capsys) -> None:  # type: ignore[no-untyped-def]
    from headtwin_app.core.project import Project

    image = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)
    (tmp_path / "in").mkdir()
    affine = write_grid_file(tmp_path / "in" / "head.nii.gz", image, codes, oblique)
    assert main(["project", "create", str(tmp_path / "p"), "--json"]) == 0
    root = Path(json.loads(capsys.readouterr().out)["project"])
    assert main(["project", "import", str(root), str(tmp_path / "in"), "--json"]) == 0
    capsys.readouterr()
    case = root / "cases" / "head"
    assert_on_grid(case / "image.nii.gz", image, affine)
    project = Project.open(root)
    opened = project.open_case("head")
    assert nib.aff2axcodes(opened.image.affine) == ("R", "A", "S")  # worked on in RAS
    ras_labels = (np.asarray(opened.image.data).astype(np.int64) % 3).astype(np.int16)
    project.save_labels("head", ras_labels)
    assert_on_grid(case / "labels.nii.gz", (image % 3).astype(np.int16), affine)
    assert main(["project", "export-nnunet", str(root), "--out", str(tmp_path / "raw"),
                 "--json"]) == 0
    dataset = Path(json.loads(capsys.readouterr().out)["dataset"])
    assert_on_grid(next((dataset / "imagesTr").iterdir()), image, affine)
    assert_on_grid(next((dataset / "labelsTr").iterdir()), (image % 3).astype(np.uint8), affine)


@pytest.mark.parametrize("command", [["project", "auto-label"], ["auto-label", "--project"]],
                         ids=["project auto-label", "auto-label (older)"])
@pytest.mark.parametrize("codes, oblique", GRIDS)
def test_auto_label_writes_proposal_and_labels_on_the_input_grid(
        tmp_path: Path, codes: str, oblique: bool, command: list[str],
        capsys) -> None:  # type: ignore[no-untyped-def]
    """The built-in model (coarse stage) labels an imported case; its files keep the grid."""
    from headtwin_app.core.project import Project

    shape = (20, 24, 16)
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    (tmp_path / "in").mkdir()
    affine = write_grid_file(tmp_path / "in" / "head.nii.gz", image, codes, oblique)
    root = tmp_path / "p"
    assert main(["project", "create", str(root)]) == 0
    assert main(["project", "import", str(root), str(tmp_path / "in")]) == 0
    assert main([*command, str(root), "--no-refine", "--json"]) == 0
    capsys.readouterr()
    case = root / "cases" / "head"
    assert_on_grid(case / "image.nii.gz", image, affine)
    opened = Project.open(root).open_case("head")  # RAS, as the model saw it
    for name in ("labels", "proposal"):
        stored = nib.load(str(case / f"{name}.nii.gz"))
        assert stored.shape == shape and np.allclose(stored.affine, affine, atol=1e-5), name
        ras = np.asarray(nib.as_closest_canonical(stored).dataobj)
        np.testing.assert_array_equal(ras, opened.labels.data)


@pytest.mark.parametrize("codes, oblique", GRIDS)
def test_recon_writes_the_images_grid(tmp_path: Path, codes: str, oblique: bool,
                                      capsys) -> None:  # type: ignore[no-untyped-def]
    i, j, k = np.indices((12, 10, 8), dtype=np.float32)
    img = 50.0 + 3.0 * i + 2.0 * j + 1.0 * k  # smooth: zero-filling keeps it, a flip reverses it
    affine = write_grid_file(tmp_path / "img.nii.gz", img, codes, oblique)
    assert main(["recon", "--image", str(tmp_path / "img.nii.gz"), "--mask", "cartesian",
                 "--accel", "2", "--method", "zf", "--out", str(tmp_path / "rec.nii.gz"),
                 "--json"]) == 0
    capsys.readouterr()
    out = nib.load(str(tmp_path / "rec.nii.gz"))
    assert out.shape == img.shape and np.allclose(out.affine, affine, atol=1e-5)
    rec = np.asarray(out.dataobj, dtype=np.float32)
    assert np.corrcoef(rec.ravel(), img.ravel())[0, 1] > 0.9  # the same voxels, not flipped
