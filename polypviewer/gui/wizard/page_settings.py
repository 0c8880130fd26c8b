"""Wizard page 4: presets, advanced settings, augmentation preview, device, Optuna, estimate.

Everything slow (device probing aside) runs in worker threads: the preview decodes images and
the estimate times a few real training batches of the chosen model on the chosen device.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from training.losses import DESCRIPTIONS as LOSS_DESCRIPTIONS
from training.losses import LOSSES

from ..pixmaps import rgb_pixmap
from ..workers import Task
from .compute import augment_preview, dataset_images, devices, estimate_run
from .spec import PRESETS, RunSpec

AUGMENTS = ("none", "light", "medium", "strong")


def default_preset(choices: list[tuple[str, str]]) -> str:
    """The quick preset on a CPU-only machine (30 epochs there take hours), else Balanced."""
    gpu = any(v.startswith("cuda") or v == "mps" for v, _ in choices)
    return "Balanced" if gpu else "Quick check on CPU"


class SettingsPage(QWizardPage):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTitle("Settings")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Start training")
        self.preview_task: Task | None = None
        self.estimate_task: Task | None = None
        self.last_estimate = None
        self.preset = QComboBox()
        self.preset.addItems([*PRESETS, "Custom"])
        self.preset_size: int | None = None
        self.device_choices = devices()
        self.default_preset = default_preset(self.device_choices)
        self.preset.setCurrentText(self.default_preset)
        self.preset.currentTextChanged.connect(self.apply_preset)
        self.name = QLineEdit()
        self.name.setPlaceholderText("run and model name (default: from the dataset)")
        self.description = QLineEdit()
        self.device = QComboBox()
        for value, text in self.device_choices:
            self.device.addItem(text, value)
        self.advanced = QGroupBox("Advanced")
        self.advanced.setCheckable(True)
        self.advanced.setChecked(False)
        self.epochs = QSpinBox(minimum=1, maximum=1000, value=30)
        self.batch = QSpinBox(minimum=1, maximum=512, value=8)
        self.lr = QDoubleSpinBox(decimals=5, minimum=1e-5, maximum=1.0, singleStep=1e-4, value=1e-3)
        self.loss = QComboBox()
        for i, name in enumerate(LOSSES):
            self.loss.addItem(name)
            self.loss.setItemData(i, LOSS_DESCRIPTIONS[name], Qt.ItemDataRole.ToolTipRole)
        self.optimizer = QComboBox()
        self.optimizer.addItems(["adamw", "adam"])
        self.scheduler = QComboBox()
        self.scheduler.addItems(["onecycle", "cosine", "plateau", "none"])
        self.amp = QCheckBox("Mixed precision (CUDA)")
        self.amp.setChecked(True)
        self.early = QSpinBox(minimum=0, maximum=100, value=0, specialValueText="off")
        self.max_images = QSpinBox(minimum=0, maximum=10**6, value=0, specialValueText="all")
        self.workers = QSpinBox(minimum=0, maximum=32, value=1)
        self.augment = QComboBox()
        self.augment.addItems(AUGMENTS)
        self.augment.setCurrentText("medium")
        self.strength = QDoubleSpinBox(minimum=0.0, maximum=2.0, singleStep=0.1, value=1.0)
        self.preview_btn = QPushButton("Preview augmentation")
        self.preview_btn.clicked.connect(self.preview)
        self.preview_grid = QGridLayout()
        self.tune = QGroupBox("Search hyper-parameters with Optuna (learning rate, loss, encoder, "
                              "augmentation strength)")
        self.tune.setCheckable(True)
        self.tune.setChecked(False)
        self.trials = QSpinBox(minimum=1, maximum=500, value=10)
        self.budget = QSpinBox(minimum=0, maximum=7 * 24 * 60, value=0, suffix=" min",
                               specialValueText="no limit")
        self.estimate_btn = QPushButton("Estimate run time")
        self.estimate_btn.clicked.connect(self.estimate)
        self.estimate_label = QLabel()
        self.estimate_label.setWordWrap(True)
        self.cadx_note = QLabel("The neoplastic head fit runs on the CPU in closed form: the "
                                "presets, device, epochs, learning rate, loss, augmentation, "
                                "Optuna and the run-time estimate are for training and are "
                                "not used.")
        self.cadx_note.setWordWrap(True)
        self.cadx_note.hide()
        self._build()
        self.apply_preset(self.default_preset)
        for w in (self.epochs, self.batch, self.lr, self.early, self.max_images, self.strength):
            w.valueChanged.connect(self._custom)
        for w in (self.loss, self.optimizer, self.scheduler, self.augment):
            w.currentTextChanged.connect(self._custom)

    def _build(self) -> None:
        self.top = top = QFormLayout()
        top.addRow("Preset", self.preset)
        top.addRow("Name", self.name)
        top.addRow("Description", self.description)
        top.addRow("Device", self.device)
        adv = QFormLayout(self.advanced)
        for label, w in (("Epochs", self.epochs), ("Batch size", self.batch),
                         ("Learning rate", self.lr), ("Loss", self.loss),
                         ("Optimiser", self.optimizer), ("Scheduler", self.scheduler),
                         ("", self.amp), ("Early stopping (epochs)", self.early),
                         ("Max training images", self.max_images),
                         ("Data loader processes", self.workers),
                         ("Augmentation", self.augment), ("Strength", self.strength)):
            adv.addRow(label, w)
        adv.addRow(self.preview_btn)
        grid = QWidget()
        grid.setLayout(self.preview_grid)
        adv.addRow(grid)
        tf = QFormLayout(self.tune)
        tf.addRow("Trials", self.trials)
        tf.addRow("Time budget", self.budget)
        est = QHBoxLayout()
        est.addWidget(self.estimate_btn)
        est.addWidget(self.estimate_label, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.advanced)
        lay.addWidget(self.tune)
        lay.addLayout(est)
        lay.addWidget(self.cadx_note)
        lay.addStretch(1)

    # ---- presets -----------------------------------------------------------------------
    def apply_preset(self, name: str) -> None:
        if name not in PRESETS:
            return
        p = PRESETS[name]
        self._applying = True
        self.epochs.setValue(p["epochs"])
        self.batch.setValue(p["batch_size"])
        self.augment.setCurrentText(p["augment"])
        self.max_images.setValue(p["max_train_images"] or 0)
        self.amp.setChecked(p["amp"])
        idx = self.device.findData(p["device"])
        self.device.setCurrentIndex(idx if idx >= 0 else 0)
        self.preset_size = p["size"]
        self._applying = False
        self.preset.setCurrentText(name)
        wiz = self.wizard()
        if wiz is not None:  # the Task page shows the size this preset trains at
            wiz.model_page.show_preset_size(p["size"], name)

    def _custom(self, *_) -> None:
        if not getattr(self, "_applying", False) and self.preset.currentText() != "Custom":
            self.preset_size = None
            wiz = self.wizard()
            if wiz is not None:
                wiz.model_page.show_preset_size(None)
            self.preset.blockSignals(True)
            self.preset.setCurrentText("Custom")
            self.preset.blockSignals(False)

    def initializePage(self) -> None:
        wiz = self.wizard()
        segment = wiz.model_page.task() != "classify"
        # tune pools datasets: no sources (negatives, equal shares, the neoplastic channel)
        self.tune.setEnabled(segment and not wiz.spec().uses_sources)
        self.show_for_task(wiz.model_page.task())
        if not self.name.text():
            roots = wiz.data_page.datasets()
            target = wiz.model_page.target.text() if wiz.model_page.task() == "other" else ""
            if wiz.model_page.task() == "cadx":  # the fitted model, named after the one it extends
                target = f"{wiz.model_page.base_meta().get('name', 'model')}-neoplastic-head"
                roots = []
            self.name.setText("-".join(x for x in (target, Path(roots[0]).name if roots else "") if x))

    def show_for_task(self, task: str) -> None:
        """The neoplastic head fit reads none of the training settings: they are hidden."""
        fit = task == "cadx"
        for w in (self.preset, self.device):
            self.top.setRowVisible(w, not fit)
        for w in (self.advanced, self.tune, self.estimate_btn, self.estimate_label):
            w.setVisible(not fit)
        self.cadx_note.setVisible(fit)
        self.setButtonText(QWizard.WizardButton.CommitButton,
                           "Start the fit" if fit else "Start training")

    def apply(self, spec: RunSpec) -> None:
        spec.epochs, spec.batch_size, spec.lr = self.epochs.value(), self.batch.value(), self.lr.value()
        spec.loss, spec.optimizer = self.loss.currentText(), self.optimizer.currentText()
        spec.scheduler, spec.amp = self.scheduler.currentText(), self.amp.isChecked()
        spec.early_stopping = self.early.value()
        spec.max_train_images = self.max_images.value() or None
        spec.workers = self.workers.value()
        spec.augment, spec.augment_strength = self.augment.currentText(), self.strength.value()
        spec.device = self.device.currentData()
        spec.tune = self.tune.isChecked() and self.tune.isEnabled()
        spec.trials = self.trials.value()
        spec.tune_timeout_s = self.budget.value() * 60 or None
        spec.name, spec.description = self.name.text().strip(), self.description.text().strip()
        if getattr(self, "preset_size", None) and self.preset.currentText() in PRESETS \
                and spec.task != "cadx":  # the fit pools at the model's own size
            spec.size = self.preset_size

    # ---- preview and estimate ----------------------------------------------------------
    def preview(self) -> None:
        spec = self.wizard().spec()
        images = dataset_images(spec.datasets, 3)
        if not images or self.preview_task is not None:
            return
        self.preview_btn.setEnabled(False)
        self.preview_task = Task.call(lambda: augment_preview(
            images, spec.augment, spec.size, spec.augment_strength), "aug-preview", self)
        self.preview_task.finished.connect(self._preview_done)
        self.preview_task.failed.connect(self._preview_failed)
        self.preview_task.start()

    def _clear_preview(self) -> None:
        while self.preview_grid.count():
            w = self.preview_grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()

    def _preview_done(self, _task, tiles: list[np.ndarray]) -> None:
        self.preview_task = None
        self.preview_btn.setEnabled(True)
        self._clear_preview()
        for i, tile in enumerate(tiles):
            label = QLabel()
            label.setPixmap(rgb_pixmap(tile, 120))
            label.setToolTip("original (letterboxed)" if i % 4 == 0 else "augmented")
            self.preview_grid.addWidget(label, i // 4, i % 4)
        self.preview_tiles = len(tiles)

    def _preview_failed(self, _task, message: str) -> None:
        self.preview_task = None
        self.preview_btn.setEnabled(True)
        self.estimate_label.setText(f"Preview failed: {message}")

    def estimate(self) -> None:
        if self.estimate_task is not None:
            return
        wiz = self.wizard()
        spec = wiz.spec()
        rep = wiz.data_page.report
        n = sum(int(c.get("images", sum(v for v in c.values() if isinstance(v, int))))
                for c in rep.counts.values()) if rep is not None else 0
        self.estimate_btn.setEnabled(False)
        self.estimate_label.setText("timing 3 batches of the chosen model…")
        self.estimate_task = Task.call(lambda: estimate_run(spec, n), "estimate", self)
        self.estimate_task.finished.connect(self._estimated)
        self.estimate_task.failed.connect(self._estimate_failed)
        self.estimate_task.start()

    def _estimated(self, _task, est) -> None:
        self.estimate_task = None
        self.last_estimate = est  # scripts/wizard_demo.py sets it against the real run
        self.estimate_btn.setEnabled(True)
        self.estimate_label.setText("Estimated run time: " + est.text())

    def _estimate_failed(self, _task, message: str) -> None:
        self.estimate_task = None
        self.estimate_btn.setEnabled(True)
        self.estimate_label.setText(f"Could not estimate: {message}")

    def busy(self) -> bool:
        return self.preview_task is not None or self.estimate_task is not None
