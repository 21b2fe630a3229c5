"""Window screenshots that include VTK content: Qt's grab() misses OpenGL surfaces, so each VTK
render window is read back through VTK and painted into the grabbed image at its place."""

from __future__ import annotations

from PySide6.QtCore import QPoint
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QWidget


def _vtk_widgets(root: QWidget) -> list[QWidget]:
    return [w for w in root.findChildren(QWidget)
            if hasattr(w, "GetRenderWindow") and w.isVisible()]


def _vtk_image(widget: QWidget) -> QImage | None:
    """The VTK render window's pixels as a QImage (None if it cannot be read)."""
    from headtwin_app.render.offscreen import capture

    pixels = capture(widget.GetRenderWindow())  # type: ignore[attr-defined]
    h, w = pixels.shape[:2]
    if w == 0 or h == 0:
        return None
    return QImage(pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def grab_window(window: QWidget) -> QImage:
    """A QImage of the whole window with every visible VTK view composited in."""
    image = window.grab().toImage()
    painter = QPainter(image)
    ratio = image.devicePixelRatio() or 1.0
    for widget in _vtk_widgets(window):
        pix = _vtk_image(widget)
        if pix is None:
            continue
        top_left: QPoint = widget.mapTo(window, QPoint(0, 0))
        target = widget.rect().translated(top_left)
        painter.drawImage(target, pix.scaled(int(target.width() * ratio),
                                             int(target.height() * ratio)))
    painter.end()
    return image
