"""The report's optional procedure details: asked for when a report is exported, remembered per source.

Every field may stay empty. What was typed is kept in the user's settings under a key made
from the source's identity (path, size and date, as the analysis cache knows it), so exporting
the same procedure again offers the same details, and another video starts blank.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
)

from ..engine.export.report_text import PROCEDURE_FIELDS, clean_procedure

PAPER_KEY = "report/paper"


def source_key(review) -> str:
    """A short stable key for the shown source: the analysis cache's identity, else its path."""
    ident = (getattr(review.store, "meta", None) or {}).get("source")
    if not ident:
        ident = {"path": str(Path(review.path).resolve())}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]


def load(settings, key: str) -> dict:
    return {k: str(settings.get(f"procedure/{key}/{k}", "") or "") for k in PROCEDURE_FIELDS}


def save(settings, key: str, details: dict) -> None:
    kept = clean_procedure(details)
    for k in PROCEDURE_FIELDS:
        settings.set(f"procedure/{key}/{k}", kept.get(k, ""))


class ProcedureDialog(QDialog):
    """Procedure ID, date, operator and a note (all optional); the paper size for a PDF."""

    def __init__(self, parent, details: dict, paper: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Report details")
        lay = QVBoxLayout(self)
        hint = QLabel("Shown in the report's header. Every field is optional.")
        hint.setWordWrap(True)
        lay.addWidget(hint)
        form = QFormLayout()
        self.edits: dict[str, QLineEdit | QPlainTextEdit] = {}
        placeholders = {"procedure_id": "e.g. the case or accession number",
                        "date": "e.g. 2024-05-17", "operator": "e.g. Dr A. Smith"}
        for key, label in PROCEDURE_FIELDS.items():
            if key == "note":
                edit = QPlainTextEdit(details.get(key, ""))
                edit.setFixedHeight(70)
            else:
                edit = QLineEdit(details.get(key, ""))
                edit.setPlaceholderText(placeholders.get(key, ""))
            self.edits[key] = edit
            form.addRow(label, edit)
        self.paper_box: QComboBox | None = None
        if paper is not None:
            self.paper_box = QComboBox()
            self.paper_box.addItem("A4", "a4")
            self.paper_box.addItem("US Letter", "letter")
            self.paper_box.setCurrentIndex(max(0, self.paper_box.findData(paper)))
            form.addRow("Paper", self.paper_box)
        lay.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.resize(420, self.sizeHint().height())

    def details(self) -> dict:
        return clean_procedure({k: e.toPlainText() if isinstance(e, QPlainTextEdit) else e.text()
                                for k, e in self.edits.items()})

    def paper(self) -> str | None:
        return None if self.paper_box is None else str(self.paper_box.currentData())


def ask(win, review, pdf: bool) -> tuple[dict, str | None] | None:
    """Show the dialog with the remembered details; None when the user cancels the export."""
    from .report_pdf import PAPER, default_paper

    key = source_key(review)
    paper = None
    if pdf:
        paper = str(win.settings.get(PAPER_KEY, "") or "")
        paper = paper if paper in PAPER else default_paper()
    dlg = ProcedureDialog(win, load(win.settings, key), paper)
    if dlg.exec() != QDialog.DialogCode.Accepted:
        return None
    details = dlg.details()
    save(win.settings, key, details)
    if dlg.paper() is not None:
        win.settings.set(PAPER_KEY, dlg.paper())
    return details, dlg.paper()
