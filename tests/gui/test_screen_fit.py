"""The window fits laptop screens: transport and status bars visible, docks never overlap."""

from __future__ import annotations

from itertools import combinations

import pytest
from PySide6.QtCore import QPoint, QRect, QSize
from PySide6.QtWidgets import QDockWidget, QScrollArea

from polypviewer.gui import screen_fit


def _rect_in_window(win, widget) -> QRect:
    return QRect(widget.mapTo(win, QPoint(0, 0)), widget.size())


@pytest.mark.parametrize("size", [(1366, 768), (1366, 720), (1920, 1080)])
def test_window_fits_the_available_screen(qtbot, make_window, size):
    win = make_window()
    available = QRect(0, 0, size[0], size[1] - 32)  # a desktop panel takes the rest
    screen_fit.fit_to_screen(win, available)
    qtbot.wait(20)
    assert available.contains(win.frameGeometry()), (win.frameGeometry(), available)
    for bar in (win.transport, win.transport.play_button, win.statusBar()):
        assert bar.isVisible() and win.rect().contains(_rect_in_window(win, bar)), bar
    docks = [d for d in win.findChildren(QDockWidget) if d.isVisible()]
    assert win.control_dock in docks and win.findings_dock in docks
    central = win.centralWidget().geometry()
    for a, b in combinations(docks, 2):
        assert not a.geometry().intersects(b.geometry()), (a.windowTitle(), b.windowTitle())
    for d in docks:
        assert not d.geometry().intersects(central), d.windowTitle()
        assert d.height() >= screen_fit.DOCK_MIN_HEIGHT and d.width() >= screen_fit.DOCK_MIN_WIDTH
    # the control groups scroll inside their dock instead of being drawn under the next dock
    scroll = win.controls.findChild(QScrollArea)
    assert scroll is not None and _rect_in_window(win, scroll).bottom() <= win.control_dock.geometry().bottom()


def test_first_start_uses_the_screen_and_a_big_restored_window_shrinks(qtbot, make_window):
    win = make_window()
    screen = win.screen().availableGeometry()
    screen_fit.fit_to_screen(win)  # the test screen (800 px) is narrower than the window's minimum
    assert win.size() == screen_fit.fitted_size(screen).expandedTo(win.minimumSizeHint())
    assert win.height() <= screen.height()
    small = QRect(0, 0, 1366, 736)
    win.resize(2400, 1500)  # geometry saved on a large monitor
    screen_fit.fit_to_screen(win, small, restored=True)
    assert small.contains(win.frameGeometry())
    win.resize(1200, 700)  # a restored size that fits is kept
    screen_fit.fit_to_screen(win, small, restored=True)
    assert win.size() == QSize(1200, 700)


def test_fitted_size_never_exceeds_either_limit():
    assert screen_fit.fitted_size(QRect(0, 0, 3840, 2160)) == screen_fit.PREFERRED
    s = screen_fit.fitted_size(QRect(0, 0, 1366, 736))
    assert s.width() <= 1366 and s.height() <= 736 and s.height() >= 700


def test_dataset_review_table_shows_its_key_columns_without_scrolling(qtbot, make_window, gui_dataset):
    from polypviewer.gui.annotate.table_model import COLUMNS

    win = make_window()
    screen_fit.fit_to_screen(win, QRect(0, 0, 1366, 736))
    ws = win.show_dataset_review()
    ws.open_dataset(gui_dataset)
    qtbot.waitUntil(lambda: not ws.busy and ws.table_model.rowCount() == 3, timeout=120_000)
    qtbot.wait(20)
    view = ws.table.viewport()
    for key in ("name", "dice", "recall", "missed", "false_alarms"):
        c = COLUMNS.index(key)
        right = ws.table.columnViewportPosition(c) + ws.table.columnWidth(c)
        assert 0 <= ws.table.columnViewportPosition(c) and right <= view.width(), key
    assert not win.findings_dock.isVisible()  # the video's docks leave the width to the table


def test_first_start_gives_the_findings_list_what_the_controls_do_not_need(qtbot, make_window):
    win = make_window()
    win.resize(1366, 736)
    screen_fit.give_rest_to(win, win.control_dock, win.findings_dock)
    qtbot.wait(50)
    # the controls get their full height (no scrolling), the Findings list all the rest
    assert win.control_dock.height() >= win.controls.content_hint().height()
    assert win.findings_dock.height() > win.control_dock.height() * 0.5
    right = win.control_dock.height() + win.findings_dock.height()
    assert win.findings_dock.height() >= right - win.controls.content_hint().height() - 80
