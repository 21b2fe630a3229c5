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
    try:
        from vtkmodules.util.numpy_support import vtk_to_numpy
        from vtkmodules.vtkRenderingCore import vtkWindowToImageFilter
    except ImportError:
        return None
    window = widget.GetRenderWindow()  # type: ignore[attr-defined]
    window.Render()
    grab = vtkWindowToImageFilter()
    grab.SetInput(window)
    grab.SetInputBufferTypeToRGB()
    grab.ReadFrontBufferOff()
    grab.Update()
    out = grab.GetOutput()
    w, h, _ = out.GetDimensions()
    if w == 0 or h == 0:
        return None
    pixels = vtk_to_numpy(out.GetPointData().GetScalars()).reshape(h, w, 3)[::-1].copy()
    image = QImage(pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return image.copy()


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
