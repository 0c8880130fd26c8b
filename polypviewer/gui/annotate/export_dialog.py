"""File → Export… of the workspace: pick formats and a folder (the export itself runs in a
worker through engine.export.writers, like ``polypviewer export``)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

CHOICES = (("png", "Predicted masks (PNG 0/255)", True), ("coco", "COCO instances (coco.json)", True),
           ("csv", "Table with metrics (predictions.csv)", True),
           ("overlays", "Overlay images", False))


class ExportDialog(QDialog):
    def __init__(self, parent: QWidget | None, suggestion: Path):
        super().__init__(parent)
        self.setWindowTitle("Export dataset predictions")
        self.boxes = {key: QCheckBox(label, self, checked=on) for key, label, on in CHOICES}
        self.folder = QLineEdit(str(suggestion), self)
        browse = QPushButton("Browse…", self, clicked=self._browse)
        self.replace = QCheckBox("Replace the folder if it exists", self)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        for b in self.boxes.values():
            lay.addWidget(b)
        lay.addLayout(row)
        lay.addWidget(self.replace)
        lay.addWidget(buttons)

    def _browse(self) -> None:
        path = QFileDialog.getSaveFileName(self, "Export folder", self.folder.text())[0]
        if path:
            self.folder.setText(path)

    def formats(self) -> list[str]:
        return [k for k, b in self.boxes.items() if b.isChecked()]

    def out_dir(self) -> str:
        return self.folder.text()

    def overwrite(self) -> bool:
        return self.replace.isChecked()
