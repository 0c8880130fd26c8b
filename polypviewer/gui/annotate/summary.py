"""Dataset summary: metric means, Dice distribution, Dice vs polyp size, threshold sweep, ROC/PR.

Everything is drawn from the table rows and the cached sweep; nothing here runs the model.
The sweep's draggable line picks a threshold; "Use this threshold" only emits
``threshold_chosen`` (the workspace saves it in the user's copy of the model settings).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...engine import metrics
from ...engine.analysis.compare import ImageRow, Sweep, pr_curve, summary
from ...engine.export import overlay
from .. import theme

CURVES = (("dice", overlay.SKY_BLUE), ("precision", overlay.ORANGE), ("recall", overlay.BLUISH_GREEN))


def _plot(title: str, x: str, y: str) -> pg.PlotWidget:
    w = pg.PlotWidget(background=theme.BACKGROUND, title=title)
    w.setLabel("bottom", x)
    w.setLabel("left", y)
    w.showGrid(x=True, y=True, alpha=0.2)
    for side in ("bottom", "left"):  # thresholds read 0.70-0.95, not "700-950 (x0.001)"
        w.getAxis(side).enableAutoSIPrefix(False)
    w.setMinimumHeight(180)
    return w


class SummaryPanel(QWidget):
    threshold_chosen = Signal(float)
    image_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.rows: list[ImageRow] = []
        self.sweep_result: Sweep | None = None
        self.current_threshold = 0.5
        self.stats = QTableWidget(0, 2, self)
        self.stats.setHorizontalHeaderLabels(["Metric", "Mean ± std"])
        self.stats.verticalHeader().hide()
        self.stats.horizontalHeader().setStretchLastSection(True)
        self.stats.setMaximumWidth(260)
        self.stats.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)

        self.hist = _plot("Dice per image", "Dice", "images")
        self.scatter_plot = _plot("Dice vs polyp size", "polyp area (% of image)", "Dice")
        self.scatter = pg.ScatterPlotItem(size=7, brush=pg.mkBrush(*overlay.SKY_BLUE, 180), pen=None)
        self.scatter.sigClicked.connect(self._scatter_clicked)
        self.scatter_plot.addItem(self.scatter)
        self.sweep_plot = _plot("Threshold sweep (cached maps)", "threshold", "mean over images")
        self.sweep_plot.addLegend(offset=(10, 10))
        self.curves = {k: self.sweep_plot.plot([], [], pen=pg.mkPen(c, width=2), name=k)
                       for k, c in CURVES}
        self.model_line = pg.InfiniteLine(angle=90, movable=False,
                                          pen=pg.mkPen(theme.MUTED, style=Qt.PenStyle.DashLine))
        self.pick_line = pg.InfiniteLine(angle=90, movable=True, bounds=(0.01, 0.99),
                                         pen=pg.mkPen(*theme.PRED, width=2))
        self.pick_line.sigPositionChanged.connect(self._pick_moved)
        for item in (self.model_line, self.pick_line):
            self.sweep_plot.addItem(item)
        self.sweep_plot.setXRange(0, 1)
        self.frame_plot = _plot("Frame verdict: ROC (blue) and PR (orange)", "FPR / recall",
                                "TPR / precision")
        self.roc_curve = self.frame_plot.plot([], [], pen=pg.mkPen(overlay.SKY_BLUE, width=2))
        self.pr_curve = self.frame_plot.plot([], [], pen=pg.mkPen(overlay.ORANGE, width=2))

        self.pick_label = QLabel(self)
        self.use_button = QPushButton("Use this threshold", self, enabled=False,
                                      toolTip="Save it in your settings for this model "
                                              "(the model file is not changed)")
        self.use_button.clicked.connect(lambda: self.threshold_chosen.emit(self.picked_threshold()))
        self.frame_note = QLabel(self)
        self.frame_note.setWordWrap(True)

        pick = QHBoxLayout()
        pick.addWidget(self.pick_label, 1)
        pick.addWidget(self.use_button)
        left = QVBoxLayout()
        left.addWidget(self.stats, 1)
        left.addWidget(self.frame_note)
        grid = QVBoxLayout()
        top, bottom = QHBoxLayout(), QHBoxLayout()
        top.addWidget(self.hist)
        top.addWidget(self.scatter_plot)
        sweep_box = QVBoxLayout()
        sweep_box.addWidget(self.sweep_plot, 1)
        sweep_box.addLayout(pick)
        bottom.addLayout(sweep_box, 3)
        bottom.addWidget(self.frame_plot, 2)
        grid.addLayout(top)
        grid.addLayout(bottom)
        lay = QHBoxLayout(self)
        lay.addLayout(left)
        lay.addLayout(grid, 1)
        self._update_pick_label()

    # --- rows --------------------------------------------------------------------------------
    def set_rows(self, rows: list[ImageRow], threshold: float) -> None:
        self.rows = list(rows)
        self.current_threshold = threshold
        self.model_line.setValue(threshold)
        if self.sweep_result is None:
            self.pick_line.setValue(threshold)
        self._fill_stats()
        self._draw_hist()
        self._draw_scatter()
        self._draw_frame_curves()

    def _fill_stats(self) -> None:
        agg = summary(self.rows)
        lines = [(k, f"{agg['mean'][k]:.3f} ± {agg['std'][k]:.3f}") for k in metrics.METRICS
                 if k in agg["mean"]]
        scored = [r for r in self.rows if r.has_mask]
        lines.append(("images scored", f"{len(scored)} of {len(self.rows)}"))
        n_true = sum(r.n_true or 0 for r in scored)
        lines.append(("polyps found", f"{sum(r.found or 0 for r in scored)} of {n_true}"))
        lines.append(("polyps missed", str(sum(r.missed or 0 for r in scored))))
        lines.append(("false alarms", str(sum(r.false_alarms or 0 for r in scored))))
        specks = sum(r.gt_specks or 0 for r in scored)
        lines.append(("GT specks not counted", f"{specks} (under the minimum area)"))
        self.stats.setRowCount(len(lines))
        for i, (k, v) in enumerate(lines):
            self.stats.setItem(i, 0, QTableWidgetItem(k))
            self.stats.setItem(i, 1, QTableWidgetItem(v))

    def _draw_hist(self) -> None:
        self.hist.clear()
        dice = np.array([r.dice for r in self.rows if r.has_mask], float)
        if dice.size:
            counts, edges = np.histogram(dice, bins=20, range=(0, 1))
            self.hist.addItem(pg.BarGraphItem(x0=edges[:-1], x1=edges[1:], height=counts,
                                              brush=pg.mkBrush(*overlay.SKY_BLUE, 200)))

    def _draw_scatter(self) -> None:
        pts = [(100 * r.polyp_fraction, r.dice, r.index) for r in self.rows
               if r.has_mask and r.polyp_fraction and r.polyp_fraction > 0]
        self.scatter.setData([p[0] for p in pts], [p[1] for p in pts], data=[p[2] for p in pts])

    def _scatter_clicked(self, _item, points, *_args) -> None:
        if len(points):
            self.image_clicked.emit(int(points[0].data()))

    def frame_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """Frame truth (the mask shows a polyp) and frame probability, images with a mask."""
        scored = [r for r in self.rows if r.has_mask]
        return (np.array([bool(r.n_true) for r in scored], bool),
                np.array([r.frame_prob for r in scored], float))

    def _draw_frame_curves(self) -> None:
        y, s = self.frame_labels()
        if y.size and 0 < y.sum() < y.size:
            fpr, tpr, _ = metrics.roc_curve(y, s)
            prec, rec = pr_curve(y, s)
            self.roc_curve.setData(fpr, tpr)
            self.pr_curve.setData(rec, prec)
            auc = metrics.frame_auc(y, s)
            cm = metrics.confusion_matrix(y, s, 0.5)
            self.frame_note.setText(
                f"Frame verdict AUC {auc:.3f} · at 0.5: sensitivity {cm['sensitivity']:.2f}, "
                f"specificity {cm['specificity']:.2f}")
            self.frame_plot.show()
        else:
            self.roc_curve.setData([], [])
            self.pr_curve.setData([], [])
            self.frame_note.setText("ROC / PR need images with and without polyps.")
            self.frame_plot.hide()

    # --- sweep -------------------------------------------------------------------------------
    def set_sweep(self, sweep: Sweep | None) -> None:
        self.sweep_result = sweep
        for key, curve in self.curves.items():
            curve.setData([] if sweep is None else sweep.thresholds,
                          [] if sweep is None else getattr(sweep, key))
        self.use_button.setEnabled(sweep is not None and sweep.n_images > 0)
        self._update_pick_label()

    def picked_threshold(self) -> float:
        return round(float(self.pick_line.value()), 3)

    def set_picked_threshold(self, t: float) -> None:
        self.pick_line.setValue(t)

    def _pick_moved(self) -> None:
        self._update_pick_label()

    def sweep_at(self, t: float) -> dict[str, float] | None:
        """Sweep values interpolated at threshold ``t`` (what the label shows)."""
        s = self.sweep_result
        if s is None or not s.n_images:
            return None
        return {k: float(np.interp(t, s.thresholds, getattr(s, k))) for k, _ in CURVES}

    def _update_pick_label(self) -> None:
        t = self.picked_threshold()
        vals = self.sweep_at(t)
        if vals is None:
            self.pick_label.setText(f"Threshold {t:.2f} (sweep not computed yet)")
            return
        best = self.sweep_result.best_threshold
        best_txt = "" if math.isnan(best) else f" · best Dice at {best:.2f}"
        self.pick_label.setText(f"Threshold {t:.2f}: Dice {vals['dice']:.3f}, precision "
                                f"{vals['precision']:.3f}, recall {vals['recall']:.3f}{best_txt}")
