"""Overlay layers drawn on top of the frame, each a reused pyqtgraph item.

Every update only swaps array data in an existing item (no items created per frame), so
scrubbing and threshold dragging stay smooth. Coordinates are image pixels (x right, y down).
"""

from __future__ import annotations

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor

from . import theme


def contour_path(mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed outlines of a bool mask as x, y and a pyqtgraph ``connect`` array."""
    if mask is None or not mask.any():
        return np.zeros(0), np.zeros(0), np.zeros(0, bool)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    xs, ys, conn = [], [], []
    for c in contours:
        pts = c[:, 0, :].astype(np.float64) + 0.5  # pixel centres
        pts = np.vstack([pts, pts[:1]])
        xs.append(pts[:, 0])
        ys.append(pts[:, 1])
        link = np.ones(len(pts), bool)
        link[-1] = False
        conn.append(link)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(conn)


class Layer:
    """A toggleable overlay with an opacity; subclasses own their graphics items."""

    name = ""
    title = ""
    colour: tuple[int, int, int] = theme.PRED

    def __init__(self, view: pg.ViewBox, z: float):
        self.visible = True
        self.opacity = 1.0
        self.items: list[pg.GraphicsObject] = []
        self.view = view
        self.z = z

    def _add(self, item: pg.GraphicsObject) -> pg.GraphicsObject:
        item.setZValue(self.z)
        self.view.addItem(item)
        self.items.append(item)
        return item

    def set_visible(self, on: bool) -> None:
        self.visible = on
        for it in self.items:
            it.setVisible(on)

    def set_opacity(self, value: float) -> None:
        self.opacity = value
        for it in self.items:
            it.setOpacity(value)


class MaskFill(Layer):
    name, title = "mask", "Predicted polyp (fill)"
    colour = theme.FILL

    def __init__(self, view, z):
        super().__init__(view, z)
        self.item = self._add(pg.ImageItem())
        r, g, b = self.colour
        self.lut = np.array([[0, 0, 0, 0], [r, g, b, 255]], np.uint8)
        self.opacity = 0.35
        self.item.setOpacity(self.opacity)

    def update(self, mask: np.ndarray | None) -> None:
        if mask is None:
            self.item.clear()
            return
        self.item.setImage(mask.view(np.uint8) if mask.dtype == np.bool_ else mask.astype(np.uint8),
                           levels=(0, 1), lut=self.lut, autoLevels=False)


class Contour(Layer):
    name, title = "contour", "Predicted polyp (outline)"

    def __init__(self, view, z, colour=None, style=None, width=2):
        super().__init__(view, z)
        if colour is not None:
            self.colour = colour
        pen = pg.mkPen(QColor(*self.colour), width=width, cosmetic=True)
        if style is not None:
            pen.setStyle(style)
        self.item = self._add(pg.PlotCurveItem(pen=pen, antialias=True))
        self.n_points = 0

    def update(self, mask: np.ndarray | None) -> None:
        x, y, conn = contour_path(mask)
        self.n_points = len(x)
        self.item.setData(x, y, connect=conn if len(x) else "all")


class GroundTruth(Contour):
    name, title = "gt", "Ground truth (outline)"
    colour = theme.GT

    def __init__(self, view, z):
        from PySide6.QtCore import Qt

        super().__init__(view, z, style=Qt.PenStyle.DashLine, width=2)


class Boxes(Layer):
    """Bounding boxes with confidence and track ID; text items come from a reused pool."""

    name, title = "boxes", "Boxes · finding # · confidence"

    def __init__(self, view, z):
        super().__init__(view, z)
        self.item = self._add(pg.PlotCurveItem(pen=pg.mkPen(QColor(*self.colour), width=1.5,
                                                             cosmetic=True)))
        self.labels: list[pg.TextItem] = []
        self.texts: list[str] = []

    def _label(self, i: int) -> pg.TextItem:
        while len(self.labels) <= i:
            t = pg.TextItem(color=(10, 10, 10), fill=pg.mkBrush(*self.colour, 220), anchor=(0, 1))
            t.setZValue(self.z + 1)
            self.view.addItem(t)
            self.items.append(t)
            t.setVisible(self.visible)
            t.setOpacity(self.opacity)
            self.labels.append(t)
        return self.labels[i]

    def update(self, instances: list | None, ids: list[int] | None = None) -> None:
        instances = instances or []
        xs, ys, conn = [], [], []
        self.texts = []
        for i, inst in enumerate(instances):
            x0, y0, x1, y1 = inst.bbox
            xs += [x0, x1, x1, x0, x0]
            ys += [y0, y0, y1, y1, y0]
            conn += [True, True, True, True, False]
            tid = f"#{ids[i]} · " if ids is not None and i < len(ids) and ids[i] else ""  # 0 = flicker
            text = f"{tid}{inst.confidence:.2f}"
            self.texts.append(text)
            label = self._label(i)
            label.setText(text)
            label.setPos(x0, y0)
            label.setVisible(self.visible)
        for label in self.labels[len(instances):]:
            label.setVisible(False)
        self.item.setData(np.array(xs, float), np.array(ys, float),
                          connect=np.array(conn, bool) if conn else "all")

    def set_visible(self, on: bool) -> None:
        super().set_visible(on)
        for label in self.labels[len(self.texts):]:
            label.setVisible(False)


class Heatmap(Layer):
    name, title = "gradcam", "Grad-CAM (low → high)"
    colour = (255, 140, 0)  # legend swatch; the layer itself uses the turbo colour map

    def __init__(self, view, z):
        super().__init__(view, z)
        self.item = self._add(pg.ImageItem())
        ramp = np.arange(256, dtype=np.uint8)[:, None]
        rgb = cv2.cvtColor(cv2.applyColorMap(ramp, cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)[:, 0]
        alpha = np.clip(np.linspace(0, 255 * 1.6, 256), 0, 255)[:, None]  # low values see-through
        self.lut = np.hstack([rgb, alpha]).astype(np.uint8)
        self.opacity = 0.6
        self.item.setOpacity(self.opacity)
        self.visible = False
        self.item.setVisible(False)
        self.has_data = False

    def update(self, heat: np.ndarray | None) -> None:
        self.has_data = heat is not None
        if heat is None:
            self.item.clear()
            return
        self.item.setImage(heat, levels=(0.0, 1.0), lut=self.lut, autoLevels=False)
