"""What a tool (dataset review, training wizard) may use of the window that hosts it.

``MainWindow`` implements it; a tool is handed one at ``install`` and calls only these, so a
test can host a tool in a small fake window and the main window can change inside.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QWidget


class HostWindow(Protocol):
    def add_tool_action(self, action_or_title: QAction | str, callback: Callable | None = None,
                        shortcut: str = "") -> QAction:
        """A Tools menu entry."""

    def add_dock(self, widget: QWidget, title: str,
                 area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea) -> QDockWidget:
        """A dock, listed in the View menu."""

    def add_central_tab(self, widget: QWidget, title: str) -> int:
        """A tab beside the review."""

    def show_central(self, widget: QWidget) -> None:
        """Bring a central tab to the front."""

    def current_model(self) -> str | None:
        """The model the viewer runs (a path or a registered name)."""

    def current_device(self) -> str:
        """The device the viewer runs on ("auto", "cpu", "cuda", ...)."""

    def set_model(self, path: str) -> None:
        """Have the viewer load this model."""
