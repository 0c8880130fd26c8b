"""The frame view: the endoscopic image with overlay layers, a verdict badge and zoom/pan.

It only displays what it is given (a frame and a prediction); it never decodes or predicts.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from . import theme
from .overlay_items import Boxes, Contour, GroundTruth, Heatmap, Layer, MaskFill

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)


class FrameView(QWidget):
    """Image + overlays in a locked-aspect ViewBox (mouse wheel zooms, drag pans)."""

    layer_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.graphics = pg.GraphicsView(background=theme.BACKGROUND)
        self.vb = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.graphics.setCentralItem(self.vb)
        self.image_item = pg.ImageItem()
        self.image_item.setZValue(0)
        self.vb.addItem(self.image_item)
        self.layers: dict[str, Layer] = {}
        for i, cls in enumerate((Heatmap, MaskFill, Contour, GroundTruth, Boxes)):
            layer = cls(self.vb, z=10 + i * 10)
            self.layers[layer.name] = layer
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.graphics)

        self.badge = QLabel(self.graphics)
        self.badge.setObjectName("badge")
        self.badge.move(12, 12)
        self.badge.hide()
        self.info = QLabel(self.graphics)
        self.info.setObjectName("viewinfo")  # on a dark plate: readable over bright mucosa
        self.message = QLabel(self.graphics)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {theme.MUTED}; font-size: 15px;")
        self.set_message("Open an image, folder, dataset or video (Ctrl+O), or drop it here.")

        self.frame: np.ndarray | None = None
        self.prediction = None
        self.ids: list[int] | None = None
        self._shape: tuple[int, int] | None = None

    # --- content -----------------------------------------------------------------------------
    def set_frame(self, rgb: np.ndarray, gt_mask: np.ndarray | None = None) -> None:
        self.frame = rgb
        self.image_item.setImage(rgb, autoLevels=False, levels=(0, 255))
        self.layers["gt"].update(gt_mask)
        shape = rgb.shape[:2]
        if shape != self._shape:
            self._shape = shape
            self.fit()
        self.message.hide()

    def set_prediction(self, pred, ids: list[int] | None = None) -> None:
        """Show a FramePrediction (or None: model not run for this frame yet)."""
        self.prediction, self.ids = pred, ids
        self.layers["mask"].update(None if pred is None else pred.mask)
        self.layers["contour"].update(None if pred is None else pred.mask)
        self.layers["boxes"].update(None if pred is None else pred.instances, ids)
        self._update_badge()

    def set_heatmap(self, heat: np.ndarray | None) -> None:
        self.layers["gradcam"].update(heat)

    def set_info(self, text: str) -> None:
        self.info.setText(text)
        self.info.adjustSize()
        self._place()

    def set_message(self, text: str | None) -> None:
        """A centred note for empty/failed states (no file, no model)."""
        if not text:
            self.message.hide()
            return
        self.message.setText(text)
        self.message.show()
        self._place()

    def clear(self) -> None:
        self.frame = None
        self._shape = None
        self.image_item.clear()
        self.set_prediction(None)
        self.set_heatmap(None)
        self.layers["gt"].update(None)
        self.badge.hide()

    def badge_text(self) -> str:
        return self.badge.text() if self.badge.isVisible() else ""

    def _update_badge(self) -> None:
        pred = self.prediction
        if pred is None:
            self.badge.hide()
            return
        n = pred.count
        positive = pred.frame_positive or n > 0
        if positive:
            count = f"  ·  {n} polyp{'s' if n != 1 else ''}" if n else ""
            text, colour = f"Polyp · {pred.frame_prob:.2f}{count}", theme.POSITIVE
        else:
            text, colour = "No polyp", theme.NEGATIVE
        self.badge.setText(text)
        self.badge.setStyleSheet(f"color: {colour};")
        self.badge.adjustSize()
        self.badge.show()

    # --- layers and view ---------------------------------------------------------------------
    def set_layer_visible(self, name: str, on: bool) -> None:
        self.layers[name].set_visible(on)
        self.layer_changed.emit(name)

    def set_layer_opacity(self, name: str, value: float) -> None:
        self.layers[name].set_opacity(value)
        self.layer_changed.emit(name)

    def fit(self) -> None:
        if self._shape is not None:
            h, w = self._shape
            self.vb.setRange(xRange=(0, w), yRange=(0, h), padding=0.01)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._place()

    def _place(self) -> None:
        w, h = self.graphics.width(), self.graphics.height()
        self.info.move(max(0, w - self.info.width() - 12), 12)
        self.message.setFixedWidth(max(200, w - 80))
        self.message.adjustSize()
        self.message.move((w - self.message.width()) // 2, (h - self.message.height()) // 2)
