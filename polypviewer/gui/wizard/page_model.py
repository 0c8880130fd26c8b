"""Wizard pages 2 and 3: task and model (architecture, encoder, size, starting weights), split.

Only encoders whose ImageNet weights ship offline (``available_pretrained``) can start
pretrained; any other encoder trains from scratch. Fine-tuning takes the network shape from
the chosen model file, since the run must rebuild exactly that network. The neoplastic head
fit starts from such a model too, and takes nothing else from this page but its own options.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from ...engine.models.factory import ARCHS
from ...engine.models.pretrained import available_pretrained
from ...engine.models.registry import list_models
from ..workers import Task
from .page_cadx import CadxOptions
from .spec import PRESETS

SCRATCH_ENCODERS = ("resnet18", "resnet34", "mobilenet_v2", "efficientnet-b0")
TASKS = (("polyp", "Polyp segmentation (with frame-classification head)"),
         ("other", "Another target with the same engine (segmentation, e.g. instruments)"),
         ("classify", "Frame classification only (one folder per class)"),
         ("cadx", "Neoplastic head fit (research): fit the neoplastic head of a trained model "
                  "on the classes/ maps, as the bundled models' heads are made"))
NO_CLASSES = ("None of the datasets has a classes/ folder (0 background, 1 neoplastic, "
              "2 non-neoplastic): the neoplastic head fit needs at least one.")


def _radio_group(parent: QWidget, items) -> tuple[QButtonGroup, dict[str, QRadioButton]]:
    group, buttons = QButtonGroup(parent), {}
    for key, text in items:
        buttons[key] = QRadioButton(text)
        group.addButton(buttons[key])
    return group, buttons


class ModelPage(QWizardPage):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTitle("Task and model")
        self.pretrained = available_pretrained()
        self.task_group, self.task_btn = _radio_group(self, TASKS)
        self.task_btn["polyp"].setChecked(True)
        self.target = QLineEdit("polyp")
        self.arch = QComboBox()
        self.arch.addItems(list(ARCHS))
        self.encoder = QComboBox()
        self.size = QSpinBox(minimum=64, maximum=1024, singleStep=32, value=256)
        self.size.setSuffix(" px")
        self.size_note = QLabel()
        self.size_note.setObjectName("frameinfo")
        self._preset_setting = False
        self.size.valueChanged.connect(self._size_edited)
        self.init_group, self.init_btn = _radio_group(self, (
            ("imagenet", "Start from ImageNet weights"), ("scratch", "From scratch (random weights)"),
            ("model", "Fine-tune an existing model")))
        self.init_btn["imagenet"].setChecked(True)
        self.base_model = QComboBox()
        self.base_model.setPlaceholderText("finding the models…")
        self._base_meta: dict[str, dict] = {}  # model path -> metadata, read by the scan
        self.models_task: Task | None = Task.call(list_models, "models", self)
        self.models_task.finished.connect(self._models_found)
        self.models_task.failed.connect(self._models_failed)
        self.models_task.start()  # reading the models folders is file I/O: not on the UI thread
        self.cadx_options = CadxOptions()
        self.cadx_options.changed.connect(self._refresh)
        self.note = QLabel()
        self.note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Target name", self.target)
        form.addRow("Architecture", self.arch)
        form.addRow("Encoder", self.encoder)
        form.addRow("Input size", self.size)
        form.addRow("", self.size_note)
        lay = QVBoxLayout(self)
        for b in self.task_btn.values():
            lay.addWidget(b)
        lay.addLayout(form)
        for key, b in self.init_btn.items():
            if key == "model":
                row = QHBoxLayout()
                row.addWidget(b)
                row.addWidget(self.base_model, 1)
                lay.addLayout(row)
            else:
                lay.addWidget(b)
        lay.addWidget(self.cadx_options)
        lay.addWidget(self.note)
        lay.addStretch(1)
        self.task_group.buttonToggled.connect(self._refresh)
        self.init_group.buttonToggled.connect(self._refresh)
        self.encoder.currentIndexChanged.connect(self._refresh)
        self.base_model.currentIndexChanged.connect(self._refresh)
        self._fill_encoders()

    def initializePage(self) -> None:
        sp = self.wizard().settings_page  # None only in the wizard's first turns
        if sp is not None and sp.preset.currentText() in PRESETS and sp.preset_size:
            self.show_preset_size(sp.preset_size, sp.preset.currentText())
        data = self.wizard().data_page
        classify = data.layout_kind == "classify"
        self.task_btn["classify"].setEnabled(classify)
        for key in ("polyp", "other", "cadx"):
            self.task_btn[key].setEnabled(not classify)
        if classify:
            self.task_btn["classify"].setChecked(True)
        elif self.task_btn["classify"].isChecked() or (
                self.task_btn["cadx"].isChecked() and not self.task_btn["cadx"].isEnabled()):
            self.task_btn["polyp"].setChecked(True)
        self._refresh()

    def show_preset_size(self, size: int | None, preset: str = "") -> None:
        """The size the chosen preset will train at, so this page shows the real one."""
        if size is None:
            self.size_note.setText("")
            return
        self._preset_setting = True
        self.size.setValue(int(size))
        self._preset_setting = False
        self.size_note.setText(f"set by the preset “{preset}” (Settings page); changing it "
                               "makes the settings Custom")

    def _size_edited(self, _value: int) -> None:
        wiz = self.wizard()
        if not self._preset_setting and wiz is not None and wiz.settings_page is not None:
            wiz.settings_page._custom()
            self.size_note.setText("")

    def task(self) -> str:
        return next(k for k, b in self.task_btn.items() if b.isChecked())

    def init(self) -> str:
        return next(k for k, b in self.init_btn.items() if b.isChecked())

    def _fill_encoders(self) -> None:
        current = self.encoder.currentText()
        self.encoder.blockSignals(True)
        self.encoder.clear()
        for e in self.pretrained:
            self.encoder.addItem(e)
        for e in SCRATCH_ENCODERS:
            self.encoder.addItem(f"{e}", e)
        if self.task() == "classify":
            self.encoder.addItem("small_cnn")
        idx = self.encoder.findText(current)
        self.encoder.setCurrentIndex(max(0, idx))
        self.encoder.blockSignals(False)

    def _refresh(self, *_) -> None:
        if self.encoder.count() != len(self.pretrained) + len(SCRATCH_ENCODERS) + \
                (self.task() == "classify"):
            self._fill_encoders()
        task, enc = self.task(), self.encoder.currentText()
        cadx = task == "cadx"  # the network, size and weights are the chosen model's
        self.target.setEnabled(task == "other")
        self.arch.setEnabled(task not in ("classify", "cadx"))
        for w in (self.encoder, self.size):
            w.setEnabled(not cadx)
        can_pretrain = enc in self.pretrained
        self.init_btn["imagenet"].setEnabled(can_pretrain and not cadx)
        self.init_btn["scratch"].setEnabled(not cadx)
        if not can_pretrain and self.init() == "imagenet":
            self.init_btn["scratch"].setChecked(True)
        fine = task != "classify" and self.base_model.count() > 0
        self.init_btn["model"].setEnabled(fine)
        if not fine and self.init() == "model":
            self.init_btn["scratch"].setChecked(True)
        if cadx and fine:
            self.init_btn["model"].setChecked(True)
        self.base_model.setEnabled(self.init() == "model")
        self.cadx_options.setVisible(cadx)
        if self.wizard() is not None:
            self.wizard().data_page.set_fit_task(cadx)
        self.cadx_options.set_model_size(self.base_meta().get("config", {}).get("input_size"))
        notes = self._cadx_notes() if cadx else []
        if not can_pretrain and not cadx:
            notes.append(f"{enc} has no offline ImageNet weights here, so it trains from scratch "
                         f"(offline weights: {', '.join(self.pretrained) or 'none installed'}).")
        if self.init() == "model" and not cadx:
            meta = self.base_meta()
            if meta:
                cfg = meta.get("config", {})
                notes.append(f"Fine-tuning keeps the network of {meta.get('name')}: "
                             f"{cfg.get('arch')} / {cfg.get('encoder')}.")
        self.note.setText(" ".join(notes))
        self.completeChanged.emit()

    def _with_classes(self) -> bool:
        wiz = self.wizard()
        return wiz is not None and bool(wiz.data_page.with_classes)

    def _cadx_notes(self) -> list[str]:
        """Why Next waits, else what the fit does."""
        if self.base_model.count() == 0:
            return ["The neoplastic head fit starts from a trained model, and none was found: "
                    "train or register one first."]
        if not self._with_classes():
            return [NO_CLASSES]
        if not self.base_meta():
            return ["Choose the trained model whose neoplastic head is fitted (beside "
                    "'Fine-tune an existing model')."]
        if not self.cadx_options.sizes():
            return ["Tick at least one size to pool the polyps at."]
        return [f"The fit keeps the network and segmentation of {self.base_meta().get('name')} "
                "bit for bit and fits its neoplastic head, in closed form on the CPU (minutes), "
                "on the training polyps of the datasets with classes/; there are no epochs, "
                "learning rate, loss or augmentation to set."]

    def _models_found(self, _task, entries) -> None:
        self.models_task = None
        self.base_model.setPlaceholderText("no model to fine-tune")
        for e in entries:
            self.base_model.addItem(f"{e.name} ({e.source})", str(e.path))
            self._base_meta[str(e.path)] = e.metadata
        self._refresh()

    def _models_failed(self, _task, message: str) -> None:
        self.models_task = None
        self.base_model.setPlaceholderText("models not readable")
        self.note.setText(f"The models could not be listed: {message}")

    def base_meta(self) -> dict:
        """The chosen model's metadata as the scan read it ({} for none)."""
        return self._base_meta.get(self.base_model.currentData() or "", {})

    def isComplete(self) -> bool:
        if self.task() == "other" and not self.target.text().strip():
            return False
        if self.task() == "cadx" and not (self.init() == "model" and self._with_classes()
                                          and self.cadx_options.sizes()):
            return False
        return not (self.init() == "model" and not self.base_meta())

    def apply(self, spec) -> None:
        spec.task = self.task() if self.task() in ("classify", "cadx") else "segment"
        spec.target = "polyp" if self.task() == "polyp" else self.target.text().strip()
        spec.cls_head = self.task() == "polyp"
        spec.arch, spec.encoder, spec.size = self.arch.currentText(), self.encoder.currentText(), \
            self.size.value()
        spec.init = self.init()
        spec.init_from = None
        if spec.init == "model":
            meta = self.base_meta()
            cfg = meta.get("config", {})
            spec.init_from = str(Path(self.base_model.currentData()))
            spec.arch, spec.encoder = cfg.get("arch", spec.arch), cfg.get("encoder", spec.encoder)
            spec.cls_head = bool(cfg.get("classification_head", spec.cls_head))
            dec = cfg.get("decoder_channels")
            spec.decoder_channels = tuple(dec) if dec else None
        if spec.task == "cadx":
            spec.size = int(self.base_meta().get("config", {}).get("input_size", spec.size))
            self.cadx_options.apply(spec)


class SplitPage(QWizardPage):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTitle("Training / validation split")
        self.group, self.btn = _radio_group(self, (
            ("files", "The dataset's split files (splits/)"),
            ("random", "Seeded random split"), ("kfold", "k-fold cross-validation")))
        self.btn["random"].setChecked(True)
        self.train_file, self.val_file = QComboBox(), QComboBox()
        self.val_pct = QDoubleSpinBox(minimum=1, maximum=90, value=20, decimals=0, suffix=" %")
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=42)
        self.folds = QSpinBox(minimum=2, maximum=20, value=5)
        form = QFormLayout()
        form.addRow(self.btn["files"])
        form.addRow("  training stems", self.train_file)
        form.addRow("  validation stems", self.val_file)
        form.addRow(self.btn["random"])
        form.addRow("  validation share", self.val_pct)
        form.addRow("  seed", self.seed)
        form.addRow(self.btn["kfold"])
        form.addRow("  folds (K)", self.folds)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addStretch(1)
        self.group.buttonToggled.connect(lambda *_: self.completeChanged.emit())

    def initializePage(self) -> None:
        roots = self.wizard().data_page.datasets()
        files = sorted((Path(roots[0]) / "splits").glob("*.txt")) if roots else []
        for combo, none in ((self.train_file, "(all images)"), (self.val_file, "(random share)")):
            combo.clear()
            combo.addItem(none, None)
            for f in files:
                combo.addItem(f.name, str(f))
        segment = self.wizard().model_page.task() != "classify"
        self.btn["files"].setEnabled(bool(files) and segment)
        # cross-validation pools datasets; it cannot take sources (negatives, shares, classes/)
        self.btn["kfold"].setEnabled(segment and not self.wizard().spec().uses_sources)
        for key in ("files", "kfold"):
            if self.btn[key].isChecked() and not self.btn[key].isEnabled():
                self.btn["random"].setChecked(True)
        if files and segment:
            names = [f.stem for f in files]
            self.train_file.setCurrentIndex(1 + names.index("train") if "train" in names else 0)
            val = next((n for n in ("val", "valid", "validation") if n in names), None)
            self.val_file.setCurrentIndex(1 + names.index(val) if val else 0)

    def mode(self) -> str:
        return next(k for k, b in self.btn.items() if b.isChecked())

    def apply(self, spec) -> None:
        spec.split = self.mode()
        spec.train_split = self.train_file.currentData() if spec.split == "files" else None
        spec.val_split = self.val_file.currentData() if spec.split == "files" else None
        spec.val_fraction = self.val_pct.value() / 100
        spec.seed = self.seed.value()
        spec.folds = self.folds.value()
