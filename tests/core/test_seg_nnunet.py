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
        ph = make_phantom(seed, spacing=4.0)
        # the head below the vertex, where all 12 structures are: smaller, faster to train
        cases.append(TrainingCase(f"case{seed}", *_crop(ph.image, ph.labels)))
    be = get_backend("nnunet", device="cpu")
    steps = list(be.train(cases, tmp_path / "project", epochs=EPOCHS, iterations=ITERATIONS))
    assert all(isinstance(p, Progress) for p in steps)
    assert [p.stage for p in steps][:4] == ["export", "plan", "preprocess", "train"]
    assert (tmp_path / "project" / "nnUNet_raw" / "Dataset501_HeadTwin" / "dataset.json").exists()

    predictor = get_backend("nnunet", model=tmp_path / "project", device="cpu")
    image = cases[0].image
    pred = predictor.predict(image)
    assert pred.shape == image.shape and np.array_equal(pred.affine, image.affine)
    # A handful of iterations cannot learn all 12 structures; the pipeline and the label set are
    # what this checks (the label ids the model may emit are the trained ones).
    trained = {int(i) for c in cases for i in np.unique(c.labels.data)}
    assert set(np.unique(pred.data).tolist()) <= trained
    assert predictor.describe()["labels"]["skull"] == 1


EPOCHS, ITERATIONS = 2, 5


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


def test_nnunet_missing_model(tmp_path: Path) -> None:
    from headtwin_app.core.volume import Volume

    img = Volume.from_spacing(np.zeros((8, 8, 8), np.float32))
    with pytest.raises(ValueError, match="no nnU-Net model"):
        get_backend("nnunet").predict(img)
    with pytest.raises(ValueError, match="no trained nnU-Net model"):
        get_backend("nnunet", model=tmp_path).predict(img)
    with pytest.raises(ValueError, match="at least 5 cases"):
        next(iter(get_backend("nnunet", fold=0).train(
            [TrainingCase("a", img, img.with_data(np.zeros((8, 8, 8), np.int16)))], tmp_path)))
