"""The layer panel: the app model's volume layers (case image, reconstructions, labels, ...) and
what a user does with one — use a reconstruction as the case image, segment it, build its twin,
save any layer. The work itself is the model's and the core's (`core.pipeline.segment_volume`, the
stage `headtwin pipeline` runs); this only collects the choice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from headtwin_app.core.app_model import Layer
from headtwin_app.core.volume import Volume
from headtwin_app.ui.errors import error_text
from headtwin_app.ui.state import AppState

SAVE_FILTER = "NIfTI (*.nii.gz *.nii);;MetaImage / NRRD (*.mha *.nrrd);;NumPy (*.npy)"
NEEDS_RECON = ("select a reconstruction layer: reconstruct with scope 'every slice' to get one "
               "(a single slice cannot become the case image)")


def builtin_labels(image: Volume) -> Any:
    """The `headtwin pipeline` segmentation stage (built-in model), as a generator."""
    from headtwin_app.core.pipeline import PipelineConfig, segment_volume

    return segment_volume(image, PipelineConfig())


def atlas_brain(image: Volume) -> Any:
    """The `headtwin pipeline` brain stage (atlas registration), as a generator."""
    from headtwin_app.core.pipeline import brain_volume

    return brain_volume(image)


class LayerPanel(QGroupBox):
    """A list of the model's volume layers and four actions on the selected one."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__("Layers", parent)
        self.state = state
        # image Volume → generator of progress returning the label Volume (Build twin)
        self.segmenter: Callable[[Volume], Any] = builtin_labels
        # image Volume → generator returning the brain layers (None: no brain in the twin)
        self.brainer: Callable[[Volume], Any] | None = atlas_brain
        self.list = QListWidget()
        self.list.setObjectName("layer-list")
        self.list.setMinimumHeight(60)
        self.use_button = self._button("Use as case image", "use-as-case-image",
                                       self.use_as_case_image)
        self.segment_button = self._button("Segment this reconstruction", "segment-recon",
                                           self.segment)
        self.twin_button = self._button("Build twin", "build-twin", self.build_twin)
        self.save_button = self._button("Save layer as…", "save-layer", self.save_dialog)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: gray; font-size: 9pt;")
        grid = QGridLayout()
        grid.setSpacing(4)
        grid.addWidget(self.use_button, 0, 0)
        grid.addWidget(self.save_button, 0, 1)
        grid.addWidget(self.segment_button, 1, 0, 1, 2)
        grid.addWidget(self.twin_button, 2, 0, 1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.list, 1)
        layout.addLayout(grid)
        layout.addWidget(self.message)
        self.list.currentItemChanged.connect(self._update_buttons)
        state.layers_changed.connect(self.refresh)
        state.jobs.busy_changed.connect(self._update_buttons)
        self.refresh()

    def _button(self, text: str, name: str, slot: Any) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.clicked.connect(lambda _=False: slot())
        return button

    # --- the list ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the model's volume layers, keeping the selection where it still exists."""
        keep = self.current_name()
        self.list.blockSignals(True)
        self.list.clear()
        for layer in self.state.model.layers():
            if layer.kind == "mask":
                continue
            item = QListWidgetItem(self._title(layer))
            item.setData(Qt.ItemDataRole.UserRole, layer.name)
            self.list.addItem(item)
            if layer.name == keep:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self._update_buttons()

    @staticmethod
    def _title(layer: Layer) -> str:
        meta = layer.meta
        if layer.kind != "recon":
            return f"{layer.name}  ({layer.kind})"
        detail = [str(meta[k]) for k in ("family",) if meta.get(k)]
        if meta.get("accel"):
            detail.append(f"R {float(meta['accel']):.2f}")
        if meta.get("psnr") is not None:
            detail.append(f"{float(meta['psnr']):.1f} dB")
        return f"{layer.name}  ({', '.join(detail)})" if detail else layer.name

    def select(self, name: str) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == name:
                self.list.setCurrentRow(row)
                return

    def current_name(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else str(item.data(Qt.ItemDataRole.UserRole))

    def current(self) -> Layer | None:
        name = self.current_name()
        try:
            return None if name is None else self.state.model.layer(name)
        except KeyError:
            return None

    def note(self, text: str) -> None:
        self.message.setText(text)

    def _update_buttons(self, *_: Any) -> None:
        layer = self.current()
        recon = layer is not None and layer.kind == "recon"
        idle = not self.state.jobs.is_busy
        for button in (self.use_button, self.segment_button, self.twin_button):
            button.setEnabled(recon and idle)
            button.setToolTip("" if recon else NEEDS_RECON)
        self.segment_button.setToolTip(
            "make it the case image and request a model proposal in Labelling" if recon
            else NEEDS_RECON)
        self.twin_button.setToolTip(
            "make it the case image, segment it with the built-in model, add the atlas brain "
            "layers and show the 3D twin"
            if recon else NEEDS_RECON)
        self.save_button.setEnabled(layer is not None)

    # --- actions -------------------------------------------------------------------------------
    def use_as_case_image(self) -> bool:
        """The selected reconstruction becomes the case image (every workspace follows)."""
        name = self.current_name()
        if name is None:
            return False
        try:
            case = self.state.model.use_as_case_image(name)
        except (KeyError, ValueError) as exc:
            self.note(str(exc))
            return False
        self.note(f"case image: {case.name}")
        self.state.status.emit(f"The case image is now {case.name}")
        return True

    def segment(self) -> None:
        """Use the reconstruction as the case image, then ask Labelling for a proposal of it."""
        if self.use_as_case_image():
            self.state.show_workspace.emit("labelling")
            self.state.proposal_requested.emit()

    def build_twin(self) -> None:
        """Use the reconstruction as the case image, segment it with the built-in model on the
        job runner, set the labels and show the 3D twin."""
        if not self.use_as_case_image() or self.state.case is None:
            return
        from headtwin_app.core.pipeline import PipelineConfig, twin_layers

        cfg = PipelineConfig(brain=self.brainer is not None)
        self.state.jobs.start("build twin", twin_layers, self.state.case.image, cfg,
                              self.segmenter, self.brainer, on_result=self._built,
                              on_error=self.note)

    def _built(self, result: tuple[Volume, dict[str, Volume]] | None) -> None:
        if result is None:
            return
        labels, brain = result
        case = self.state.model.set_twin_layers(labels, brain)
        self.note(f"twin of {case.name}: craniofacial/CNS labels"
                  + (f" and brain {', '.join(brain)}" if brain else ""))
        self.state.show_workspace.emit("twin")

    def save_dialog(self) -> None:
        name = self.current_name()
        if name is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save layer", f"{name}.nii.gz", SAVE_FILTER)
        if path:
            self.save(path)

    def save(self, path: str | Path) -> Path | None:
        """Write the selected layer (atomic; the format follows the suffix)."""
        from headtwin_app.core.io import save_volume
        from headtwin_app.core.io.grid import to_source_grid

        layer = self.current()
        if layer is None:
            return None
        try:
            case = self.state.case
            vol = layer.volume if case is None else to_source_grid(layer.volume, case.image)
            written = save_volume(vol, path)
        except (OSError, ValueError) as exc:
            self.note(error_text(exc))
            return None
        self.note(f"saved {written}")
        self.state.status.emit(f"Saved {layer.name} to {written}")
        return written
