"""Compare ground truth and prediction on one image, four ways.

* Contours: GT contour (sky blue) and prediction contour (yellow) on the image.
* Pixels: true positive / false positive / false negative colouring (engine.export.overlay).
* Side by side: image + GT | image + prediction, zoom and pan linked.
* Polyps: each true polyp found (green box) or missed (blue), each false alarm (vermillion),
  listed beside the image; selecting one zooms to it.

B (blink) flips between GT and prediction in place, which shows small boundary differences
better than any overlay. Pictures are rendered by engine.export.overlay, so exports look the same.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ...engine.analysis.compare import InstanceMatch, match_instances
from ...engine.export import overlay
from .. import theme

MODES = ("contours", "pixels", "side", "polyps")
MODE_LABELS = {"contours": "Contours", "pixels": "TP / FP / FN", "side": "Side by side",
               "polyps": "Polyps"}
LEGENDS = {
    "contours": [("ground truth", overlay.SKY_BLUE), ("prediction", overlay.YELLOW)],
    "pixels": [("true positive", overlay.BLUISH_GREEN), ("false positive", overlay.VERMILLION),
               ("false negative (missed)", overlay.BLUE)],
    "side": [("ground truth", overlay.SKY_BLUE), ("prediction", overlay.ORANGE)],
    "polyps": [("found", overlay.BLUISH_GREEN), ("missed", overlay.BLUE),
               ("false alarm", overlay.VERMILLION)],
}
STYLE = overlay.DEFAULT_STYLE
MUTED_RGB = tuple(int(theme.MUTED[i:i + 2], 16) for i in (1, 3, 5))


def _image_box() -> tuple[pg.GraphicsView, pg.ViewBox, pg.ImageItem]:
    view = pg.GraphicsView(background=theme.BACKGROUND)
    vb = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
    view.setCentralItem(vb)
    item = pg.ImageItem(axisOrder="row-major")
    vb.addItem(item)
    return view, vb, item


def _legend_html(mode: str, blink: str | None) -> str:
    if blink:
        what = "ground truth" if blink == "gt" else "prediction"
        return f"<b>Blink</b>: showing {what} (B flips, Esc returns)"
    parts = [f"<span style='color: rgb{c}'>■</span> {name}" for name, c in LEGENDS[mode]]
    return "&nbsp;&nbsp;".join(parts) + "&nbsp;&nbsp;<span style='color: gray'>B: blink</span>"


class CompareView(QWidget):
    """Shows one image with its GT (may be None) and FramePrediction (may be None)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.mode = "contours"
        self.blink_state: str | None = None  # None, "gt" or "pred"
        self.opacity = 0.6  # pixel colouring opacity (tests set 1.0 for exact colours)
        self.rgb: np.ndarray | None = None
        self.gt: np.ndarray | None = None
        self.pred = None
        self.match: InstanceMatch | None = None
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        buttons = QHBoxLayout()
        self.mode_group = QButtonGroup(self)
        self.mode_buttons: dict[str, QPushButton] = {}
        for i, m in enumerate(MODES):
            b = QPushButton(MODE_LABELS[m], self, checkable=True)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            self.mode_group.addButton(b, i)
            self.mode_buttons[m] = b
            buttons.addWidget(b)
        self.mode_buttons["contours"].setChecked(True)
        self.mode_group.idClicked.connect(lambda i: self.set_mode(MODES[i]))
        buttons.addStretch(1)
        self.legend = QLabel(self)
        buttons.addWidget(self.legend)

        self.single_view, self.vb, self.image_item = _image_box()
        self.left_view, self.left_vb, self.left_item = _image_box()
        self.right_view, self.right_vb, self.right_item = _image_box()
        self.right_vb.setXLink(self.left_vb)
        self.right_vb.setYLink(self.left_vb)
        side = QSplitter(Qt.Orientation.Horizontal)
        for title, view in (("Image + ground truth", self.left_view),
                            ("Image + prediction", self.right_view)):
            box = QWidget()
            lay = QVBoxLayout(box)
            lay.setContentsMargins(0, 0, 0, 0)
            lab = QLabel(title)
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            lay.addWidget(lab)
            lay.addWidget(view)
            side.addWidget(box)
        self.side_titles = side
        self.polyp_list = QListWidget(self)
        self.polyp_list.setMaximumWidth(230)
        self.polyp_list.currentRowChanged.connect(self._zoom_to_listed)
        single = QWidget()
        sl = QHBoxLayout(single)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(self.single_view, 1)
        sl.addWidget(self.polyp_list)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(single)
        self.stack.addWidget(side)
        self.message = QLabel(self)
        self.message.setStyleSheet(f"color: {theme.MUTED};")

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(buttons)
        lay.addWidget(self.stack, 1)
        lay.addWidget(self.message)
        for key, slot, what in (("B", self.blink, "Blink between ground truth and prediction"),
                                ("Esc", self.stop_blink, "Stop blinking")):
            sc = QShortcut(QKeySequence(key), self, slot, whatsThis=what)
            # set after construction: a context= keyword is ignored and left it window-wide
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._shape: tuple[int, int] | None = None
        self._fit_pending: set[str] = set()
        self.render()

    # --- content ---------------------------------------------------------------------------
    def set_data(self, rgb: np.ndarray, gt: np.ndarray | None, pred) -> None:
        self.rgb, self.gt, self.pred = rgb, (None if gt is None else gt.astype(bool)), pred
        self.match = (match_instances(self.gt, pred.mask, min_area_fraction=pred.min_area_fraction)
                      if self.gt is not None and pred is not None else None)
        if rgb.shape[:2] != self._shape:
            self._shape = rgb.shape[:2]
            self._fit_pending = {"single", "side"}  # each page fits once it has its picture
        self.render()

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown compare mode {mode!r}")
        self.mode = mode
        self.mode_buttons[mode].setChecked(True)
        self.blink_state = None
        self.render()

    def blink(self) -> None:
        """Flip between ground truth and prediction drawn the same way, in place."""
        self.blink_state = "pred" if self.blink_state == "gt" else "gt"
        self.render()

    def stop_blink(self) -> None:
        if self.blink_state is not None:
            self.blink_state = None
            self.render()

    def keyPressEvent(self, event) -> None:
        """B / Esc also when the shortcut is not delivered (e.g. window not active)."""
        if event.key() == Qt.Key.Key_B and not event.modifiers():
            self.blink()
        elif event.key() == Qt.Key.Key_Escape:
            self.stop_blink()
        else:
            super().keyPressEvent(event)

    # --- drawing ---------------------------------------------------------------------------
    def _pred_mask(self) -> np.ndarray | None:
        return None if self.pred is None else self.pred.mask

    def _with_mask(self, mask: np.ndarray | None, fill, edge) -> np.ndarray:
        """Image + one mask (fill and contour), the same drawing for GT and prediction."""
        if mask is None:
            return self.rgb.copy()
        style = replace(STYLE.only("mask", "contours"), mask_colour=fill, contour_colour=edge)
        whole = SimpleNamespace(bbox=(0, 0, mask.shape[1], mask.shape[0]))  # where to draw
        fake = SimpleNamespace(mask=mask, instances=[whole] if mask.any() else [])
        return overlay.draw_overlay(self.rgb, fake, style=style)

    def rendered(self) -> dict[str, np.ndarray]:
        """The picture(s) of the current mode: ``{"main": ...}`` or ``{"left", "right"}``."""
        rgb, gt, pm = self.rgb, self.gt, self._pred_mask()
        if self.blink_state is not None:
            mask = gt if self.blink_state == "gt" else pm
            colour = overlay.SKY_BLUE if self.blink_state == "gt" else overlay.ORANGE
            return {"main": self._with_mask(mask, colour, colour)}
        if self.mode == "contours":
            style = STYLE.only("contours", "gt")
            out = overlay.draw_overlay(rgb, self.pred, style=style, gt_mask=gt)
            return {"main": out}
        if self.mode == "pixels":
            if gt is None or pm is None:
                return {"main": self._with_mask(pm if gt is None else gt, overlay.ORANGE, overlay.YELLOW)}
            return {"main": overlay.compare_overlay(rgb, pm, gt, opacity=self.opacity)}
        if self.mode == "side":
            return {"left": self._with_mask(gt, overlay.SKY_BLUE, overlay.SKY_BLUE),
                    "right": self._with_mask(pm, overlay.ORANGE, overlay.YELLOW)}
        return {"main": self._polyp_boxes()}

    def _polyp_boxes(self) -> np.ndarray:
        out = self.rgb.copy()
        t = STYLE.thickness(out.shape) + 1
        if self.match is None:
            return self._with_mask(self._pred_mask(), overlay.ORANGE, overlay.YELLOW)
        h, w = out.shape[:2]
        for region, colour in self._listed():  # boxes just outside the region: its edge stays visible
            x0, y0, x1, y1 = region.bbox
            cv2.rectangle(out, (max(x0 - t, 0), max(y0 - t, 0)), (min(x1 - 1 + t, w - 1), min(y1 - 1 + t, h - 1)),
                          colour, t, cv2.LINE_8)
        return out

    def _listed(self) -> list[tuple]:
        m = self.match
        if m is None:
            return []
        return ([(g, overlay.BLUISH_GREEN) for g, _, _ in m.found]
                + [(g, overlay.BLUE) for g in m.missed]
                + [(p, overlay.VERMILLION) for p in m.false_alarms])

    def render(self) -> None:
        self.legend.setText(_legend_html(self.mode, self.blink_state))
        if self.rgb is None:
            self.message.setText("No image selected.")
            for item in (self.image_item, self.left_item, self.right_item):
                item.clear()
            self.polyp_list.hide()
            return
        pics = self.rendered()
        side = "left" in pics
        self.stack.setCurrentIndex(1 if side else 0)
        if side:
            self.left_item.setImage(pics["left"], autoLevels=False, levels=(0, 255))
            self.right_item.setImage(pics["right"], autoLevels=False, levels=(0, 255))
        else:
            self.image_item.setImage(pics["main"], autoLevels=False, levels=(0, 255))
        page = "side" if side else "single"
        if page in self._fit_pending:
            self._fit_pending.discard(page)
            (self.left_vb if side else self.vb).autoRange(padding=0.01)
        self._fill_polyp_list()
        self.message.setText(self._note())

    def _fill_polyp_list(self) -> None:
        show = self.mode == "polyps" and self.blink_state is None
        self.polyp_list.setVisible(show)
        if not show:
            return
        self.polyp_list.blockSignals(True)
        self.polyp_list.clear()
        m = self.match
        if m is None:
            self.polyp_list.addItem("No ground truth: nothing to match.")
        else:
            for g, _, iou in m.found:
                self._add_item(f"found · {g.area} px · IoU {iou:.2f}", overlay.BLUISH_GREEN, g)
            for g in m.missed:
                self._add_item(f"missed · {g.area} px", overlay.BLUE, g)
            for p in m.false_alarms:
                self._add_item(f"false alarm · {p.area} px", overlay.VERMILLION, p)
            for g in m.ignored:
                self._add_item(f"speck · {g.area} px (under {m.min_area} px, not counted)",
                               MUTED_RGB, g)
            if not self.polyp_list.count():
                self.polyp_list.addItem("No polyps in either mask.")
        self.polyp_list.blockSignals(False)

    def _add_item(self, text: str, colour, region) -> None:
        item = QListWidgetItem(text)
        item.setForeground(QColor(*colour))
        item.setData(Qt.ItemDataRole.UserRole, region.bbox)
        self.polyp_list.addItem(item)

    def _zoom_to_listed(self, row: int) -> None:
        item = self.polyp_list.item(row)
        bbox = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if bbox:
            x0, y0, x1, y1 = bbox
            pad = max(x1 - x0, y1 - y0) * 0.6 + 4
            self.vb.setRange(xRange=(x0 - pad, x1 + pad), yRange=(y0 - pad, y1 + pad), padding=0)

    def _note(self) -> str:
        if self.gt is None:
            return "This image has no ground-truth mask: only the prediction is shown."
        if self.pred is None:
            return "Not analysed yet."
        m = self.match
        specks = (f" · {len(m.ignored)} ground-truth speck(s) under {m.min_area} px not counted "
                  "(the minimum area predictions use)") if m.ignored else ""
        return (f"{len(m.true)} true polyp(s): {len(m.found)} found, {len(m.missed)} missed; "
                f"{len(m.false_alarms)} false alarm(s){specks}")
