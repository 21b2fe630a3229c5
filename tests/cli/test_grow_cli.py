"""`headtwin grow`: the JSON contract, the output on the input's voxel grid (RAS and PSR files),
the prior file layouts, and one-line errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from headtwin_app.cli.main import main

AIRWAY = 9


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 4 mm phantom (image, truth) and seeds for the upper airway: its eroded interior on
    every third axial slice and a background ring 1-2 voxels outside it."""
    from headtwin_app.core.phantom import make_phantom

    root = tmp_path_factory.mktemp("grow")
    ph = make_phantom(21, spacing=4.0)
    truth = ph.labels.data == AIRWAY
    seeds = np.zeros(truth.shape, np.uint8)
    interior = ndimage.binary_erosion(truth)
    sparse = np.zeros_like(interior)
    sparse[:, :, ::3] = True
    seeds[interior & sparse] = AIRWAY
    ring = ndimage.binary_dilation(truth, iterations=2) & ~ndimage.binary_dilation(truth)
    seeds[ring] = 255
    paths = {"image": root / "image.nii.gz", "seeds": root / "seeds.nii.gz",
             "truth": root / "truth.nii.gz"}
    nib.save(nib.Nifti1Image(ph.image.data.astype(np.float32), ph.image.affine), paths["image"])
    nib.save(nib.Nifti1Image(seeds, ph.image.affine), paths["seeds"])
    nib.save(nib.Nifti1Image(ph.labels.data.astype(np.int16), ph.image.affine), paths["truth"])
    return paths


def _json(capsys) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(capsys.readouterr().out)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


def _reoriented(src: Path, dst: Path, codes: str) -> Path:
    img = nib.load(str(src))
    t = nib.orientations.ornt_transform(nib.orientations.io_orientation(img.affine),
                                        nib.orientations.axcodes2ornt(codes))
    nib.save(img.as_reoriented(t), str(dst))
    return dst


def test_grow_json_and_labels(case: dict[str, Path], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "grown.nii.gz"
    assert main(["grow", "--image", str(case["image"]), "--seeds", str(case["seeds"]), "--out",
                 str(out), "--margin", "8", "--json"]) == 0
    result = _json(capsys)
    assert [s["name"] for s in result["structures"]] == ["upper_airway"]
    assert result["structures"][0]["id"] == AIRWAY
    grown = nib.load(str(out))
    truth = np.asarray(nib.load(str(case["truth"])).dataobj) == AIRWAY
    labels = np.asarray(grown.dataobj)
    assert result["structures"][0]["voxels"] == int((labels == AIRWAY).sum())
    assert set(np.unique(labels)) == {0, AIRWAY}
    assert _dice(labels == AIRWAY, truth) > 0.75  # 4 mm voxels: much partial volume
    assert result["seconds"] > 0
    start, stop = result["box"]["start"], result["box"]["stop"]
    inside = np.zeros(labels.shape, bool)
    inside[tuple(slice(a, b) for a, b in zip(start, stop, strict=True))] = True
    assert not labels[~inside].any()
    assert np.allclose(grown.affine, nib.load(str(case["image"])).affine)


def test_psr_input_keeps_its_grid(case: dict[str, Path], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The same case written as PSR files: the output is on the PSR grid (its shape and affine),
    voxel for voxel the RAS run reoriented, and the box is in the PSR file's indices."""
    image = _reoriented(case["image"], tmp_path / "image_psr.nii.gz", "PSR")
    seeds = _reoriented(case["seeds"], tmp_path / "seeds_psr.nii.gz", "PSR")
    assert main(["grow", "--image", str(case["image"]), "--seeds", str(case["seeds"]), "--out",
                 str(tmp_path / "ras.nii.gz"), "--json"]) == 0
    ras_box = _json(capsys)["box"]
    assert main(["grow", "--image", str(image), "--seeds", str(seeds), "--out",
                 str(tmp_path / "psr.nii.gz"), "--json"]) == 0
    psr_box = _json(capsys)["box"]
    out = nib.load(str(tmp_path / "psr.nii.gz"))
    src = nib.load(str(image))
    assert nib.aff2axcodes(out.affine) == ("P", "S", "R")
    assert out.shape == src.shape and np.allclose(out.affine, src.affine)
    expect = _reoriented(tmp_path / "ras.nii.gz", tmp_path / "ras_as_psr.nii.gz", "PSR")
    np.testing.assert_array_equal(np.asarray(out.dataobj), np.asarray(nib.load(str(expect))
                                                                      .dataobj))
    # PSR axes are (y reversed, z, x) of RAS: the box's extents follow
    ras_size = [b - a for a, b in zip(ras_box["start"], ras_box["stop"], strict=True)]
    psr_size = [b - a for a, b in zip(psr_box["start"], psr_box["stop"], strict=True)]
    assert psr_size == [ras_size[1], ras_size[2], ras_size[0]]
    labels = np.asarray(out.dataobj)
    box = tuple(slice(a, b) for a, b in zip(psr_box["start"], psr_box["stop"], strict=True))
    assert labels[box].sum() == labels.sum() > 0


def test_prior_files(case: dict[str, Path], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A prior that is sure of the airway: as .npy (C, X, Y, Z) and as 4D NIfTI (X, Y, Z, C)
    both reach the grow and supply the background seeds; channels are label ids 0 and 9."""
    img = nib.load(str(case["truth"]))
    truth = np.asarray(img.dataobj) == AIRWAY
    prob = np.stack([~truth, truth]).astype(np.float32)
    np.save(tmp_path / "prior.npy", prob)
    nib.save(nib.Nifti1Image(np.moveaxis(prob, 0, 3), img.affine), str(tmp_path / "prior.nii.gz"))
    seeds = np.zeros(truth.shape, np.uint8)
    seeds[ndimage.binary_erosion(truth)] = AIRWAY  # no background seeds
    nib.save(nib.Nifti1Image(seeds, img.affine), str(tmp_path / "one_seed.nii.gz"))
    assert main(["grow", "--image", str(case["image"]), "--seeds",
                 str(tmp_path / "one_seed.nii.gz"), "--out", str(tmp_path / "x.nii.gz")]) == 2
    assert "one kind only" in capsys.readouterr().err
    for name in ("prior.npy", "prior.nii.gz"):
        out = tmp_path / f"grown_{name}.nii.gz"
        assert main(["grow", "--image", str(case["image"]), "--seeds",
                     str(tmp_path / "one_seed.nii.gz"), "--out", str(out), "--prior",
                     str(tmp_path / name), "--prior-ids", "0,9", "--json"]) == 0
        assert _json(capsys)["prior"].endswith(name)
        grown = np.asarray(nib.load(str(out)).dataobj) == AIRWAY
        assert _dice(grown, truth) > 0.75
    assert main(["grow", "--image", str(case["image"]), "--seeds", str(case["seeds"]), "--out",
                 str(tmp_path / "x.nii.gz"), "--prior", str(tmp_path / "prior.npy"),
                 "--prior-ids", "0,1,9"]) == 2
    assert "2 channels" in capsys.readouterr().err
    np.save(tmp_path / "bad.npy", prob[:, :-1])
    assert main(["grow", "--image", str(case["image"]), "--seeds", str(case["seeds"]), "--out",
                 str(tmp_path / "x.nii.gz"), "--prior", str(tmp_path / "bad.npy")]) == 2
    assert "not on the image's grid" in capsys.readouterr().err


def test_seeds_off_the_grid_and_bad_seeds(case: dict[str, Path], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    img = nib.load(str(case["seeds"]))
    data = np.asarray(img.dataobj)
    nib.save(nib.Nifti1Image(data[:-1], img.affine), str(tmp_path / "short.nii.gz"))
    code = main(["grow", "--image", str(case["image"]), "--seeds", str(tmp_path / "short.nii.gz"),
                 "--out", str(tmp_path / "o.nii.gz")])
    err = capsys.readouterr().err
    assert code == 2 and "one voxel grid" in err and err.count("\n") == 1
    shifted = img.affine.copy()
    shifted[0, 3] += 2.0
    nib.save(nib.Nifti1Image(data, shifted), str(tmp_path / "shifted.nii.gz"))
    assert main(["grow", "--image", str(case["image"]), "--seeds",
                 str(tmp_path / "shifted.nii.gz"), "--out", str(tmp_path / "o.nii.gz")]) == 2
    assert "affine differs" in capsys.readouterr().err
    nib.save(nib.Nifti1Image(np.where(data == 255, 255, 0).astype(np.uint8), img.affine),
             str(tmp_path / "bg_only.nii.gz"))
    assert main(["grow", "--image", str(case["image"]), "--seeds",
                 str(tmp_path / "bg_only.nii.gz"), "--out", str(tmp_path / "o.nii.gz")]) == 2
    assert "no structure seeds" in capsys.readouterr().err
    assert main(["grow", "--image", str(case["image"]), "--seeds", str(case["seeds"]), "--out",
                 str(tmp_path / "o.png")]) == 2
    assert "write the label map as" in capsys.readouterr().err
    assert not (tmp_path / "o.nii.gz").exists()
