"""Playback and navigation always show the exact frame asked for."""

from __future__ import annotations

from gui_helpers import SLOW, decode_index, open_and_wait
from PySide6.QtCore import QPoint, Qt


def shown(win) -> int:
    assert decode_index(win.view.image_item.image) == win.review.shown
    return win.review.shown


def test_keyboard_steps_and_seeks(qtbot, make_window, video):
    win = open_and_wait(qtbot, make_window(), video)
    win.activateWindow()
    for key, mod, expected in [(Qt.Key.Key_Right, Qt.KeyboardModifier.NoModifier, 1),
                               (Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier, 11),
                               (Qt.Key.Key_Left, Qt.KeyboardModifier.NoModifier, 10),
                               (Qt.Key.Key_End, Qt.KeyboardModifier.NoModifier, 39),
                               (Qt.Key.Key_Down, Qt.KeyboardModifier.NoModifier, 29),
                               (Qt.Key.Key_Home, Qt.KeyboardModifier.NoModifier, 0)]:
        qtbot.keyClick(win, key, mod)
        qtbot.waitUntil(lambda e=expected: win.review.shown == e, timeout=SLOW)
        assert shown(win) == expected


def test_scrubbing_latest_request_wins(qtbot, make_window, video):
    win = open_and_wait(qtbot, make_window(), video)
    for i in (5, 30, 12, 33, 21):
        win.transport.slider.setValue(i)
    qtbot.waitUntil(lambda: win.review.shown == 21 and win.review.requested == 21, timeout=SLOW)
    assert shown(win) == 21
    assert win.transport.slider.value() == 21


def test_play_advances_frame_by_frame_then_pause(qtbot, make_window, video):
    win = open_and_wait(qtbot, make_window(), video, frame=30)
    seen = []
    win.review.frame_shown.connect(seen.append)
    win.transport.speed.setCurrentIndex(4)  # 4x
    qtbot.keyClick(win, Qt.Key.Key_Space)
    assert win.review.playback.playing
    qtbot.waitUntil(lambda: win.review.shown == 39 and not win.review.playback.playing, timeout=SLOW)
    assert seen == list(range(31, 40))  # no skipped or repeated frames
    assert shown(win) == 39


def test_timeline_click_jumps(qtbot, make_window, video):
    win = open_and_wait(qtbot, make_window(), video)
    x, y = win.timeline.x_to_widget(25)
    qtbot.mouseClick(win.timeline.plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    qtbot.waitUntil(lambda: win.review.shown == 25, timeout=SLOW)
    assert shown(win) == 25


def test_shortcuts_listed_in_help(qtbot, make_window):
    from polypviewer.gui.shortcuts import sheet_html

    win = make_window()
    html = sheet_html(win)
    for key in ("Space", "Shift+Left", "Home", "Ctrl+O", "Ctrl+E", ">N<", ">G<", ">M<", ">F<", ">J<"):
        assert key in html
    win.show_shortcuts()
    assert win._shortcuts_box.isVisible()
