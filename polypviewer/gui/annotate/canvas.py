"""The mask editing canvas: brush, eraser, polygon and flood fill with undo/redo.

A plain QWidget (not a pyqtgraph scene) so that every mouse event maps to image pixels in one
obvious way (:meth:`MaskCanvas.to_image`) and edits are exact and testable. Each finished
edit (a stroke, a polygon, a fill, "from prediction", "clear") is one QUndoStack command that
stores only the changed rectangle before and after, so undo history stays small on big images.
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QCursor,
    QImage,
    QKeySequence,
    QPainter,
    QPen,
    QPixmap,
    QPolygonF,
    QUndoCommand,
    QUndoStack,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from ...engine.runtime.postprocess import find_instances
from .. import theme

TOOLS = ("brush", "eraser", "polygon", "fill")
MIN_BRUSH, MAX_BRUSH = 1, 400
SQRT_HALF = 0.7072  # just over the distance from a pixel's corner to its centre
MASK_RGBA = (86, 180, 233, 110)  # ground truth: sky blue, as everywhere in the app


class MaskEdit(QUndoCommand):
    """One edit: the changed rectangle of the mask, before and after."""

    def __init__(self, canvas: MaskCanvas, box: tuple[int, int, int, int], before: np.ndarray,
                 after: np.ndarray, text: str):
        super().__init__(text)
        self.canvas, self.box, self.before, self.after = canvas, box, before, after

    def _apply(self, values: np.ndarray) -> None:
        y0, y1, x0, x1 = self.box
        self.canvas._mask[y0:y1, x0:x1] = values
        self.canvas._mask_changed()

    def redo(self) -> None:
        self._apply(self.after)

    def undo(self) -> None:
        self._apply(self.before)


def stroke_footprint(p0: tuple[float, float], p1: tuple[float, float], size: int,
                     shape: tuple[int, int]):
    """Pixels whose centres lie within ``size``/2 of the segment p0-p1: ``(box, bool array)``.

    The one rasterisation of brush and eraser. Points are image coordinates as floats, so a
    stroke covers the same pixels however the mouse events happened to split it; a
    circle-plus-thick-line drawing did not, and erasing a brushed stroke left 1-px islands.
    """
    r = max(int(size) / 2, SQRT_HALF)  # SQRT_HALF: a 1-px dab always paints its pixel
    h, w = shape
    (ax, ay), (bx, by) = p0, p1
    x0, x1 = max(int(np.floor(min(ax, bx) - r)), 0), min(int(np.ceil(max(ax, bx) + r)) + 1, w)
    y0, y1 = max(int(np.floor(min(ay, by) - r)), 0), min(int(np.ceil(max(ay, by) + r)) + 1, h)
    if x0 >= x1 or y0 >= y1:
        return None
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64) + 0.5
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = np.clip(((xs - ax) * dx + (ys - ay) * dy) / length2, 0.0, 1.0) if length2 > 0 else 0.0
    fp = (xs - ax - t * dx) ** 2 + (ys - ay - t * dy) ** 2 <= (r + 1e-6) ** 2
    return (y0, y1, x0, x1), fp


def remove_specks(mask: np.ndarray, min_pixels: int) -> tuple[np.ndarray, int]:
    """``mask`` without regions under ``min_pixels`` (the postprocess rule), and how many went."""
    if min_pixels <= 1:
        return mask.astype(bool), 0
    before = len(find_instances(mask)[0])
    kept, cleaned = find_instances(mask, None, int(min_pixels))
    return cleaned, before - len(kept)


def _changed_box(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int] | None:
    diff = before != after
    if not diff.any():
        return None
    ys, xs = np.nonzero(diff.any(axis=1))[0], np.nonzero(diff.any(axis=0))[0]
    return int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1


class MaskCanvas(QWidget):
    """Shows an image with its editable mask; the mask is bool (H, W) at the image's size."""

    mask_changed = Signal()
    brush_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 150)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.undo_stack = QUndoStack(self)
        self.tool = "brush"
        self.brush_size = 15
        self.zoom = 1.0
        self.pan = QPointF(0, 0)
        self._rgb: np.ndarray | None = None
        self._mask = np.zeros((1, 1), np.uint8)
        self._image = QImage()
        self._overlay = QImage()
        self._stroke_before: np.ndarray | None = None
        self._last: tuple[int, int] | None = None
        self._panning: QPointF | None = None
        self.polygon: list[tuple[int, int]] = []

    # --- content ---------------------------------------------------------------------------
    def set_image(self, rgb: np.ndarray, mask: np.ndarray | None) -> None:
        """New image: history cleared, state clean (nothing to save yet)."""
        self._rgb = np.ascontiguousarray(rgb)
        h, w = rgb.shape[:2]
        self._image = QImage(self._rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self._mask = (np.zeros((h, w), np.uint8) if mask is None
                      else np.ascontiguousarray(mask.astype(np.uint8)))
        self.polygon = []
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self.zoom, self.pan = 1.0, QPointF(0, 0)
        self._mask_changed()
        self._update_cursor()

    def mask(self) -> np.ndarray:
        return self._mask.astype(bool)

    def has_image(self) -> bool:
        return self._rgb is not None

    def is_dirty(self) -> bool:
        return not self.undo_stack.isClean()

    def mark_saved(self) -> None:
        self.undo_stack.setClean()

    def replace_mask(self, new: np.ndarray, text: str) -> None:
        """Whole-mask edits ("start from prediction", "clear") as one undoable command."""
        if self._rgb is None:
            return
        self._commit(self._mask.copy(), np.ascontiguousarray(new.astype(np.uint8)), text)

    def _commit(self, before: np.ndarray, after: np.ndarray, text: str) -> None:
        box = _changed_box(before, after)
        if box is None:
            self._mask = after
            return
        y0, y1, x0, x1 = box
        self._mask = after  # redo() on push writes the same values again: harmless
        self.undo_stack.push(MaskEdit(self, box, before[y0:y1, x0:x1].copy(),
                                      after[y0:y1, x0:x1].copy(), text))

    def _mask_changed(self) -> None:
        h, w = self._mask.shape
        rgba = np.zeros((h, w, 4), np.uint8)
        rgba[self._mask > 0] = MASK_RGBA
        edge = cv2.morphologyEx(self._mask, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
        rgba[edge & (self._mask > 0)] = (*MASK_RGBA[:3], 255)
        self._overlay = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
        self.update()
        self.mask_changed.emit()

    # --- tools -----------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        self.tool = tool
        if tool != "polygon":
            self.polygon = []
        self._update_cursor()
        self.update()

    def set_brush_size(self, size: int) -> None:
        self.brush_size = int(min(MAX_BRUSH, max(MIN_BRUSH, size)))
        self._update_cursor()
        self.brush_changed.emit(self.brush_size)

    def close_polygon(self) -> None:
        """Fill the polygon drawn so far (3 points at least) into the mask."""
        pts, self.polygon = self.polygon, []
        if len(pts) >= 3:
            after = self._mask.copy()
            cv2.fillPoly(after, [np.array(pts, np.int32)], 1)
            self._commit(self._mask.copy(), after, "polygon")
        self.update()

    def flood_fill(self, x: int, y: int) -> None:
        """Flip the 4-connected region under (x, y): fills a hole/outline, or removes a blob."""
        h, w = self._mask.shape
        if not (0 <= x < w and 0 <= y < h):
            return
        after = self._mask.copy()
        ff = np.zeros((h + 2, w + 2), np.uint8)
        cv2.floodFill(after, ff, (x, y), int(1 - after[y, x]), flags=4)
        self._commit(self._mask.copy(), after, "fill")

    def _paint_to(self, x: float, y: float) -> None:
        value = 0 if self.tool == "eraser" else 1
        found = stroke_footprint(self._last or (x, y), (x, y), self.brush_size, self._mask.shape)
        if found is not None:
            (y0, y1, x0, x1), fp = found
            self._mask[y0:y1, x0:x1][fp] = value
        self._last = (x, y)
        self._mask_changed()

    # --- geometry --------------------------------------------------------------------------
    def scale(self) -> float:
        if self._rgb is None:
            return 1.0
        h, w = self._rgb.shape[:2]
        return min(self.width() / w, self.height() / h) * self.zoom

    def _origin(self) -> QPointF:
        h, w = self._rgb.shape[:2] if self._rgb is not None else (1, 1)
        s = self.scale()
        return QPointF((self.width() - w * s) / 2, (self.height() - h * s) / 2) + self.pan

    def to_image(self, pos: QPointF | QPoint) -> tuple[int, int]:
        o, s = self._origin(), self.scale()
        return int(np.floor((pos.x() - o.x()) / s)), int(np.floor((pos.y() - o.y()) / s))

    def to_widget(self, x: float, y: float) -> QPoint:
        """Widget position of the centre of image pixel (x, y) (tests click through this)."""
        o, s = self._origin(), self.scale()
        return QPoint(int(round(o.x() + (x + 0.5) * s)), int(round(o.y() + (y + 0.5) * s)))

    def _clamped(self, pos) -> tuple[int, int]:
        x, y = self.to_image(pos)
        h, w = self._mask.shape
        return min(max(x, 0), w - 1), min(max(y, 0), h - 1)

    def _clamped_float(self, pos) -> tuple[float, float]:
        """Image coordinates of ``pos`` as floats (brush strokes), inside the image."""
        o, s = self._origin(), self.scale()
        h, w = self._mask.shape
        x, y = (pos.x() - o.x()) / s, (pos.y() - o.y()) / s
        return min(max(x, 0.0), w - 1e-3), min(max(y, 0.0), h - 1e-3)

    def _update_cursor(self) -> None:
        if self.tool in ("brush", "eraser"):
            d = int(min(256, max(6, round(self.brush_size * self.scale()))))
            pm = QPixmap(d + 2, d + 2)
            pm.fill(Qt.GlobalColor.transparent)
            p = QPainter(pm)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.setPen(QPen(QColor(0, 0, 0, 200), 1))
            p.drawEllipse(QRectF(1, 1, d, d))
            p.setPen(QPen(QColor(255, 255, 255, 230) if self.tool == "brush" else QColor(255, 120, 80), 1))
            p.drawEllipse(QRectF(2, 2, d - 2, d - 2))
            p.end()
            self.setCursor(QCursor(pm, d // 2 + 1, d // 2 + 1))
        else:
            self.setCursor(Qt.CursorShape.CrossCursor)

    # --- events ----------------------------------------------------------------------------
    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(theme.BACKGROUND))
        if self._rgb is None:
            p.setPen(QColor(theme.MUTED))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Select an image to edit its mask")
            return
        h, w = self._rgb.shape[:2]
        o, s = self._origin(), self.scale()
        target = QRectF(o.x(), o.y(), w * s, h * s)
        p.drawImage(target, self._image)
        p.drawImage(target, self._overlay)
        if self.polygon:
            pts = [QPointF(o.x() + (x + 0.5) * s, o.y() + (y + 0.5) * s) for x, y in self.polygon]
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.setPen(QPen(QColor(*theme.PRED), 2))
            p.drawPolyline(QPolygonF(pts))
            for q in pts:
                p.drawEllipse(q, 3, 3)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._update_cursor()

    def mousePressEvent(self, event) -> None:
        if self._rgb is None:
            return
        self.setFocus()
        if event.button() == Qt.MouseButton.MiddleButton:
            self._panning = event.position()
            return
        if event.button() != Qt.MouseButton.LeftButton:
            if event.button() == Qt.MouseButton.RightButton and self.tool == "polygon":
                self.close_polygon()
            return
        x, y = self._clamped(event.position())
        if self.tool in ("brush", "eraser"):
            self._stroke_before = self._mask.copy()
            self._last = None
            self._paint_to(*self._clamped_float(event.position()))
        elif self.tool == "polygon":
            if not self.polygon or abs(self.polygon[-1][0] - x) + abs(self.polygon[-1][1] - y) > 1:
                self.polygon.append((x, y))
            self.update()
        elif self.tool == "fill":
            self.flood_fill(*self.to_image(event.position()))

    def mouseMoveEvent(self, event) -> None:
        if self._panning is not None:
            self.pan += event.position() - self._panning
            self._panning = event.position()
            self.update()
        elif self._stroke_before is not None:
            self._paint_to(*self._clamped_float(event.position()))

    def mouseReleaseEvent(self, event) -> None:
        if self._panning is not None:
            self._panning = None
        elif self._stroke_before is not None:
            before, self._stroke_before, self._last = self._stroke_before, None, None
            self._commit(before, self._mask.copy(), self.tool)

    def mouseDoubleClickEvent(self, event) -> None:
        if self.tool == "polygon" and event.button() == Qt.MouseButton.LeftButton:
            self.mousePressEvent(event)  # the second click's point counts too
            self.close_polygon()
        else:
            super().mouseDoubleClickEvent(event)

    def wheelEvent(self, event) -> None:
        if self._rgb is None:
            return
        pos = event.position()
        before = self.to_image(pos)
        factor = 1.25 if event.angleDelta().y() > 0 else 0.8
        self.zoom = float(min(40.0, max(0.2, self.zoom * factor)))
        o, s = self._origin(), self.scale()  # keep the pixel under the cursor in place
        self.pan += QPointF(pos.x() - (o.x() + before[0] * s), pos.y() - (o.y() + before[1] * s))
        self._update_cursor()
        self.update()

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key == Qt.Key.Key_BracketLeft:
            self.set_brush_size(min(self.brush_size - 1, int(self.brush_size / 1.25)))
        elif key == Qt.Key.Key_BracketRight:
            self.set_brush_size(max(self.brush_size + 1, int(round(self.brush_size * 1.25))))
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.tool == "polygon":
            self.close_polygon()
        elif key == Qt.Key.Key_Escape and self.polygon:
            self.polygon = []
            self.update()
        elif key == Qt.Key.Key_Backspace and self.polygon:
            self.polygon.pop()
            self.update()
        elif key == Qt.Key.Key_0:
            self.zoom, self.pan = 1.0, QPointF(0, 0)
            self._update_cursor()
            self.update()
        elif event.matches(QKeySequence.StandardKey.Undo):
            self.undo_stack.undo()
        elif event.matches(QKeySequence.StandardKey.Redo):
            self.undo_stack.redo()
        else:
            super().keyPressEvent(event)
