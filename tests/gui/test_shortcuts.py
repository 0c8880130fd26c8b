"""Keys: no two live bindings claim one key in any tab; B blinks; F1 lists the real keys."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt

from polypviewer.gui import shortcuts
from polypviewer.gui.annotate import KEYS


def _walk_tabs(qtbot, win):
    """Yield (label, window) for the Review tab and each inner tab of Dataset review."""
    ws = win.show_dataset_review()
    qtbot.waitUntil(lambda: ws.isVisible())
    for i in range(win.tabs.count()):
        win.tabs.setCurrentIndex(i)
        qtbot.wait(10)
        if win.tabs.widget(i) is ws:
            for j in range(ws.tabs.count()):
                ws.tabs.setCurrentIndex(j)
                qtbot.wait(10)
                yield f"{win.tabs.tabText(i)} / {ws.tabs.tabText(j)}"
        else:
            yield win.tabs.tabText(i)


def _describe(pairs) -> str:
    return "; ".join(f"{a.key}: {a.title!r} and {b.title!r}" for a, b in pairs)


def test_no_key_is_claimed_twice_in_any_tab(qtbot, make_window):
    win = make_window()
    seen = []
    for label in _walk_tabs(qtbot, win):
        found = shortcuts.clashes(win)
        assert not found, f"{label}: {_describe(found)}"
        seen.append(label)
    assert seen[0] == "Review" and any(s.startswith("Dataset review") for s in seen)


def test_clash_walk_sees_a_real_clash(qtbot, make_window):
    """The walk is not vacuous: re-enabling View -> Boxes on the Dataset review tab is a clash."""
    win = make_window()
    win.show_dataset_review()
    qtbot.wait(10)
    assert not shortcuts.clashes(win)
    win.layer_actions["boxes"].setEnabled(True)
    keys = {a.key for a, _ in shortcuts.clashes(win)}
    assert "B" in keys


def test_b_blinks_in_dataset_review_and_boxes_in_review(qtbot, make_window):
    win = make_window()
    boxes_before = win.layer_actions["boxes"].isChecked()
    ws = win.show_dataset_review()
    win.activateWindow()
    ws.compare.setFocus()
    qtbot.wait(10)
    qtbot.keyClick(ws.compare, Qt.Key.Key_B)
    assert ws.compare.blink_state == "gt"
    assert win.layer_actions["boxes"].isChecked() == boxes_before
    win.tabs.setCurrentIndex(0)
    qtbot.wait(10)
    assert win.layer_actions["boxes"].isEnabled()
    win.view.setFocus()
    qtbot.keyClick(win.view, Qt.Key.Key_B)
    assert win.layer_actions["boxes"].isChecked() != boxes_before


def test_dataset_review_bindings_are_listed_in_help(qtbot, make_window):
    win = make_window()
    ws = win.show_dataset_review()
    listed = {k.strip() for keys, _ in KEYS for k in re.split(r" or | / ", keys)}
    for label in _walk_tabs(qtbot, win):
        if not label.startswith("Dataset review"):
            continue
        for b in shortcuts.bindings(win):
            if b.widget is not None and (b.widget is ws or ws.isAncestorOf(b.widget)):
                assert b.key in listed, f"{label}: {b.key} ({b.title}) is not in the F1 sheet"


def test_f1_sheet_lists_the_menu_actions_and_dataset_review_keys(qtbot, make_window):
    win = make_window()
    html = shortcuts.sheet_html(win)
    for title, act in win.actions_by_title.items():
        for seq in act.shortcuts():
            assert f"<b>{seq.toString()}" in html or f" or {seq.toString()}" in html, title
    for key in ("Ctrl+Z", "Ctrl+Shift+Z", "Ctrl+S", "[ / ]", "<b>B</b>", "Ctrl+E", "F1"):
        assert key in html
    cells = re.findall(r"<td[^>]*><b>(.*?)</b></td>", html)
    assert cells and all(len(c) < 30 and "open it" not in c for c in cells)  # keys, not prose
    win.show_shortcuts()
    assert win._shortcuts_box.isVisible()


def test_dataset_review_hides_the_video_docks_and_restores_them(qtbot, make_window):
    win = make_window()
    assert win.findings_dock.isVisible() and win.control_dock.isVisible()
    runs = win.training_tools.dock
    assert not runs.isVisible()  # the training Runs panel is not part of reviewing
    ws = win.show_dataset_review()
    qtbot.waitUntil(lambda: ws.isVisible())
    assert win.tabs.currentWidget() is ws
    assert not win.findings_dock.isVisible() and not win.control_dock.isVisible()
    assert not win.actions_by_title["Play / pause"].isEnabled()
    win.tabs.setCurrentIndex(0)
    qtbot.wait(10)
    assert win.findings_dock.isVisible() and win.control_dock.isVisible()
    assert win.actions_by_title["Play / pause"].isEnabled()
