"""install(main_window): a Tools entry that opens the workspace as a tab; close asks first."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow, QTabWidget

from polypviewer.gui.annotate import TITLE, AnnotateWorkspace, install


class FakeWindow(QMainWindow):
    """A host.HostWindow, as small as it gets (MainWindow is the real one)."""

    def __init__(self):
        super().__init__()
        self.tabs = QTabWidget()
        self.setCentralWidget(self.tabs)
        self.tool_actions: list[QAction] = []

    def add_tool_action(self, title, callback=None):
        act = QAction(title, self)
        act.triggered.connect(callback)
        self.tool_actions.append(act)
        return act

    def add_central_tab(self, widget, title):
        return self.tabs.addTab(widget, title)

    def show_central(self, widget):
        self.tabs.setCurrentWidget(widget)

    def add_dock(self, widget, title, area=None):
        raise AssertionError("the workspace is a tab, not a dock")

    def current_model(self):
        return "unused-until-a-dataset-is-opened"

    def current_device(self):
        return "cpu"

    def set_model(self, path):
        raise AssertionError("the workspace never changes the viewer's model")


def test_install_adds_tab_and_guards_close(qtbot):
    win = FakeWindow()
    qtbot.addWidget(win)
    win.show()
    install(win, model="unused-until-a-dataset-is-opened")
    assert [a.text() for a in win.tool_actions] == [TITLE]
    win.tool_actions[0].trigger()
    ws = win.annotate_workspace
    assert isinstance(ws, AnnotateWorkspace) and win.tabs.currentWidget() is ws
    win.tool_actions[0].trigger()  # reused, not duplicated
    assert win.tabs.count() == 1
    ws.frame = type("F", (), {"name": "x"})()
    ws.editor.set_image(np.zeros((20, 30, 3), np.uint8), None, None)
    ws.editor.canvas.replace_mask(np.ones((20, 30), bool), "paint")
    asked = []
    ws.ask_unsaved = lambda text: asked.append(text) or "cancel"
    assert not win.close()  # Cancel keeps the window open
    assert asked and win.isVisible()
    ws.ask_unsaved = lambda text: "discard"
    assert win.close()
