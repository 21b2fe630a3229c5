"""Atlas brain model end to end on a coarse phantom: layers on the input grid, sensible overlap."""

from __future__ import annotations

import numpy as np
import pytest

from headtwin_app.core.seg import get_backend
from headtwin_app.core.seg.atlas import AtlasBrainBackend
from headtwin_app.core.seg.evaluate import dice_report
from headtwin_app.core.volume import Volume


@pytest.fixture(scope="module")
def phantom4():  # type: ignore[no-untyped-def]
    from headtwin_app.core.phantom import make_phantom

    return make_phantom(3, spacing=3.0)


@pytest.mark.slow
def test_atlas_layers_on_phantom(phantom4) -> None:  # type: ignore[no-untyped-def]
    be = get_backend("atlas")
    assert be.name == "atlas"
    lay = be.predict_layers(phantom4.image)
    for vol in lay.as_dict().values():
        assert vol.shape == phantom4.image.shape
        assert np.array_equal(vol.affine, phantom4.image.affine)
    assert set(np.unique(lay.tissue.data)) <= {0, 21, 22, 23}
    hemi = dice_report(phantom4.brain_hemispheres.data, lay.hemispheres.data)
    assert min(hemi["dice"].values()) > 0.85
    tissue = dice_report(phantom4.brain_tissue.data, lay.tissue.data)
    assert tissue["dice"]["white_matter"] > 0.6 and tissue["dice"]["gray_matter"] > 0.5
    assert (lay.regions.data >= 100).sum() > 0.5 * (phantom4.brain_regions.data >= 100).sum()
    # the brain mask covers the tissue and is the cavity the fusion rule uses
    assert np.all(lay.mask.data[lay.tissue.data > 0] == 1)


def test_atlas_rejects_tiny_and_training() -> None:
    be = AtlasBrainBackend()
    with pytest.raises(ValueError, match="too small"):
        be.predict(Volume.from_spacing(np.zeros((4, 4, 4), np.float32)))
    with pytest.raises(ValueError, match="nothing to train"):
        next(iter(be.train([], "x")))


def test_unknown_backend() -> None:
    with pytest.raises(ValueError, match="unknown segmentation backend"):
        get_backend("magic")
