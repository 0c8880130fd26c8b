"""Procedure timeline: polyp probability and count per frame, the findings, a cursor.

The shaded spans are the findings of the analysis' TrackResult, numbered as in the Findings
list (before tracking has run, the raw runs of positive frames). Frames not analysed yet are
NaN and leave gaps, so progress is visible as the curve grows. The axis counts frames from 1,
as every visible text does; the methods take 0-based frame indices. Clicking jumps there.

Stills (a folder, a dataset) are unrelated pictures: their values are dots, not a curve that
would suggest a change from one image to the next, and each image's findings share one block
narrower than the image's slot, so neighbouring images' findings stay apart.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QVBoxLayout, QWidget

from . import theme


class Timeline(QWidget):
    clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(background=theme.PANEL)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setYRange(0, 1.05, padding=0)
        self.plot.getAxis("left").setTicks([[(0, "0"), (0.5, "0.5"), (1, "1")]])
        self.plot.getAxis("left").setWidth(34)
        self.plot.getAxis("bottom").setLabel("frame")
        self.plot.showGrid(x=False, y=True, alpha=0.15)
        legend = self.plot.addLegend(offset=(-8, 2), labelTextColor=theme.MUTED, brush=pg.mkBrush(theme.PANEL),
                                     colCount=3)
        self.prob_curve = self.plot.plot(name="polyp probability")
        self.count_curve = self.plot.plot(name="polyp count (scaled)")
        legend.addItem(pg.BarGraphItem(x=[0], height=[1], width=1, brush=pg.mkBrush(*theme.SEGMENT)),
                       "finding")
        self.threshold_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(theme.MUTED, style=Qt.PenStyle.DashLine))
        self.plot.addItem(self.threshold_line)
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen("#ffffff", width=1.5))
        self.plot.addItem(self.cursor)
        self.segment_items: list[pg.LinearRegionItem] = []
        self.label_items: list[pg.TextItem] = []
        self.plot.scene().sigMouseClicked.connect(self._on_click)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)
        self.setMinimumHeight(90)
        self.setMaximumHeight(160)
        self.n = 0
        self.stills = False
        self._style_curves()
        self.segments: list[tuple[int, int]] = []
        self.labels: list[int] = []

    def set_length(self, n: int, stills: bool = False) -> None:
        self.n = n
        self.stills = stills
        self._style_curves()
        if stills:  # whole slots, so the first and last images' blocks are not cut
            self.plot.setXRange(0.5, max(2, n) + 0.5, padding=0)
        else:
            self.plot.setXRange(1, max(2, n), padding=0.01)
        axis = self.plot.getAxis("bottom")
        if n <= 30:  # a few stills: whole frame numbers only, never "2.5"
            axis.setTickSpacing(5 if n > 10 else 1, 1)
        else:
            axis.setTickSpacing()  # automatic for videos
        self.set_data(np.full(n, np.nan), np.full(n, np.nan), 0.5, [])

    def set_data(self, frame_probs: np.ndarray, counts: np.ndarray, threshold: float,
                 segments: list[tuple[int, int]]) -> None:
        """``counts`` are scaled into the plot (max count = 1.0) so both share one axis."""
        x = np.arange(1, len(frame_probs) + 1, dtype=float)
        p = np.asarray(frame_probs, float)
        c = np.asarray(counts, float)
        top = np.nanmax(c) if np.isfinite(c).any() and np.nanmax(c) > 0 else 1.0
        self._plot(self.prob_curve, x, p)
        self._plot(self.count_curve, x, c / top)
        self.threshold_line.setPos(threshold)
        self._set_segments(segments)

    def _plot(self, curve, x: np.ndarray, y: np.ndarray) -> None:
        if self.stills:  # dots of the analysed images only
            keep = np.isfinite(y)
            curve.setData(x[keep], y[keep])
        else:
            curve.setData(x, y, connect="finite")

    def _style_curves(self) -> None:
        """Lines for a video, markers for stills."""
        if self.stills:
            self.prob_curve.setPen(None)
            self.prob_curve.setSymbol("o")
            self.prob_curve.setSymbolSize(6)
            self.prob_curve.setSymbolPen(None)
            self.prob_curve.setSymbolBrush(pg.mkBrush(QColor(*theme.PRED)))
            self.count_curve.setPen(None)
            self.count_curve.setSymbol("t1")  # a small triangle above the dot
            self.count_curve.setSymbolSize(6)
            self.count_curve.setSymbolPen(pg.mkPen(QColor(theme.ACCENT), width=1))
            self.count_curve.setSymbolBrush(None)
        else:
            self.prob_curve.setSymbol(None)
            self.prob_curve.setPen(pg.mkPen(QColor(*theme.PRED), width=1.5))
            self.count_curve.setSymbol(None)
            self.count_curve.setPen(pg.mkPen(QColor(theme.ACCENT), width=1,
                                             style=Qt.PenStyle.DotLine))

    def _blocks(self) -> list[tuple[float, float, str]]:
        """(left, right, label) of each shaded block: a finding's span of frames, or for
        stills one block per image holding all of its findings' numbers."""
        if not self.stills:
            return [(a + 0.5, b + 1.5, f"#{fid}" if fid else "")
                    for (a, b), fid in zip(self.segments, self.labels)]
        per_image: dict[int, list[int]] = {}
        for (a, _), fid in zip(self.segments, self.labels):
            per_image.setdefault(a, []).append(fid)
        return [(a + 0.6, a + 1.4, " ".join(f"#{f}" for f in fids if f))
                for a, fids in sorted(per_image.items())]

    def _set_segments(self, segments: list[tuple]) -> None:
        """(first, last) index pairs, or (first, last, finding ID) to number them."""
        self.segments = [(int(s[0]), int(s[1])) for s in segments]
        self.labels = [int(s[2]) if len(s) > 2 else 0 for s in segments]
        blocks = self._blocks()
        brush = pg.mkBrush(*theme.SEGMENT)
        while len(self.segment_items) < len(blocks):
            item = pg.LinearRegionItem(movable=False, brush=brush, pen=pg.mkPen(None))
            item.setZValue(-10)
            self.plot.addItem(item)
            self.segment_items.append(item)
            text = pg.TextItem(color=theme.MUTED, anchor=(0.5, 0))
            self.plot.addItem(text)
            self.label_items.append(text)
        for k, (item, text, (left, right, label)) in enumerate(zip(self.segment_items,
                                                                   self.label_items, blocks)):
            item.setRegion((left, right))
            item.show()
            text.setText(label)
            # low in the span (the curve is high there, the legend sits on top), alternating
            # heights so neighbouring findings' numbers never overlap
            text.setPos((left + right) / 2, 0.42 if k % 2 == 0 else 0.27)
            text.setVisible(bool(label))
        for item, text in zip(self.segment_items[len(blocks):], self.label_items[len(blocks):]):
            item.hide()
            text.hide()

    def set_cursor(self, index: int) -> None:
        self.cursor.setPos(index + 1)

    def _on_click(self, event) -> None:
        if self.n <= 0 or event.button() != Qt.MouseButton.LeftButton:
            return
        pos = self.plot.getPlotItem().vb.mapSceneToView(event.scenePos())
        self.clicked.emit(int(np.clip(round(pos.x()) - 1, 0, self.n - 1)))

    def x_to_widget(self, index: int) -> tuple[int, int]:
        """Widget coordinates of frame ``index`` at mid height (used by tests to click)."""
        vb = self.plot.getPlotItem().vb
        scene = vb.mapViewToScene(pg.Point(index + 1, 0.5))
        p = self.plot.mapFromScene(scene)
        return int(p.x()), int(p.y())
