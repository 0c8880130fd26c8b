"""Wizard page 1: pick dataset folders; they are checked (training.validate) in a worker and the
report is shown inline. A fatal problem keeps Next disabled and says why.

A segmentation folder without ``masks/`` (or a plain image folder) is a negatives source, as
``polypviewer train --source`` trains it; with several datasets or any negatives the page asks
how they mix, and offers the neoplastic channel when a dataset has ``classes/``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWizardPage,
)

from ...paths import user_data_dir
from ..workers import Task
from .widgets import home_short

PATH_ROLE = Qt.ItemDataRole.UserRole  # the real folder; the item text shows it with ~


MIXES = (("pooled", "pooled by image count"), ("balanced", "each dataset an equal share"))
FRAMED_SHARE = 0.5  # of the negative draws, when "as whole frames" is ticked


def _validate(roots: list[str]):
    """(report, layout, negatives, datasets with classes/); runs in a worker thread."""
    from training.validate import (
        FATAL,
        is_classification_dataset,
        is_negative_source,
        validate_datasets,
    )

    # images/ without masks/ would read as one class folder; training takes it as negatives
    layouts = ["classify" if not is_negative_source(r) and is_classification_dataset(r)
               else "segment" for r in roots]
    task = layouts[0] if len(set(layouts)) == 1 else "segment"
    rep = validate_datasets(roots, task=task, negatives=task == "segment")
    negatives = [r for r in roots if task == "segment" and is_negative_source(r)]
    if negatives and len(negatives) == len(roots):
        rep.add(FATAL, roots[0], "only negatives: add a dataset with masks/", "only negatives")
    classes = [r for r in roots if task == "segment" and r not in negatives
               and (Path(r) / "classes").is_dir()]
    return rep, task, negatives, classes


def _eda(root: str, out: Path) -> Path:
    from training.eda import run_eda

    run_eda(root, out, workers=1)
    return out / "eda.html"


class DataPage(QWizardPage):
    """Exposes ``datasets()``, ``report`` (training.validate.Report) and ``layout``."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTitle("Data")
        self.setSubTitle("Dataset folders: images/ + masks/ for segmentation, or one folder per "
                         "class for frame classification. A folder without masks/ is negatives "
                         "(no polyp). Several folders are pooled or each given an equal share.")
        self.report = None
        self.layout_kind = "segment"
        self.negatives: list[str] = []  # datasets trained as "no polyp" images
        self.with_classes: list[str] = []  # datasets whose classes/ can train --cadx
        self.fit_task = False  # the Task page chose the neoplastic head fit, which trains nothing
        self.task: Task | None = None
        self.eda_task: Task | None = None
        self.open_url = QDesktopServices.openUrl  # replaced in tests
        self.list = QListWidget()
        add, remove = QPushButton("Add folder…"), QPushButton("Remove")
        add.clicked.connect(self._browse)
        remove.clicked.connect(self._remove_selected)
        self.eda_btn = QPushButton("Dataset report (EDA)…")
        self.eda_btn.setToolTip("Image sizes, mask coverage, polyps per image and tests; opens in "
                                "the browser")
        self.eda_btn.clicked.connect(self.run_eda)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.reason = QLabel()
        self.reason.setWordWrap(True)
        self.reason.setStyleSheet("color: #c0392b;")
        self.problems = QTreeWidget()
        self.problems.setHeaderLabels(["severity", "problem", "file", "details"])
        self.problems.setRootIsDecorated(False)
        self.mix_label = QLabel("Datasets:")
        self.mix = QComboBox()
        for value, text in MIXES:
            self.mix.addItem(text, value)
        self.mix.setToolTip("Pooled: every image is drawn equally, so a large dataset dominates. "
                            "Equal share: each dataset is drawn as often (weight 1 each); "
                            "required when a dataset is negatives.")
        self.cadx = QCheckBox("Neoplastic channel (research)")
        self.cadx.setToolTip("Also train the neoplastic-probability channel on the classes/ "
                             "maps of the datasets that have them (--cadx)")
        self.framed = QCheckBox("Half the negatives as whole frames")
        self.framed.setChecked(True)
        self.framed.setToolTip("Shows half of the no-polyp draws with a scope's black surround, "
                               "text and position box, so the frame verdict cannot learn 'border "
                               "and text = polyp' from the positives (--framed-negatives 0.5)")
        mix_row = QHBoxLayout()
        for w in (self.mix_label, self.mix, self.cadx, self.framed):
            mix_row.addWidget(w)
        mix_row.addStretch(1)
        self._show_mix_choices()
        buttons = QHBoxLayout()
        for b in (add, remove, self.eda_btn):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.list, 1)
        lay.addLayout(buttons)
        lay.addLayout(mix_row)
        lay.addWidget(self.summary)
        lay.addWidget(self.reason)
        lay.addWidget(self.problems, 2)

    # ---- datasets ----------------------------------------------------------------------
    def datasets(self) -> list[str]:
        return [self.list.item(i).data(PATH_ROLE) for i in range(self.list.count())]

    def add_dataset(self, path: str | Path) -> None:
        path = str(Path(path))
        if path not in self.datasets():
            item = QListWidgetItem(home_short(path))
            item.setData(PATH_ROLE, path)
            self.list.addItem(item)
            self.revalidate()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Dataset folder")
        if folder:
            self.add_dataset(folder)

    def _remove_selected(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))
        self.revalidate()

    # ---- validation --------------------------------------------------------------------
    def busy(self) -> bool:
        return self.task is not None

    def set_fit_task(self, fit: bool) -> None:
        if fit != self.fit_task:
            self.fit_task = fit
            self._show_mix_choices()

    def _show_mix_choices(self) -> None:
        """The mix combo only where there is a choice; negatives force an equal share, since
        a pooled run reads masks for every image. None of these choices is the neoplastic
        head fit's (it draws nothing and trains no channel): hidden for it."""
        segment = self.report is not None and self.layout_kind == "segment" \
            and not self.fit_task
        many = len(self.datasets()) > 1 or bool(self.negatives)
        for w in (self.mix_label, self.mix):
            w.setVisible(segment and many)
        pooled = self.mix.model().item(0)
        pooled.setEnabled(not self.negatives)
        if self.negatives:
            self.mix.setCurrentIndex(1)
        self.framed.setVisible(segment and bool(self.negatives))
        self.cadx.setVisible(segment)
        self.cadx.setEnabled(segment and bool(self.with_classes))
        if not self.cadx.isEnabled():
            self.cadx.setChecked(False)

    def apply(self, spec) -> None:
        spec.negatives = list(self.negatives)
        spec.mix = self.mix.currentData() if self.mix.isVisibleTo(self) else "pooled"
        if spec.negatives:
            spec.mix = "balanced"
        spec.cadx = self.cadx.isEnabled() and self.cadx.isChecked()
        spec.framed_negatives = FRAMED_SHARE if spec.negatives and self.framed.isChecked() else 0.0

    def revalidate(self) -> None:
        self.report = None
        self.negatives, self.with_classes = [], []
        self._show_mix_choices()
        self.problems.clear()
        roots = self.datasets()
        self.summary.setText("checking the dataset…" if roots else "")
        self.reason.setText("" if roots else "Add at least one dataset folder.")
        if self.task is not None:
            self.task.cancel()
        self.task = None
        if roots:
            self.task = Task.call(lambda: _validate(roots), "validate", self)
            self.task.finished.connect(self._validated)
            self.task.failed.connect(self._validation_failed)
            self.task.start()
        self.completeChanged.emit()

    def _validated(self, task, result) -> None:
        if task is not self.task:
            return  # a newer check replaced this one
        self.task = None
        self.report, self.layout_kind, self.negatives, self.with_classes = result
        rep = self.report
        lines = [f"{Path(root).name}: " + ("negatives (no masks), " if root in self.negatives
                                           else "")
                 + ", ".join(f"{v} {k}" for k, v in c.items() if k != "negatives")
                 + (", classes/ (neoplastic maps)" if root in self.with_classes else "")
                 for root, c in rep.counts.items()]
        kind = "frame classification (class folders)" if self.layout_kind == "classify" \
            else "segmentation (images + masks)"
        lines.append(f"Layout: {kind}. {len(rep.fatal)} fatal problem(s), "
                     f"{len(rep.warnings)} warning(s).")
        self.summary.setText("\n".join(lines))
        self._show_mix_choices()
        for p in rep.fatal + rep.warnings:
            item = QTreeWidgetItem([p.severity, p.kind, home_short(p.file), home_short(p.message)])
            if p.severity == "fatal":
                item.setForeground(0, Qt.GlobalColor.red)
            self.problems.addTopLevelItem(item)
        self.problems.resizeColumnToContents(0)
        self.problems.resizeColumnToContents(1)
        if rep.fatal:
            first = rep.summary_lines("fatal", per_kind=1)
            self.reason.setText("Cannot train on this data: " + home_short("; ".join(first)))
        else:
            self.reason.setText("")
        self.completeChanged.emit()

    def _validation_failed(self, task, message: str) -> None:
        if task is not self.task:
            return
        self.task = None
        self.reason.setText(f"The dataset check failed: {home_short(message)}")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return bool(self.datasets()) and self.task is None and self.report is not None \
            and self.report.ok

    # ---- EDA ---------------------------------------------------------------------------
    def run_eda(self) -> None:
        roots = self.datasets()
        if not roots or self.eda_task is not None:
            return
        if self.layout_kind != "segment":
            self.summary.setText(self.summary.text() + "\nThe EDA report is for segmentation "
                                 "datasets (images + masks).")
            return
        out = user_data_dir() / "eda" / Path(roots[0]).name
        self.eda_btn.setEnabled(False)
        self.eda_btn.setText("Writing the dataset report…")
        self.eda_task = Task.call(lambda: _eda(roots[0], out), "eda", self)
        self.eda_task.finished.connect(self._eda_done)
        self.eda_task.failed.connect(self._eda_failed)
        self.eda_task.start()

    def _eda_done(self, _task, html: Path) -> None:
        self.eda_task = None
        self.eda_btn.setEnabled(True)
        self.eda_btn.setText("Dataset report (EDA)…")
        self.eda_path = html
        self.open_url(QUrl.fromLocalFile(str(html)))

    def _eda_failed(self, _task, message: str) -> None:
        self.eda_task = None
        self.eda_btn.setEnabled(True)
        self.eda_btn.setText("Dataset report (EDA)…")
        self.reason.setText(f"The dataset report failed: {home_short(message)}")
