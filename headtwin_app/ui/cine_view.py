"""Cine views: a player for image sequences (nt, ny, nx) and a k-t mask panel.

`CinePlayer` shows one frame of one or more sequences side by side under one set of controls:
Play/Pause (Space), a frame slider (← / → step, Home / End), and the speed in frames per
second. `KtMaskView` shows a k-t mask (nt, ny, nx) as a ky × t image, the current frame's
(ky, kx) mask and the mask's x-f point-spread function with its peak sidelobe.

Display only: masks, PSFs and sidelobes come from `headtwin_app.core.kt_masks`; images are shown
as they are (magnitudes of complex sequences).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

BORDER = pg.mkPen("#3a3a3a")


def _magnitude(seq: np.ndarray) -> np.ndarray:
    """What a view shows of a sequence: its magnitude as float32."""
    arr = np.asarray(seq)
    if np.iscomplexobj(arr):
        arr = np.abs(arr)
    return np.asarray(arr, dtype=np.float32)


class _FrameView:
    """A titled view box with one (ny, nx) image, rows down (anterior up as stored)."""

    def __init__(self, glw: pg.GraphicsLayoutWidget, col: int, title: str) -> None:
        self.title = title
        self.label = glw.addLabel(title, row=0, col=col, size="9pt")
        self.label.setMinimumWidth(10)
        self.label.setMaximumWidth(10000)
        self.view = glw.addViewBox(row=1, col=col, lockAspect=True, enableMenu=False,
                                   border=BORDER)
        self.view.invertY(True)
        self.item = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.item)
        self.seq: np.ndarray | None = None
        self.levels: tuple[float, float] = (0.0, 1.0)
        self._shape: tuple[int, ...] | None = None

    def set_sequence(self, seq: np.ndarray | None, title: str | None,
                     levels: tuple[float, float] | None) -> None:
        if title is not None:
            self.title = title
            self.label.setText(title, size="9pt")
        self.seq = None if seq is None else _magnitude(seq)
        if self.seq is not None:
            if levels is None:
                top = float(np.percentile(self.seq, 99.5)) if self.seq.size else 1.0
                levels = (0.0, top if top > 0 else 1.0)
            self.levels = levels
        else:
            self.item.clear()
            self._shape = None

    def show(self, frame: int) -> None:
        if self.seq is None:
            return
        image = self.seq[min(frame, len(self.seq) - 1)]
        self.item.setImage(image, levels=self.levels, autoLevels=False)
        if image.shape != self._shape:
            self._shape = image.shape
            self.view.autoRange(padding=0.02)


class CinePlayer(QWidget):
    """One or more sequences side by side, one frame at a time, under one set of controls."""

    frame_changed = Signal(int)

    def __init__(self, titles: Sequence[str] = ("cine",), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.ci.setSpacing(2)
        self.views = [_FrameView(self.glw, col, title) for col, title in enumerate(titles)]
        for col in range(len(self.views)):  # equal columns whatever the titles' lengths
            self.glw.ci.layout.setColumnStretchFactor(col, 1)
            self.glw.ci.layout.setColumnPreferredWidth(col, 200)
            self.glw.ci.layout.setColumnMinimumWidth(col, 60)
        self.timer = QTimer(self)
        self.timer.timeout.connect(lambda: self.step(1))

        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("play / pause the cine  (Space)")
        self.play_button.toggled.connect(self._on_play)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setToolTip("frame  (← / → step, Home / End)")
        self.slider.valueChanged.connect(self._on_frame)
        self.frame_label = QLabel("frame –")
        self.frame_label.setMinimumWidth(96)
        self.fps = QSpinBox()
        self.fps.setRange(1, 60)
        self.fps.setValue(10)
        self.fps.setSuffix(" fps")
        self.fps.setToolTip("playback speed, frames per second")
        self.fps.valueChanged.connect(self._on_fps)
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self.play_button)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.frame_label)
        controls.addWidget(self.fps)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.glw, 1)
        layout.addLayout(controls)
        self._shortcuts()
        self._update_enabled()

    def _shortcuts(self) -> None:
        def key(seq: QKeySequence | Qt.Key, slot: Callable[[], Any]) -> None:
            sc = QShortcut(QKeySequence(seq), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(slot)

        key(Qt.Key.Key_Space, self.toggle)
        key(Qt.Key.Key_Right, lambda: self.step(1))
        key(Qt.Key.Key_Left, lambda: self.step(-1))
        key(Qt.Key.Key_Home, lambda: self.set_frame(0))
        key(Qt.Key.Key_End, lambda: self.set_frame(self.frames() - 1))

    # ----------------------------------------------------------------------------- content
    def set_sequence(self, index: int, seq: np.ndarray | None, title: str | None = None,
                     levels: tuple[float, float] | None = None) -> None:
        """Show `seq` (nt, ny, nx; complex: its magnitude) in view `index` (None: empty);
        `levels` default to 0 … its 99.5th percentile."""
        if seq is not None and np.ndim(seq) != 3:
            raise ValueError(f"a cine is (frames, ny, nx); got shape {np.shape(seq)}")
        view = self.views[index]
        view.set_sequence(seq, title, levels)
        n = self.frames()
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(n - 1, 0))
        self.slider.blockSignals(False)
        if n == 0:
            self.pause()
        self._update_enabled()
        self._show()

    def clear(self) -> None:
        for i in range(len(self.views)):
            self.set_sequence(i, None)

    def frames(self) -> int:
        """The number of frames of the longest sequence shown (0: none)."""
        return max((len(v.seq) for v in self.views if v.seq is not None), default=0)

    def has_image(self, index: int) -> bool:
        return self.views[index].item.image is not None

    def levels(self, index: int) -> tuple[float, float]:
        return self.views[index].levels

    # ----------------------------------------------------------------------------- playing
    def frame(self) -> int:
        return self.slider.value()

    def set_frame(self, frame: int) -> None:
        n = self.frames()
        if n:
            self.slider.setValue(int(frame) % n)

    def step(self, delta: int) -> None:
        """The next (or previous) frame, wrapping around the cycle."""
        self.set_frame(self.frame() + delta)

    def toggle(self) -> None:
        self.play_button.toggle()

    def play(self) -> None:
        self.play_button.setChecked(True)

    def pause(self) -> None:
        self.play_button.setChecked(False)

    def is_playing(self) -> bool:
        return self.timer.isActive()

    def _on_play(self, playing: bool) -> None:
        if playing and self.frames() < 2:
            self.play_button.setChecked(False)
            return
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            self.timer.start(int(round(1000 / self.fps.value())))
        else:
            self.timer.stop()

    def _on_fps(self, fps: int) -> None:
        if self.timer.isActive():
            self.timer.setInterval(int(round(1000 / fps)))

    def _on_frame(self, value: int) -> None:
        self._show()
        self.frame_changed.emit(value)

    def _show(self) -> None:
        n = self.frames()
        f = self.frame()
        self.frame_label.setText(f"frame {f + 1} / {n}" if n else "frame –")
        for view in self.views:
            view.show(f)

    def _update_enabled(self) -> None:
        has = self.frames() > 0
        for w in (self.play_button, self.slider):
            w.setEnabled(has)

    def hideEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        """Hidden (its dialog closed, another tab shown): the cine pauses."""
        self.pause()
        super().hideEvent(event)


class KtMaskView(QWidget):
    """A k-t mask as a ky × t image, one frame's (ky, kx) mask and its x-f PSF."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.ci.setSpacing(4)
        self.kt_plot = self._plot(0, "k-t sampling (white = sampled)", "t (frame)", "ky")
        self.frame_plot = self._plot(1, "frame 1: (ky, kx)", "kx", "ky", lock=True)
        self.psf_plot = self._plot(2, "x-f PSF (|·|, log scale)", "f (cycles per cine)", "y")
        self.kt_item = self._image(self.kt_plot, None)
        self.frame_item = self._image(self.frame_plot, None)
        self.psf_item = self._image(self.psf_plot, "inferno")
        self.psf_bar = pg.ColorBarItem(values=(-3, 0), colorMap=pg.colormap.get("inferno"),
                                       interactive=False, width=12, label="log₁₀ PSF")
        self.psf_bar.setImageItem(self.psf_item, insert_in=self.psf_plot)
        for col, stretch in enumerate((3, 2, 3)):
            self.glw.ci.layout.setColumnStretchFactor(col, stretch)
            self.glw.ci.layout.setColumnPreferredWidth(col, 100 * stretch)
        self.info = QLabel("no mask")
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.TextFormat.RichText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.glw, 1)
        layout.addWidget(self.info)
        self.mask: np.ndarray | None = None
        self.psf: np.ndarray | None = None
        self.sidelobe: float | None = None
        self._frame = 0

    def _plot(self, col: int, title: str, bottom: str, left: str,
              lock: bool = False) -> pg.PlotItem:
        plot = self.glw.addPlot(row=0, col=col, title=title)
        plot.titleLabel.setText(title, size="9pt")
        plot.setLabel("bottom", bottom)
        plot.setLabel("left", left)
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.invertY(True)
        if lock:
            plot.setAspectLocked(True)
        return plot

    @staticmethod
    def _image(plot: pg.PlotItem, cmap: str | None) -> pg.ImageItem:
        item = pg.ImageItem(axisOrder="row-major")
        if cmap:
            item.setColorMap(pg.colormap.get(cmap))
        plot.addItem(item)
        return item

    def set_mask(self, mask: np.ndarray | None, psf: np.ndarray | None = None,
                 sidelobe: float | None = None, accel: float | None = None,
                 title: str = "") -> None:
        """Show `mask` (bool nt, ny, nx), its x-f PSF (nf, ny, peak 1), the PSF's peak sidelobe
        and the achieved acceleration (None: nothing shown)."""
        self.mask = None if mask is None else np.asarray(mask, dtype=bool)
        self.psf = None if psf is None else np.asarray(psf, dtype=np.float32)
        self.sidelobe = sidelobe
        if self.mask is None:
            for item in (self.kt_item, self.frame_item, self.psf_item):
                item.clear()
            self.info.setText("no mask")
            return
        nt, ny, nx = self.mask.shape
        # ky × t: the share of each (frame, ky) row that is sampled (1 or 0 for Cartesian)
        kt = self.mask.mean(axis=2, dtype=np.float32).T
        y0, x0 = -(ny // 2) - 0.5, -(nx // 2) - 0.5  # ky = 0, kx = 0 at index n // 2
        self.kt_item.setImage(kt, levels=(0.0, 1.0), autoLevels=False)
        self.kt_item.setRect(-0.5, y0, nt, ny)
        self.kt_plot.setRange(xRange=(-0.5, nt - 0.5), yRange=(y0, y0 + ny), padding=0)
        self.frame_item.setRect(x0, y0, nx, ny)
        self.frame_plot.setRange(xRange=(x0, x0 + nx), yRange=(y0, y0 + ny), padding=0)
        self._frame = min(self._frame, nt - 1)
        self.show_frame(self._frame)
        if self.psf is not None:
            nf, npy = self.psf.shape
            f0, py0 = -(nf // 2) - 0.5, -(npy // 2) - 0.5  # f = 0, y = 0 at index n // 2
            shown = np.log10(np.maximum(self.psf.T, 1e-3))  # rows y, columns f
            self.psf_item.setImage(shown, levels=(-3.0, 0.0), autoLevels=False)
            self.psf_item.setRect(f0, py0, nf, npy)
            self.psf_plot.setRange(xRange=(f0, f0 + nf), yRange=(py0, py0 + npy), padding=0)
        else:
            self.psf_item.clear()
        parts = [title] if title else []
        if accel is not None:
            parts.append(f"R achieved <b>{accel:.2f}</b>")
        if sidelobe is not None:
            db = 20 * math.log10(sidelobe) if sidelobe > 0 else -math.inf
            parts.append(f"PSF peak sidelobe <b>{sidelobe:.3f}</b> ({db:.1f} dB)")
        parts.append(f"{nt} frames × {ny} ky × {nx} kx")
        self.info.setText(" &nbsp;·&nbsp; ".join(parts))

    def show_frame(self, frame: int) -> None:
        """The (ky, kx) mask of `frame` in the middle panel."""
        self._frame = max(int(frame), 0)
        if self.mask is None:
            return
        f = min(self._frame, len(self.mask) - 1)
        self.frame_item.setImage(self.mask[f].astype(np.float32), levels=(0.0, 1.0),
                                 autoLevels=False)
        self.frame_plot.titleLabel.setText(f"frame {f + 1}: (ky, kx)", size="9pt")

    def has_images(self) -> bool:
        return all(item.image is not None for item in (self.kt_item, self.psf_item))
