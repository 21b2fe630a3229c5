"""The application model: the open case and its layers, with events every workspace subscribes to.

Qt-free (psygnal, as napari's models are), so core, CLI and their tests use it headless; the GUI
relays its events to Qt in `ui/state.py`. Events are emitted after each committed change, on the
thread that made the change (in the GUI: the GUI thread, results come back through the job runner).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from psygnal import Signal

from headtwin_app.core.case import BRAIN_LAYERS, Case
from headtwin_app.core.volume import Volume

LAYER_KINDS = ("image", "mask", "recon", "labels", "proposal", "brain", "twin")
# layers computed from the case image: they go when another image becomes the case image
IMAGE_DERIVED = ("image", "labels", "proposal", "brain", "twin")
_RECON_SUFFIX = re.compile(r"\s*\([^()]*recon\)$")


@dataclass
class Layer:
    """One named thing shown or computed for the case.

    Args:
        name: unique within the model, e.g. "image", "cascade recon", "brain tissue".
        kind: one of LAYER_KINDS.
        data: a Volume on the case grid; for a "mask" layer the designer's mask record (dict).
        meta: provenance such as method, family, accel, psnr.
    """

    name: str
    kind: str
    data: Volume | dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in LAYER_KINDS:
            raise ValueError(f"layer kind must be one of {LAYER_KINDS}, got {self.kind!r}")
        want = dict if self.kind == "mask" else Volume
        if not isinstance(self.data, want):
            raise ValueError(f"a {self.kind} layer holds a {want.__name__}, "
                             f"got {type(self.data).__name__}")

    @property
    def volume(self) -> Volume:
        """The layer's Volume (every kind but "mask")."""
        if not isinstance(self.data, Volume):
            raise ValueError(f"layer {self.name!r} is a {self.kind}, not a volume")
        return self.data


class AppModel:
    """The open case plus an ordered dict of layers; emits after every change.

    Events: case_changed(Case) — a new case, its layers rebuilt (re-read `layers()`);
    layer_added / layer_changed / layer_removed(Layer); labels_changed(Volume | None) — the
    case's label map replaced; mask_changed(dict | None); status(str) — a one-line message.
    """

    case_changed = Signal(object)
    layer_added = Signal(object)
    layer_changed = Signal(object)
    layer_removed = Signal(object)
    labels_changed = Signal(object)
    mask_changed = Signal(object)
    status = Signal(str)

    def __init__(self) -> None:
        self.case: Case | None = None
        self.mask: dict[str, Any] | None = None
        self._layers: dict[str, Layer] = {}

    # --- case -----------------------------------------------------------------------------
    def set_case(self, case: Case) -> None:
        """Open `case`: its image, labels and brain layers replace every layer but the mask."""
        self._replace_case(case, keep=("mask",))

    def _replace_case(self, case: Case, keep: tuple[str, ...]) -> None:
        self.case = case
        kept = {n: lay for n, lay in self._layers.items() if lay.kind in keep}
        self._layers = {"image": Layer("image", "image", case.image, {"case": case.name}), **kept}
        if case.labels is not None:
            self._layers["labels"] = Layer("labels", "labels", case.labels)
        for key in BRAIN_LAYERS:
            if key in case.brain:
                self._layers[f"brain {key}"] = Layer(f"brain {key}", "brain", case.brain[key])
        self.case_changed.emit(case)

    def use_as_case_image(self, name: str) -> Case:
        """Make the reconstruction layer `name` the case image: a new Case on the same grid,
        named "<case> (<layer>)"; labels, proposal, brain and twin layers of the old image go,
        the reconstructions and the mask stay."""
        layer = self.layer(name)
        if layer.kind != "recon":
            raise ValueError(f"only a reconstruction can become the case image, "
                             f"{name!r} is a {layer.kind}")
        old = self.case
        if old is None:
            raise ValueError("no case is open")
        if layer.volume.shape != old.image.shape:
            raise ValueError(f"{name!r} has shape {layer.volume.shape}, the case image "
                             f"{old.image.shape}: reconstruct every slice first")
        base = _RECON_SUFFIX.sub("", str(layer.meta.get("case", old.name)))
        case = Case(image=layer.volume, name=f"{base} ({name})", source=old.source)
        self._replace_case(case, keep=tuple(k for k in LAYER_KINDS if k not in IMAGE_DERIVED))
        return case

    # --- labels and mask ----------------------------------------------------------------------
    def set_labels(self, labels: Volume | None) -> None:
        """Replace the case's label map (None: no labels) and its "labels" layer."""
        if self.case is not None:
            self.case.labels = labels
        if labels is None:
            if "labels" in self._layers:
                self.remove_layer("labels")
        else:
            self.add_layer(Layer("labels", "labels", labels))
        self.labels_changed.emit(labels)

    def set_twin_layers(self, labels: Volume, brain: dict[str, Volume]) -> Case:
        """The twin built from the case image: its craniofacial/CNS labels and brain layers
        replace the old ones (case_changed, so every workspace re-reads the case); the
        reconstructions and the mask stay."""
        old = self.case
        if old is None:
            raise ValueError("no case is open")
        case = Case(image=old.image, name=old.name, labels=labels,
                    brain={k: v for k, v in brain.items() if k in BRAIN_LAYERS},
                    source=old.source)
        self._replace_case(case, keep=tuple(k for k in LAYER_KINDS if k not in IMAGE_DERIVED))
        return case

    def set_mask(self, mask: dict[str, Any]) -> None:
        """The designer's current mask record: {"mask": ndarray, "family", "accel", ...}."""
        self.mask = mask
        meta = {k: mask.get(k) for k in ("family", "accel", "seed", "dims")}
        self.add_layer(Layer("mask", "mask", mask, meta))
        self.mask_changed.emit(mask)

    # --- layers -------------------------------------------------------------------------------
    def add_layer(self, layer: Layer) -> Layer:
        """Add `layer`, or replace the layer of the same name (layer_changed)."""
        replaced = layer.name in self._layers
        self._layers[layer.name] = layer
        (self.layer_changed if replaced else self.layer_added).emit(layer)
        return layer

    def remove_layer(self, name: str) -> Layer:
        layer = self.layer(name)
        del self._layers[name]
        self.layer_removed.emit(layer)
        return layer

    def layer(self, name: str) -> Layer:
        try:
            return self._layers[name]
        except KeyError:
            raise KeyError(f"no layer named {name!r} (have: {list(self._layers)})") from None

    def layers(self, kind: str | None = None) -> list[Layer]:
        """The layers in insertion order, optionally only one kind."""
        return [lay for lay in self._layers.values() if kind is None or lay.kind == kind]
