"""Small label widgets shared by the wizard's Run and Results pages, and ``home_short``."""

from __future__ import annotations

import os
import re
import sys

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


def _home_prefixes() -> list[str]:
    home = os.path.expanduser("~")  # $HOME (USERPROFILE on Windows), read at every call
    out: list[str] = []
    for h in (home, os.path.realpath(home)):
        h = h.rstrip("/\\")
        if h and h != "~" and os.path.dirname(h) != h and h not in out:  # never "/" or "C:"
            out.append(h)
    return sorted(out, key=len, reverse=True)


def home_short(text: str) -> str:
    """``text`` with the user's home folder written as ``~`` (``/home/ann/data`` -> ``~/data``).

    For what the wizard shows only (command line, log, messages): the paths it runs with or
    opens stay absolute. ``/home/anne`` or ``/mnt/home/ann`` are left alone for home ``/home/ann``.
    """
    flags = re.IGNORECASE if sys.platform == "win32" else 0
    for h in _home_prefixes():
        text = re.sub(r"(?<![\w.~/\\-])" + re.escape(h) + r"(?![\w.-])", "~", text, flags=flags)
    return text


class FitPixmapLabel(QLabel):
    """A picture scaled down (never up) to fit the label, rescaled whenever it is resized.

    Until ``set_source`` is called it shows its text. Its size hint is its minimum size, so a
    large picture never makes a layout or a scroll area grow: the layout decides the room.
    """

    def __init__(self, pix: QPixmap | None = None, parent: QWidget | None = None,
                 minimum: QSize = QSize(240, 160)):
        super().__init__(parent)
        self.source: QPixmap | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setMinimumSize(minimum)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        if pix is not None:
            self.set_source(pix)

    def set_source(self, pix: QPixmap) -> None:
        self.source = pix
        self._rescale()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return self.minimumSize()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self.source is None or self.source.isNull():
            return
        w = min(self.width(), self.source.width())
        h = min(self.height(), self.source.height())
        self.setPixmap(self.source.scaled(max(1, w), max(1, h), Qt.AspectRatioMode.KeepAspectRatio,
                                          Qt.TransformationMode.SmoothTransformation))


class AutoHideLabel(QLabel):
    """A word-wrapped message line that takes no room while it is empty."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setVisible(False)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setText(text)
        self.setVisible(bool(text))
