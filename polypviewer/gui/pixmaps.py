"""RGB arrays to Qt pixmaps: the one conversion thumbnails, previews and comparisons share."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap


def rgb_pixmap(rgb: np.ndarray, side: int) -> QPixmap:
    """(H, W, 3+) uint8 RGB -> pixmap fitted into ``side`` x ``side``, aspect kept."""
    rgb = np.ascontiguousarray(rgb[..., :3])
    h, w = rgb.shape[:2]
    img = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(img).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation)
