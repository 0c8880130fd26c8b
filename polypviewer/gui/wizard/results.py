"""A finished run: metrics, plots, comparison with the current model, Register and Use now.

Used as the wizard's last page and on its own from the Runs panel. The comparison runs both
models in a worker over the run's validation images (``split.json``). A neoplastic head fit
shows its holdout table instead: its segmentation is its model's, so there is nothing to compare.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..pixmaps import rgb_pixmap
from ..workers import Task
from .compute import compare_models, format_duration
from .register import register_run
from .runs import CADX_FILE
from .widgets import AutoHideLabel, FitPixmapLabel, home_short

PLOTS = (("Curves", "curves.png"), ("Threshold sweep", "threshold_sweep.png"),
         ("Samples", "samples.png"))
METRIC_COLUMNS = 3
WORSE_BY = 0.02  # mean Dice this far below the current model's: Register / Use now ask first
PAIR_SIDE = 120  # px per overlay: the example pairs sit side by side within the wizard's width


def _metrics_html(pairs: list[tuple[str, str]]) -> str:
    """label: value pairs in a few columns, so the plots below keep most of the height."""
    rows = []
    for i in range(0, len(pairs), METRIC_COLUMNS):
        cells = "".join(f"<td style='padding-right: 24px'><b>{label}</b>: {value}</td>"
                        for label, value in pairs[i:i + METRIC_COLUMNS])
        rows.append(f"<tr>{cells}</tr>")
    return f"<table>{''.join(rows)}</table>"


def _value(key: str, v) -> str:
    if key == "train_time_s" and isinstance(v, (int, float)):
        return format_duration(v)
    if key == "best_epoch" and isinstance(v, int):
        return str(v + 1)  # runs count epochs from 0; the plots and the user from 1
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _score(v) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) and v == v else "–"


def cadx_html(fit: dict) -> str:
    """The fit's chosen L2 on the holdout, per size: over the regions the model predicts (what
    the app shows) and over the true polyps."""
    best = next((g for g in fit.get("grid", []) if g.get("l2") == fit.get("l2")), {})
    head = ("<tr><th>size</th><th colspan=3>predicted regions</th>"
            "<th colspan=3>true polyps</th></tr><tr><th></th>"
            + "<th>polyps</th><th>accuracy</th><th>AUC</th>" * 2 + "</tr>")
    rows = []
    for at, v in (best.get("holdout") or {}).items():
        cells = "".join(f"<td>{v[k].get('polyps', 0)}</td><td>{_score(v[k].get('accuracy'))}"
                        f"</td><td>{_score(v[k].get('auc'))}</td>" for k in ("predicted", "truth"))
        rows.append(f"<tr><td>{at} px</td>{cells}</tr>")
    table = (f"<table cellpadding=3>{head}{''.join(rows)}</table>" if rows
             else "<p>No holdout polyps of a known class: nothing to score.</p>")
    model = Path(str(fit.get("init_from", "?"))).stem
    train = best.get("train", {})
    return (f"<p><b>Neoplastic head fit</b> of {model} at "
            f"{', '.join(str(v) for v in fit.get('sizes', []))} px"
            f"{' in the four flips' if fit.get('views') == 'flips' else ''} on "
            f"{train.get('polyps', '?')} training polyps; L2 {fit.get('l2')} chosen by the "
            "holdout AUC over the predicted regions. Holdout, one view:</p>" + table)


def _overlay(rgb: np.ndarray, mask: np.ndarray, side: int = 160) -> QPixmap:
    out = rgb.copy()
    m = mask.astype(bool)
    out[m] = (0.5 * out[m] + 0.5 * np.array([0, 255, 0])).astype(np.uint8)
    return rgb_pixmap(out, side)


class ResultsView(QWidget):
    """``registered(path)`` after Register; ``use_model(path)`` on Use now."""

    registered = Signal(str)
    use_model = Signal(str)

    def __init__(self, current_model=lambda: None, parent: QWidget | None = None):
        super().__init__(parent)
        self.current_model = current_model  # () -> path or name of the app's model, or None
        self.run_dir: Path | None = None
        self.model_path: str | None = None
        self.compare_task: Task | None = None
        self.register_task: Task | None = None
        self.metrics = QLabel()
        self.metrics.setWordWrap(True)
        self.metrics.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tabs = QTabWidget()
        self.tabs.setMinimumHeight(260)
        self.compare_btn = QPushButton("Compare with the current model")
        self.compare_btn.clicked.connect(self.compare)
        self.compare_label = AutoHideLabel()
        self.pairs = QGridLayout()  # one column per example image
        self.pairs.setHorizontalSpacing(16)
        self.name = QLineEdit()
        self.description = QLineEdit()
        self.register_btn = QPushButton("Register")
        self.register_btn.clicked.connect(self.register)
        self.use_btn = QPushButton("Use now")
        self.use_btn.setEnabled(False)
        self.use_btn.clicked.connect(self.use_now)
        self.comparison = None
        self.confirm = lambda title, text: QMessageBox.question(self, title, text) == \
            QMessageBox.StandardButton.Yes  # replaced in tests
        self.register_status = AutoHideLabel()
        self._build()

    def _build(self) -> None:
        self.cmp_box = cmp = QGroupBox("Comparison on the run's validation images")
        cl = QVBoxLayout(cmp)
        cl.addWidget(self.compare_btn)
        cl.addWidget(self.compare_label)
        self.pairs_widget = QWidget()  # shown once a comparison has filled it
        self.pairs_widget.setLayout(self.pairs)
        self.pairs_widget.setVisible(False)
        cl.addWidget(self.pairs_widget)
        reg = QGroupBox("Register the model")
        rl = QFormLayout(reg)
        rl.addRow("Name", self.name)
        rl.addRow("Description", self.description)
        row = QHBoxLayout()
        row.addWidget(self.register_btn)
        row.addWidget(self.use_btn)
        row.addStretch(1)
        rl.addRow(row)
        rl.addRow(self.register_status)
        inner = QWidget()
        lay = QVBoxLayout(inner)
        lay.addWidget(self.metrics)
        lay.addWidget(self.tabs, 2)
        lay.addWidget(cmp)
        lay.addWidget(reg)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    # ---- content -----------------------------------------------------------------------
    def show_run(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.model_path = None
        self.comparison = None
        self.use_btn.setEnabled(False)
        self.register_status.setText("")
        self.compare_label.setText("")
        self._clear_pairs()
        summary = _read_json(self.run_dir / "summary.json") or {}
        keys = (("val_dice_model_res", "validation Dice"), ("val_iou_model_res", "validation IoU"),
                ("threshold", "threshold"), ("val_accuracy", "validation accuracy"),
                ("val_auc", "validation AUC"), ("n_train", "training images"),
                ("n_val", "validation images"), ("epochs_run", "epochs"),
                ("best_epoch", "best epoch"), ("train_time_s", "training time"),
                ("device", "device"))
        pairs = [(label, _value(k, summary[k])) for k, label in keys if k in summary]
        fit = _read_json(self.run_dir / CADX_FILE)
        self.cmp_box.setVisible(fit is None)
        self.metrics.setText(cadx_html(fit) if fit is not None else _metrics_html(pairs) if pairs
                             else "No summary.json: the run has not finished.")
        self.tabs.clear()
        for title, fname in PLOTS:
            pix = QPixmap(str(self.run_dir / fname))
            if not pix.isNull():
                self.tabs.addTab(FitPixmapLabel(pix), title)
        self.tabs.setVisible(self.tabs.count() > 0)  # a fit draws no curves
        finished = (self.run_dir / "model.safetensors").is_file()
        self.register_btn.setEnabled(finished)
        self.compare_btn.setEnabled(finished and (self.run_dir / "split.json").is_file())
        if not self.name.text():
            self.name.setText(self.run_dir.name.split("-", 2)[-1] or self.run_dir.name)

    # ---- compare -----------------------------------------------------------------------
    def compare(self) -> None:
        other = self.current_model()
        if self.run_dir is None or self.compare_task is not None:
            return
        if not other:
            self.compare_label.setText("No model is selected in the viewer to compare with.")
            return
        run, new = self.run_dir, str(self.run_dir / "model.safetensors")
        self.compare_btn.setEnabled(False)
        self.compare_label.setText("running both models on the validation images…")
        self.compare_task = Task(lambda cancel: _compare_gen(run, new, str(other), cancel),
                                 "compare", self)
        self.compare_task.finished.connect(self._compared)
        self.compare_task.failed.connect(self._compare_failed)
        self.compare_task.start()

    def _compared(self, _task, c) -> None:
        self.compare_task = None
        self.compare_btn.setEnabled(True)
        self.comparison = c
        worse = self.worse_note()
        self.compare_label.setText(
            f"Mean Dice over {c.n} validation images: new model ({c.names[0]}) "
            f"{c.mean_dice[0]:.3f}, current model ({c.names[1]}) {c.mean_dice[1]:.3f}."
            + self._headline_note(c.mean_dice[0])
            + (f" {worse}" if worse else "")
            + (" Below, the predicted polyp in green on the first images." if c.pairs else ""))
        self._clear_pairs()
        for k, pair in enumerate(c.pairs):
            self.pairs.addWidget(self._pair_widget(*pair), 0, k)
            self.pairs.setColumnStretch(k, 1)
        self.pairs_widget.setVisible(self.pairs.count() > 0)

    def _pair_widget(self, name, rgb, a, b, da, db) -> QWidget:
        """One image: its name over the new and the current model's prediction, with their Dice."""
        cell = QWidget()
        grid = QGridLayout(cell)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        center = Qt.AlignmentFlag.AlignHCenter
        title = QLabel(self.fontMetrics().elidedText(name, Qt.TextElideMode.ElideMiddle,
                                                     2 * PAIR_SIDE))
        title.setToolTip(name)
        grid.addWidget(title, 0, 0, 1, 2, center)
        for col, (mask, text) in enumerate(((a, f"new: Dice {da:.3f}"),
                                            (b, f"current: Dice {db:.3f}"))):
            image = QLabel()  # a fixed square, so every pair lines up whatever its aspect
            image.setFixedSize(PAIR_SIDE, PAIR_SIDE)
            image.setAlignment(Qt.AlignmentFlag.AlignCenter)
            image.setPixmap(_overlay(rgb, mask, PAIR_SIDE))
            image.setToolTip(f"{name} — {text}")
            grid.addWidget(image, 1, col, center)
            grid.addWidget(QLabel(text), 2, col, center)
        return cell

    def _clear_pairs(self) -> None:
        while self.pairs.count():
            w = self.pairs.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        for k in range(self.pairs.columnCount()):
            self.pairs.setColumnStretch(k, 0)
        self.pairs_widget.setVisible(False)

    def _compare_failed(self, _task, message: str) -> None:
        self.compare_task = None
        self.compare_btn.setEnabled(True)
        self.compare_label.setText(f"Comparison failed: {home_short(message)}")

    def _headline_note(self, compared: float) -> str:
        """Why the headline validation Dice and this comparison's can differ."""
        try:
            summary = json.loads((self.run_dir / "summary.json").read_text(encoding="utf-8"))
            headline = float(summary["val_dice_model_res"])
        except (OSError, ValueError, KeyError, TypeError):
            return ""
        if abs(headline - compared) < 0.01:
            return ""
        return (f" (The headline validation Dice {headline:.3f} scores the images resized to the "
                "model's input size, as training saw them; here each image is scored at its own "
                "size after small regions are dropped, as the viewer shows it, so the two differ.)")

    def worse_note(self) -> str:
        """A warning when the comparison shows the new model clearly below the current one."""
        c = self.comparison
        if c is None or c.mean_dice[0] >= c.mean_dice[1] - WORSE_BY:
            return ""
        return (f"The new model is clearly worse than the current one on these images "
                f"(Dice {c.mean_dice[0]:.3f} vs {c.mean_dice[1]:.3f}).")

    def _confirm_if_worse(self, what: str) -> bool:
        note = self.worse_note()
        return not note or self.confirm(f"{what} a worse model?", f"{note} {what} it anyway?")

    def use_now(self) -> None:
        if self._confirm_if_worse("Use"):
            self.use_model.emit(self.model_path or "")

    # ---- register ----------------------------------------------------------------------
    def register(self) -> None:
        """Register the run's model in a worker (it loads and re-saves the weights)."""
        if self.run_dir is None or self.register_task is not None:
            return
        if not self._confirm_if_worse("Register"):
            return
        name, run = self.name.text().strip(), self.run_dir
        description = self.description.text().strip()
        self.register_btn.setEnabled(False)
        self._register_message(f"Registering '{name}'…")
        task = Task.call(lambda: register_run(run, name, description), "register", self)
        task.name = name
        task.finished.connect(self._registered)
        task.failed.connect(self._register_failed)
        self.register_task = task.start()

    def _registered(self, task, path) -> None:
        self.register_task = None
        self.register_btn.setEnabled(True)
        self.model_path = str(path)
        self.use_btn.setEnabled(True)
        self._register_message(f"Registered as '{task.name}' in {home_short(str(path.parent))}.")
        self.registered.emit(str(path))

    def _register_failed(self, task, message: str) -> None:
        self.register_task = None
        self.register_btn.setEnabled(True)
        # check_name's reasons read as they are; anything else says what failed
        known = message.startswith(("use letters", "a model named"))
        self._register_message(message if known else f"Could not register: {home_short(message)}",
                               error=True)

    def _register_message(self, text: str, error: bool = False) -> None:
        self.register_status.setText(text)
        self.register_status.setStyleSheet("color: #c0392b;" if error else "color: #2a7d2a;")

    def busy(self) -> bool:
        return self.compare_task is not None or self.register_task is not None


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _compare_gen(run: Path, new: str, other: str, cancel):
    return compare_models(run, new, other, device="cpu", cancel=cancel)
    yield  # noqa: B901 - a generator for Task
