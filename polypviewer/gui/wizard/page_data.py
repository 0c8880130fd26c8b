"""Wizard page 1: pick dataset folders; they are checked (training.validate) in a worker and the
report is shown inline. A fatal problem keeps Next disabled and says why.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
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


def _validate(roots: list[str]):
    from training.validate import is_classification_dataset, validate_datasets

    layouts = ["classify" if is_classification_dataset(r) else "segment" for r in roots]
    task = layouts[0] if len(set(layouts)) == 1 else "segment"
    return validate_datasets(roots, task=task), task


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
                         "class for frame classification. Several folders are merged.")
        self.report = None
        self.layout_kind = "segment"
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
        buttons = QHBoxLayout()
        for b in (add, remove, self.eda_btn):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.list, 1)
        lay.addLayout(buttons)
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

    def revalidate(self) -> None:
        self.report = None
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
        self.report, self.layout_kind = result
        rep = self.report
        lines = [f"{Path(root).name}: " + ", ".join(f"{v} {k}" for k, v in c.items())
                 for root, c in rep.counts.items()]
        kind = "frame classification (class folders)" if self.layout_kind == "classify" \
            else "segmentation (images + masks)"
        lines.append(f"Layout: {kind}. {len(rep.fatal)} fatal problem(s), "
                     f"{len(rep.warnings)} warning(s).")
        self.summary.setText("\n".join(lines))
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
