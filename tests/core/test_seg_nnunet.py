"""nnU-Net v2 backend end to end on CPU: export, plan/preprocess, train briefly, predict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from headtwin_app.core.seg import Progress, TrainingCase, get_backend

pytest.importorskip("nnunetv2")


@pytest.mark.slow
def test_nnunet_end_to_end(tmp_path: Path) -> None:
    from headtwin_app.core.phantom import make_phantom

    cases = []
    for seed in (41, 42, 43):
        # T2: the vitreous is the brightest thing in the dark orbital fat, so 4 × 40 iterations
        # learn the eyes (with generator 2's PD image they did not: 160 iterations prove the
        # pipeline, not a useful model)
        ph = make_phantom(seed, spacing=4.0, sequence="t2")
        # the head below the vertex: smaller, faster to train
        image, labels = _crop(ph.image, ph.labels)
        # a partly labelled set (as annotators' often is): the structures a few minutes of CPU
        # training can learn at 4 mm; nnU-Net gets consecutive ids, predictions come back in ours
        kept = labels.with_data(np.where(np.isin(labels.data, TRAINED), labels.data, 0))
        cases.append(TrainingCase(f"case{seed}", image, kept))
    from headtwin_app.core.seg.nnunet_backend import cpu_has_bf16

    be = get_backend("nnunet", device="cpu", bf16=cpu_has_bf16())
    steps = list(be.train(cases, tmp_path / "project", epochs=EPOCHS, iterations=ITERATIONS))
    assert all(isinstance(p, Progress) for p in steps)
    assert [p.stage for p in steps][:4] == ["export", "plan", "preprocess", "train"]
    assert (tmp_path / "project" / "nnUNet_raw" / "Dataset501_HeadTwin" / "dataset.json").exists()

    predictor = get_backend("nnunet", model=tmp_path / "project", device="cpu")
    image = cases[0].image
    pred = predictor.predict(image)
    assert pred.shape == image.shape and np.array_equal(pred.affine, image.affine)
    # the target: every trained structure appears in the prediction (SGD, nnU-Net's
    # default, predicted the skull only after the same 4 × 40 iterations; the short trainer
    # uses AdamW)
    assert set(np.unique(pred.data).tolist()) == {0, *TRAINED}
    assert predictor.describe()["labels"] == {"background": 0, "skull": 1, "mandible": 2,
                                              "eyeballs": 8}


TRAINED = (1, 2, 8)  # skull, mandible, eyeballs
EPOCHS, ITERATIONS = 4, 40  # about 3 minutes in bfloat16 on 2 cores


def _crop(image, labels):  # type: ignore[no-untyped-def]
    """Keep the lower two thirds of the head (z) around the labelled structures."""
    lab = np.asarray(labels.data)
    zs = np.nonzero((lab > 0) & (lab != 1))[2]
    z0, z1 = max(int(zs.min()) - 2, 0), min(int(zs.max()) + 3, lab.shape[2])
    sl = (slice(None), slice(None), slice(z0, z1))
    aff = image.affine.copy()
    aff[:3, 3] = aff[:3, :3] @ np.array([0, 0, z0]) + aff[:3, 3]
    from headtwin_app.core.volume import Volume

    return Volume(np.ascontiguousarray(image.data[sl]), aff), \
        Volume(np.ascontiguousarray(lab[sl]), aff)


def test_export_gives_nnunet_consecutive_ids_and_maps_back(tmp_path: Path) -> None:
    import json

    from headtwin_app.core.labels import LabelTable, default_label_table
    from headtwin_app.core.seg.nnunet_backend import _prediction_lut
    from headtwin_app.core.seg.nnunet_dataset import export_nnunet_dataset
    from headtwin_app.core.volume import Volume

    twin = default_label_table().layer("twin")
    img = Volume.from_spacing(np.zeros((4, 4, 4), np.float32))
    lab = np.zeros((4, 4, 4), np.int16)
    lab[0], lab[1] = 3, 8
    folder = export_nnunet_dataset([("a", img, img.with_data(lab))], tmp_path, 7, "T",
                                   LabelTable([twin[3], twin[8]]))
    meta = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    assert meta["labels"] == {"background": 0, "tmj_articular_discs": 1, "eyeballs": 2}
    import nibabel as nib

    written = np.asarray(nib.load(str(folder / "labelsTr" / "a.nii.gz")).dataobj)
    assert set(np.unique(written).tolist()) == {0, 1, 2}
    assert np.array_equal(_prediction_lut(meta)[written], lab)


def test_nnunet_missing_model(tmp_path: Path) -> None:
    from headtwin_app.core.volume import Volume

    img = Volume.from_spacing(np.zeros((8, 8, 8), np.float32))
    with pytest.raises(ValueError, match="no nnU-Net model"):
        get_backend("nnunet").predict(img)
    with pytest.raises(ValueError, match="no trained nnU-Net model"):
        get_backend("nnunet", model=tmp_path).predict(img)
    empty = [TrainingCase("a", img, img.with_data(np.zeros((8, 8, 8), np.int16)))]
    with pytest.raises(ValueError, match="no labelled structure"):
        next(iter(get_backend("nnunet").train(empty, tmp_path)))
    with pytest.raises(ValueError, match="at least 5 cases"):
        next(iter(get_backend("nnunet", fold=0).train(
            [TrainingCase("a", img, img.with_data(np.zeros((8, 8, 8), np.int16)))], tmp_path)))
