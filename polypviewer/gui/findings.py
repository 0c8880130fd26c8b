"""Findings dock: one row per distinct polyp, with a close-up; click to jump to its key frame.

The rows come from the analysis' TrackResult (computed in a worker by
engine.analysis.findings_cache, the same findings every export and the report list); this
widget lists them, lets the reviewer give each a verdict and a note, and says how findings
are counted (the tracking settings) and what the drawn labels mean.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..engine.analysis.cadx import neoplastic_text
from ..engine.analysis.tracking import VERDICTS
from ..engine.export.report import LEGEND, count_text
from .pixmaps import rgb_pixmap
from .transport import format_time

THUMB = 96
NOT_ANALYSED = "Not analysed yet — Analysis → Analyse procedure (Ctrl+R)"
NO_VERDICT = "no verdict"


def to_pixmap(rgb: np.ndarray, size: int = THUMB) -> QPixmap:
    return rgb_pixmap(rgb, size)


def describe(f, name: str | None = None) -> str:
    verdict = f" · {f.verdict}" if f.verdict else ""
    cadx = neoplastic_text(f.neoplastic_probability, short=True)
    cadx = f"\n{cadx}" if cadx else ""
    if name is not None:  # a still: one image, no time span
        return (f"Finding #{f.id}{verdict}\n{name}\n"
                f"confidence {f.peak_confidence:.2f} · {_size(f)}{cadx}")
    if f.first_time_s is not None:
        span = f"{format_time(f.first_time_s)} – {format_time(f.last_time_s)}  ({f.duration_s:.1f} s)"
    else:
        span = f"frames {f.first_index + 1} – {f.last_index + 1}"
    return (f"Finding #{f.id}{verdict}\n{span}\npeak {f.peak_confidence:.2f} · {_size(f)}\n"
            f"key frame {f.best_index + 1} · seen in {f.n_frames} frames{cadx}")


def _size(f) -> str:
    return f"{f.size_fraction:.1%} of frame" if f.size_fraction is not None else f"{f.mean_area:.0f} px"


class FindingsPanel(QWidget):
    jump = Signal(int)  # frame index
    verdict_changed = Signal(object, str, str)  # Finding, verdict ("" = none), note

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.summary = QLabel(NOT_ANALYSED)
        self.summary.setObjectName("frameinfo")
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSpacing(2)
        self.list.setWordWrap(True)  # rows wrap to the dock's width: no horizontal scrolling
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.itemClicked.connect(self._clicked)
        self.list.itemActivated.connect(self._clicked)
        self.list.currentRowChanged.connect(self._selected)
        lay.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.verdict = QComboBox()
        self.verdict.addItems([NO_VERDICT, *VERDICTS])
        self.verdict.setToolTip("Your verdict on the selected finding; a false alarm is listed "
                                "but not counted (saved with the analysis)")
        self.note = QLineEdit()
        self.note.setPlaceholderText("note")
        row.addWidget(self.verdict)
        row.addWidget(self.note, 1)
        lay.addLayout(row)
        self.verdict.activated.connect(self._edited)
        self.note.editingFinished.connect(self._edited)
        self.settings_label = QLabel("")  # how findings are counted; the legend on hover
        self.settings_label.setObjectName("muted")
        self.settings_label.setWordWrap(True)
        lay.addWidget(self.settings_label)
        self.legend = "\n".join(f"{k}: {v}" for k, v in LEGEND)
        self.summary.setToolTip(self.legend)
        self.findings: list = []
        self._set_editor(None)

    def set_settings(self, short: str, full: str = "") -> None:
        """The tracking settings: one line shown, in full on hover."""
        self.settings_label.setText(f"{short} · hover for the legend")
        self.settings_label.setToolTip(f"{full or short}\n\n{self.legend}")

    def set_not_analysed(self) -> None:
        self.set_findings([], {})
        self.summary.setText(NOT_ANALYSED)

    def set_findings(self, findings: list, thumbs: dict[int, np.ndarray], note: str = "",
                     names: dict[int, str] | None = None) -> None:
        """``thumbs`` by finding ID; ``names`` (stills) by frame index."""
        current = self.current()
        self.findings = list(findings)
        self.list.blockSignals(True)
        self.list.clear()
        for f in self.findings:
            item = QListWidgetItem(describe(f, (names or {}).get(f.best_index)))
            item.setData(Qt.ItemDataRole.UserRole, f.best_index)
            if f.id in thumbs:
                item.setIcon(QIcon(to_pixmap(thumbs[f.id])))
            if not f.counted:
                item.setForeground(QColor("#8a8a8a"))
            self.list.addItem(item)
        self.list.blockSignals(False)
        if current is not None:
            for k, f in enumerate(self.findings):
                if f.best_index == current.best_index:
                    self.list.setCurrentRow(k)
        self._set_editor(self.current())
        text = count_text(self.findings) if self.findings else "No polyp seen long enough to count"
        self.summary.setText(f"{text}{' · ' + note if note else ''}")

    def count(self) -> int:
        """Findings that count (the number the report gives)."""
        return sum(f.counted for f in self.findings)

    def current(self):
        row = self.list.currentRow()
        return self.findings[row] if 0 <= row < len(self.findings) else None

    def set_note(self, text: str) -> None:
        self.summary.setText(text)

    def show_frame(self, index: int) -> None:
        """Select (without jumping) the finding seen in frame ``index``, as playback moves on."""
        for row, f in enumerate(self.findings):
            if f.first_index <= index <= f.last_index:
                if self.list.currentRow() != row:
                    self.list.setCurrentRow(row)
                    self.list.scrollToItem(self.list.item(row))
                return
        self.list.clearSelection()

    def _set_editor(self, f) -> None:
        for w in (self.verdict, self.note):
            w.setEnabled(f is not None)
            w.blockSignals(True)
        self.verdict.setCurrentText(f.verdict if f is not None and f.verdict else NO_VERDICT)
        self.note.setText(f.note if f is not None else "")
        for w in (self.verdict, self.note):
            w.blockSignals(False)

    def _selected(self, _row: int) -> None:
        self._set_editor(self.current())

    def _edited(self, *_args) -> None:
        f = self.current()
        if f is None:
            return
        verdict = "" if self.verdict.currentText() == NO_VERDICT else self.verdict.currentText()
        note = self.note.text().strip()
        if (verdict, note) != (f.verdict, f.note):
            self.verdict_changed.emit(f, verdict, note)

    def _clicked(self, item: QListWidgetItem) -> None:
        self.jump.emit(int(item.data(Qt.ItemDataRole.UserRole)))
