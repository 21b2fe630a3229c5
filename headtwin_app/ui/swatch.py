"""A small colour square icon for label lists."""

from __future__ import annotations

from PySide6.QtGui import QColor, QIcon, QPixmap


def swatch(rgb: tuple[int, int, int], size: int = 14) -> QIcon:
    pix = QPixmap(size, size)
    pix.fill(QColor(*rgb))
    return QIcon(pix)
