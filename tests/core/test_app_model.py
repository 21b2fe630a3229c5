"""The Qt-free application model: layers, events, a reconstruction as the case image."""

from __future__ import annotations

import numpy as np
import pytest

from headtwin_app.core.app_model import AppModel, Layer
from headtwin_app.core.case import Case
from headtwin_app.core.volume import Volume


def case(name: str = "head") -> Case:
    image = Volume.from_spacing(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    labels = image.with_data(np.ones((2, 3, 4), np.int16))
    return Case(image, name=name, labels=labels, brain={"tissue": labels}, source=None)


def recorded(model: AppModel) -> list[tuple[str, object]]:
    events: list[tuple[str, object]] = []
    for name in ("case_changed", "layer_added", "layer_changed", "layer_removed",
                 "labels_changed", "mask_changed", "status"):
        getattr(model, name).connect(lambda value, n=name: events.append((n, value)))
    return events


def test_set_case_builds_image_labels_and_brain_layers() -> None:
    model = AppModel()
    events = recorded(model)
    c = case()
    model.set_case(c)
    assert [lay.name for lay in model.layers()] == ["image", "labels", "brain tissue"]
    assert model.layer("image").volume is c.image
    assert [lay.name for lay in model.layers("brain")] == ["brain tissue"]
    assert events == [("case_changed", c)]


def test_add_replace_remove_emit_one_event_each() -> None:
    model = AppModel()
    model.set_case(case())
    events = recorded(model)
    vol = model.case.image.with_data(np.zeros((2, 3, 4), np.float32))
    first = model.add_layer(Layer("zf recon", "recon", vol, {"method": "zf"}))
    second = model.add_layer(Layer("zf recon", "recon", vol, {"method": "zf", "psnr": 30.0}))
    removed = model.remove_layer("zf recon")
    assert events == [("layer_added", first), ("layer_changed", second),
                      ("layer_removed", removed)]
    with pytest.raises(KeyError, match="no layer named 'zf recon'"):
        model.layer("zf recon")


def test_layer_checks_kind_and_data() -> None:
    vol = Volume.from_spacing(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="kind"):
        Layer("x", "photo", vol)
    with pytest.raises(ValueError, match="mask layer holds a dict"):
        Layer("mask", "mask", vol)
    with pytest.raises(ValueError, match="not a volume"):
        _ = Layer("mask", "mask", {"mask": np.ones((2, 2))}).volume


def test_labels_and_mask_events() -> None:
    model = AppModel()
    model.set_case(case())
    events = recorded(model)
    model.set_labels(None)
    assert model.case.labels is None and not model.layers("labels")
    assert events[-1] == ("labels_changed", None)
    record = {"mask": np.ones((3, 2), bool), "family": "cartesian", "accel": 4.0}
    model.set_mask(record)
    assert model.mask is record and events[-1] == ("mask_changed", record)
    assert model.layer("mask").meta["family"] == "cartesian"
    model.set_case(case("other"))  # the designer's mask outlives the case
    assert model.layer("mask").data is record


def test_use_as_case_image_keeps_recons_and_drops_derived_layers() -> None:
    model = AppModel()
    model.set_case(case("head"))
    old = model.case
    rec = old.image.with_data(old.image.data * 2.0)
    model.add_layer(Layer("cascade recon", "recon", rec, {"method": "cascade", "case": "head"}))
    model.add_layer(Layer("zf recon", "recon", old.image, {"method": "zf", "case": "head"}))
    model.add_layer(Layer("proposal", "proposal", old.labels))
    model.set_mask({"mask": np.ones((3, 2), bool)})
    events = recorded(model)
    new = model.use_as_case_image("cascade recon")
    assert new.image is rec and new.name == "head (cascade recon)" and new.labels is None
    assert model.case is new and events == [("case_changed", new)]
    assert [lay.name for lay in model.layers()] == ["image", "cascade recon", "zf recon", "mask"]
    assert model.layer("image").volume is rec
    # switching to another reconstruction does not stack the suffixes
    assert model.use_as_case_image("zf recon").name == "head (zf recon)"


def test_use_as_case_image_refuses_other_kinds_and_grids() -> None:
    model = AppModel()
    with pytest.raises(KeyError):
        model.use_as_case_image("nothing")
    model.set_case(case())
    with pytest.raises(ValueError, match="only a reconstruction"):
        model.use_as_case_image("labels")
    one_slice = Volume.from_spacing(np.zeros((2, 3, 1), np.float32))
    model.add_layer(Layer("cs recon", "recon", one_slice))
    with pytest.raises(ValueError, match="every slice"):
        model.use_as_case_image("cs recon")


def test_twin_layers_replace_labels_and_brain_keep_reconstructions() -> None:
    model = AppModel()
    c = case()
    model.set_case(c)
    recon = c.image.with_data(c.image.data * 2)
    model.add_layer(Layer("cs recon", "recon", recon, {"method": "cs"}))
    events = recorded(model)
    labels = c.image.with_data(np.full((2, 3, 4), 8, np.int16))
    tissue = c.image.with_data(np.full((2, 3, 4), 22, np.int16))
    new = model.set_twin_layers(labels, {"tissue": tissue, "mask": tissue})
    assert new.image is c.image and new.labels is labels and new.brain == {"tissue": tissue}
    assert [lay.name for lay in model.layers()] == ["image", "cs recon", "labels",
                                                   "brain tissue"]
    assert events == [("case_changed", new)]
    with pytest.raises(ValueError, match="no case"):
        AppModel().set_twin_layers(labels, {})
