"""Findings dock: one row per distinct polyp, with its best frame; click to jump there.

The rows are computed elsewhere (tracking over cached results, thumbnails decoded in a
worker); this widget only lists them.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from .pixmaps import rgb_pixmap
from .transport import format_time

THUMB = 96
NOT_ANALYSED = "Not analysed yet — Analysis → Analyse procedure (Ctrl+R)"


def to_pixmap(rgb: np.ndarray, size: int = THUMB) -> QPixmap:
    return rgb_pixmap(rgb, size)


def describe(f, name: str | None = None) -> str:
    if name is not None:  # a still: one image, no time span
        return f"Polyp #{f.id}\n{name}\nconfidence {f.peak_confidence:.2f} · {f.mean_area:.0f} px"
    if f.first_time_s is not None:
        span = f"{format_time(f.first_time_s)} – {format_time(f.last_time_s)}  ({f.duration_s:.1f} s)"
    else:
        span = f"frames {f.first_index + 1} – {f.last_index + 1}"
    return (f"Polyp #{f.id}\n{span}\npeak {f.peak_confidence:.2f} · {f.n_frames} frames "
            f"· best frame {f.best_index + 1}")


class FindingsPanel(QWidget):
    jump = Signal(int)  # frame index

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
        lay.addWidget(self.list, 1)
        self.findings: list = []

    def set_findings(self, findings: list, thumbs: dict[int, np.ndarray], note: str = "",
                     names: dict[int, str] | None = None) -> None:
        self.findings = list(findings)
        self.list.clear()
        for f in self.findings:
            item = QListWidgetItem(describe(f, (names or {}).get(f.best_index)))
            item.setData(Qt.ItemDataRole.UserRole, f.best_index)
            if f.best_index in thumbs:
                item.setIcon(QIcon(to_pixmap(thumbs[f.best_index])))
            self.list.addItem(item)
        n = len(self.findings)
        text = f"{n} polyp{'s' if n != 1 else ''} found" if n else "No polyps found"
        self.summary.setText(f"{text}{' · ' + note if note else ''}")

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

    def _clicked(self, item: QListWidgetItem) -> None:
        self.jump.emit(int(item.data(Qt.ItemDataRole.UserRole)))
