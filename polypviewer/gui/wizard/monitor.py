"""Live view of one child run: loss and Dice/IoU curves, progress with ETA, samples, log, Cancel.

It only listens to a ``RunProcess``; it can be closed and re-opened (events are replayed) while
the run goes on. A neoplastic head fit (``run_started`` with task "cadx") has no curves or
samples: its passes take the place of epochs.
"""

from __future__ import annotations

import math
import time

import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from .compute import format_duration
from .process import RunProcess
from .spec import quote
from .widgets import FitPixmapLabel, home_short

# key in epoch_metrics -> (plot, legend name, colour)
SERIES = {
    "train_loss": ("loss", "train loss", "#1f77b4"),
    "val_loss": ("loss", "val loss", "#ff7f0e"),
    "val_dice": ("metric", "val Dice", "#2ca02c"),
    "val_iou": ("metric", "val IoU", "#9467bd"),
    "val_accuracy": ("metric", "val accuracy", "#2ca02c"),
    "val_auc": ("metric", "val AUC", "#9467bd"),
}


class EpochAxis(pg.AxisItem):
    """An epoch axis: whole-number ticks only (no "1.2 epochs" after the first few epochs)."""

    def tickValues(self, minVal, maxVal, size):
        levels = [(sp, [v for v in vals if float(v).is_integer()])
                  for sp, vals in super().tickValues(minVal, maxVal, size) if sp >= 1]
        levels = [(sp, vals) for sp, vals in levels if vals]
        if levels:
            return levels
        return [(1, [float(v) for v in range(math.ceil(minVal), math.floor(maxVal) + 1)])]

    def tickStrings(self, values, scale, spacing):
        return [str(int(round(v * scale))) for v in values]


class RunMonitor(QWidget):
    """Shows a RunProcess; ``ended`` repeats the process's ending for the wizard."""

    ended = Signal(str, str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.proc: RunProcess | None = None
        self.status = QLabel("not started")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cancel_btn = QPushButton("Cancel run")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(self.cancel)
        self.epoch_bar, self.run_bar = QProgressBar(), QProgressBar()
        self.run_bar.setFormat("%v / %m epochs")
        self.epoch_eta, self.run_eta = QLabel(), QLabel()
        # the two plots are built in the next turns of the event loop (each takes tens of ms),
        # so that opening the wizard or a run never holds the UI; rows that arrive meanwhile
        # are drawn once they exist
        self.loss_plot: pg.PlotWidget | None = None
        self.metric_plot: pg.PlotWidget | None = None
        self.plots = QWidget()
        self.plots_layout = QVBoxLayout(self.plots)
        self.plots_layout.setContentsMargins(0, 0, 0, 0)
        QTimer.singleShot(0, self, self._make_loss_plot)
        self.curves: dict[str, pg.PlotDataItem] = {}
        # validation images, ground truth and prediction, one row each: a tall picture, so it
        # gets the full height beside the plots
        self.samples = FitPixmapLabel(minimum=QSize(140, 160))
        self.samples.setText("sample predictions appear after the first epoch")
        self.log = QPlainTextEdit(readOnly=True)
        self.log.setMaximumBlockCount(5000)
        self._build()
        self._reset()

    def _build(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.cancel_btn)
        bars = QGridLayout()  # one column per kind, so both bars line up
        self.bar_labels = [QLabel("Epoch"), QLabel("Run")]
        for r, (label, bar, eta) in enumerate(((self.bar_labels[0], self.epoch_bar, self.epoch_eta),
                                               (self.bar_labels[1], self.run_bar, self.run_eta))):
            bars.addWidget(label, r, 0)
            bars.addWidget(bar, r, 1)
            bars.addWidget(eta, r, 2)
        bars.setColumnStretch(1, 1)
        upper = QSplitter(Qt.Orientation.Horizontal)
        upper.addWidget(self.plots)
        upper.addWidget(self.samples)
        upper.setStretchFactor(0, 3)
        upper.setStretchFactor(1, 1)
        upper.setSizes([3000, 1000])  # proportions: the samples need about a quarter
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(upper)
        split.addWidget(self.log)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        split.setSizes([4000, 1000])
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(bars)
        lay.addWidget(split, 1)

    def _make_loss_plot(self) -> None:
        self.loss_plot = pg.PlotWidget(title="Loss", axisItems={"bottom": EpochAxis("bottom")})
        # losses fall and scores rise: keep each legend in the corner its curves leave free
        self.loss_plot.addLegend(offset=(-5, 5))
        self._style(self.loss_plot)
        QTimer.singleShot(0, self, self._make_metric_plot)

    def _make_metric_plot(self) -> None:
        self.metric_plot = pg.PlotWidget(title="Validation",
                                         axisItems={"bottom": EpochAxis("bottom")})
        self.metric_plot.addLegend(offset=(-5, -5))
        self._style(self.metric_plot)
        self.metric_plot.setYRange(0, 1, padding=0.08)  # room for the 1.0 tick label
        self._plot()

    def _style(self, plot) -> None:
        plot.setLabel("bottom", "epoch")
        plot.showGrid(x=True, y=True, alpha=0.2)
        self.plots_layout.addWidget(plot)

    def plots_ready(self) -> bool:
        return self.metric_plot is not None

    def _reset(self) -> None:
        self.rows: list[dict] = []
        self._last_samples = ""
        self.epochs = 0
        self.start_epoch = 0
        self.t_started = time.time()
        self.epoch_bar.setValue(0)
        self.run_bar.setValue(0)
        self.what = "Training"  # what failed, in the status line
        self._show_fit(False)
        for c in self.curves.values():
            c.setData([], [])
        self.log.clear()

    # ---- binding -----------------------------------------------------------------------
    def attach(self, proc: RunProcess) -> None:
        """Follow ``proc``; replays what it already received."""
        if self.proc is not None:
            for sig, slot in ((self.proc.event, self.on_event), (self.proc.log, self.on_log),
                              (self.proc.ended, self.on_ended)):
                try:
                    sig.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass
        self.proc = proc
        self._reset()
        self.t_started = proc.started_at
        # shown with ~ for the home folder; the child runs with the absolute paths
        self.log.appendPlainText("$ " + home_short(quote(["polypviewer", *proc.argv[3:]])))
        for line in proc.log_lines:
            self.on_log(line)
        for ev in proc.events:
            self.on_event(ev, replay=True)
        if self._last_samples:
            self.show_samples(self._last_samples)
        proc.event.connect(self.on_event)
        proc.log.connect(self.on_log)
        proc.ended.connect(self.on_ended)
        if proc.running:
            self.status.setText(f"running: {proc.run_dir.name}")
            self.status.setStyleSheet("")
            self.cancel_btn.setEnabled(True)
        else:
            self.on_ended(proc.status, proc.message, notify=False)

    def cancel(self) -> None:
        if self.proc is not None:
            self.cancel_btn.setEnabled(False)
            self.status.setText("cancelling (the run stops after the current batch) ...")
            self.proc.cancel()

    # ---- events ------------------------------------------------------------------------
    def on_log(self, text: str) -> None:
        self.log.appendPlainText(home_short(text))

    def on_event(self, ev, replay: bool = False) -> None:
        d = ev.data
        tag = f"trial {d['trial']}: " if "trial" in d else ""
        if ev.kind == "run_started":
            self.epochs, self.start_epoch = int(d.get("epochs", 0)), int(d.get("start_epoch", 0))
            fit = d.get("task") == "cadx"
            self._show_fit(fit)
            if fit:
                self.what = "The neoplastic head fit"
                self.status.setText(
                    f"fitting the neoplastic head of {home_short(str(d.get('init_from')))} at "
                    f"{', '.join(str(v) for v in d.get('sizes', []))} px on the "
                    f"{d.get('device')}: {d.get('n_train')} train / {d.get('n_val')} holdout images")
            else:
                self.status.setText(f"{tag}training on {d.get('device')}: {d.get('n_train')} "
                                    f"train / {d.get('n_val')} val images")
            self.run_bar.setRange(0, max(1, self.epochs))
            self.run_bar.setValue(self.start_epoch)
        elif ev.kind == "epoch_progress":
            self.epoch_bar.setRange(0, max(1, int(d["steps"])))
            self.epoch_bar.setValue(int(d["step"]))
            self.epoch_bar.setFormat(
                f"{d['label']}: %v/%m batches" if "label" in d else
                f"epoch {d['epoch'] + 1}: %v/%m  loss {d['loss']:.4f}")
            self.run_bar.setValue(int(d["epoch"]) + (d["step"] >= d["steps"]))
            self.epoch_eta.setText(f"ETA {format_duration(d.get('eta_s', 0))}")
            self._run_eta(d["epoch"] + d["step"] / max(1, d["steps"]))
        elif ev.kind == "epoch_metrics":
            self.rows.append(d)
            self.run_bar.setValue(int(d["epoch"]) + 1)
            self._run_eta(int(d["epoch"]) + 1)
            self._plot()
        elif ev.kind == "samples":
            self._last_samples = d.get("path", "")
            if not replay:
                self.show_samples(self._last_samples)
        elif ev.kind in ("cancelled", "cv_summary"):
            self.on_log(tag + str(d.get("message", ev.kind)))
        elif ev.kind == "failed":
            self.on_log(f"{tag}failed: {d.get('error')}")

    def _show_fit(self, fit: bool) -> None:
        """A fit's passes in the bars, its log below; no curves or samples to show."""
        self.plots.setVisible(not fit)
        self.samples.setVisible(not fit)
        self.bar_labels[0].setText("Pass" if fit else "Epoch")
        self.run_bar.setFormat("%v / %m passes" if fit else "%v / %m epochs")

    def _run_eta(self, done_epochs: float) -> None:
        todo = self.epochs - done_epochs
        done_here = done_epochs - self.start_epoch
        if done_here <= 0 or self.epochs <= 0:
            return
        per_epoch = (time.time() - self.t_started) / done_here
        self.run_eta.setText(f"ETA {format_duration(per_epoch * max(0.0, todo))}")

    def _plot(self) -> None:
        if not self.plots_ready():
            return  # _make_metric_plot draws what came meanwhile
        for key, (plot, name, colour) in SERIES.items():
            pts = [(r["epoch"] + 1, r[key]) for r in self.rows if key in r]
            if not pts:
                continue
            if key not in self.curves:
                target = self.loss_plot if plot == "loss" else self.metric_plot
                self.curves[key] = target.plot([], [], name=name, pen=pg.mkPen(colour, width=2),
                                               symbol="o", symbolSize=5, symbolBrush=colour)
            xs, ys = zip(*pts)
            self.curves[key].setData(list(xs), list(ys))

    def curve_points(self, key: str) -> int:
        """How many points a curve shows (for tests and the status line)."""
        c = self.curves.get(key)
        return 0 if c is None or c.xData is None else len(c.xData)

    def show_samples(self, path: str) -> None:
        pix = QPixmap(path)
        if pix.isNull():
            return
        self.samples_path = path
        self.samples.set_source(pix)

    def on_ended(self, status: str, message: str, notify: bool = True) -> None:
        self.cancel_btn.setEnabled(False)
        if status == "finished":
            self.status.setText("finished")
            self.status.setStyleSheet("color: #2a7d2a;")
            self.epoch_eta.setText("")
            self.run_eta.setText("done")
        elif status == "cancelled":
            self.status.setText(home_short(message) or "cancelled")
            self.status.setStyleSheet("color: #a06000;")
        else:
            self.status.setText(f"{self.what} failed: {home_short(message)}")
            self.status.setStyleSheet("color: #c0392b; font-weight: bold;")
        if notify:
            self.ended.emit(status, message)
