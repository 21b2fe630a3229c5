"""`headtwin uncertainty`: the map and labels in the input file's own grid, the JSON contract,
clear errors (exit 2); through the real entry point with the command registered."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from headtwin_app.cli import main as cli
from headtwin_app.core.volume import Volume

MODULE = "headtwin_app.cli.uncertainty_cmd"


@pytest.fixture(autouse=True)
def _commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands that exist, plus this one (main.py registers it separately)."""
    present = tuple(m for m in cli.COMMAND_MODULES if importlib.util.find_spec(m) is not None)
    monkeypatch.setattr(cli, "COMMAND_MODULES", tuple(dict.fromkeys((*present, MODULE))))


@pytest.fixture(scope="module")
def lps_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 128 mm cube of a phantom head at 2 mm, stored LPS (not RAS) on disk."""
    from headtwin_app.core.phantom import make_phantom

    ph = make_phantom(906, spacing=2.0)
    ras = ph.image.data[16:80, 40:104, 10:74]
    data = np.ascontiguousarray(ras[::-1, ::-1, :])  # LPS array order
    affine = np.diag([-2.0, -2.0, 2.0, 1.0])
    affine[:3, 3] = [63 * 2.0, 63 * 2.0, -20.0]
    path = tmp_path_factory.mktemp("img") / "head_lps.nii.gz"
    nib.save(nib.Nifti1Image(data.astype(np.float32), affine), path)
    return path


def test_writes_map_and_labels_in_the_input_grid(lps_image: Path, tmp_path: Path,
                                                 capsys) -> None:  # type: ignore[no-untyped-def]
    out, lab = tmp_path / "unc.nii.gz", tmp_path / "labels.nii.gz"
    code = cli.main(["uncertainty", "--image", str(lps_image), "--out", str(out),
                     "--labels-out", str(lab), "--tta", "2", "--no-refine", "--device", "cpu",
                     "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    src = nib.load(lps_image)
    for path in (out, lab):
        img = nib.load(path)
        assert img.shape == src.shape and np.allclose(img.affine, src.affine)
    u = np.asarray(nib.load(out).dataobj)
    assert u.dtype == np.float32 and 0 <= u.min() and u.max() <= 1
    assert result["views"] == 2 and result["stages"] == "2 mm"
    assert result["out"] == str(out) and result["labels_out"] == str(lab)
    scores = [s["score"] for s in result["structures"].values()]
    assert "mandible" in result["structures"] and scores == sorted(scores, reverse=True)
    assert all(0 <= s <= 1 for s in scores) and 0 < result["case_score"] < 1
    # the labels written are `segment`'s, voxel for voxel
    seg = tmp_path / "seg.nii.gz"
    assert cli.main(["segment", "--image", str(lps_image), "--out", str(seg), "--no-refine",
                     "--device", "cpu"]) == 0
    assert np.array_equal(np.asarray(nib.load(seg).dataobj), np.asarray(nib.load(lab).dataobj))
    # the voxel map is high where the labels change (in the file's own array order)
    labels = np.asarray(nib.load(lab).dataobj)
    edge = np.zeros(labels.shape, bool)
    edge[1:] |= labels[1:] != labels[:-1]
    assert u[edge].mean() > 3 * u[~edge].mean()


def test_errors_exit_2(lps_image: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    base = ["uncertainty", "--image", str(lps_image)]
    assert cli.main([*base, "--out", str(tmp_path / "u.txt")]) == 2
    assert "--out" in capsys.readouterr().err
    assert cli.main([*base, "--out", str(tmp_path / "u.nii.gz"), "--tta", "3"]) == 2
    assert "--tta" in capsys.readouterr().err
    assert cli.main([*base, "--out", str(lps_image)]) == 2
    assert "destroy" in capsys.readouterr().err
    assert cli.main([*base, "--out", str(tmp_path / "u.nii.gz"), "--model",
                     str(tmp_path / "none.pt")]) == 2
    assert "weights not found" in capsys.readouterr().err
    flat = tmp_path / "flat.nii.gz"
    from headtwin_app.core.io import save_volume

    save_volume(Volume.from_spacing(np.full((8, 8, 8), 3.0, np.float32)), flat)
    assert cli.main(["uncertainty", "--image", str(flat), "--out",
                     str(tmp_path / "u.nii.gz")]) == 2
    assert "constant" in capsys.readouterr().err
