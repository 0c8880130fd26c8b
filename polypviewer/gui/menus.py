"""Menus and keyboard shortcuts, declared as data (Help > Keyboard shortcuts walks the live actions).

Each entry is (title, shortcuts, handler): the handler is a dotted name on the window, with
arguments after it (``("review.step", 10)`` calls ``win.review.step(10)``), so actions bind
straight to the methods that do the work; this module only wires.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from .exports_ui import KINDS

SEP = None

ACTIONS = {
    "File": [
        ("Open file…", ["Ctrl+O"], "open_file_dialog"),
        ("Open folder…", ["Ctrl+Shift+O"], "open_folder_dialog"),
        ("Open dataset (images/ + masks/)…", [], "open_dataset_dialog"),
        ("Open results database…", [], "open_archive_dialog"),
        SEP,
        ("Quit", ["Ctrl+Q"], "close"),
    ],
    "Playback": [
        ("Play / pause", ["Space"], "review.playback.toggle_play"),
        ("Next frame", ["Right"], ("review.step", 1)),
        ("Previous frame", ["Left"], ("review.step", -1)),
        ("Forward 10 frames", ["Shift+Right", "Up"], ("review.step", 10)),
        ("Back 10 frames", ["Shift+Left", "Down"], ("review.step", -10)),
        SEP,
        ("Back one second (J)", ["J"], ("review.step_seconds", -1)),
        ("Pause (K)", ["K"], "review.playback.pause"),
        ("Play (L)", ["L"], "review.playback.play"),
        SEP,
        ("First frame", ["Home"], ("review.seek", 0)),
        ("Last frame", ["End"], "review.seek_last"),
        ("Next finding", ["N"], ("review.playback.jump_finding", 1)),
        ("Previous finding", ["P"], ("review.playback.jump_finding", -1)),
    ],
    "Analysis": [
        ("Analyse procedure", ["Ctrl+R"], "review.start_analysis"),
        ("Cancel analysis", ["Esc"], "review.cancel_analysis"),
        ("Re-analyse (discard cached results)", [], "review.reanalyse"),
        SEP,
        ("Choose model file…", [], "act_choose_model"),
    ],
}

VIEW_LAYERS = (  # layer name, title, shortcut
    ("mask", "Predicted mask (fill)", "M"),
    ("contour", "Predicted outline", ""),
    ("boxes", "Boxes and confidence", "B"),
    ("gt", "Ground-truth outline", "T"),
    ("gradcam", "Grad-CAM heatmap", "G"),
)

def handler(win, target):
    """The bound method (with its arguments) that a table entry names."""
    name, args = (target, ()) if isinstance(target, str) else (target[0], tuple(target[1:]))
    obj = win
    for part in name.split("."):
        obj = getattr(obj, part)
    # triggered(bool) must not reach methods that take no flag: call with our arguments only
    return lambda *_checked: obj(*args)


def _action(win, title: str, keys: list[str], slot) -> QAction:
    act = QAction(title, win)
    if keys:
        act.setShortcuts([QKeySequence(k) for k in keys])
    act.triggered.connect(slot)
    win.addAction(act)  # shortcuts work wherever focus is in the window
    return act


def build(win) -> dict[str, QMenu]:
    """Create the menu bar; returns the menus so others can add to them (e.g. Tools)."""
    bar = win.menuBar()
    menus: dict[str, QMenu] = {}
    win.actions_by_title = {}
    for name in ("File", "View", "Playback", "Analysis", "Tools", "Help"):
        menus[name] = bar.addMenu(f"&{name}")
    for name, entries in ACTIONS.items():
        for e in entries:
            if e is SEP:
                menus[name].addSeparator()
                continue
            title, keys, target = e
            act = _action(win, title, keys, handler(win, target))
            menus[name].addAction(act)
            win.actions_by_title[title] = act
            if name == "File" and title.startswith("Open dataset"):
                win.sample_menu = menus[name].addMenu("Open sample")
                win.recent_menu = menus[name].addMenu("Recent files")
                export = menus[name].addMenu("Export")
                export.addAction(_action(win, "Current frame as PNG…", ["Ctrl+E"],
                                         win.exporter.export_frame_dialog))
                export.addSeparator()
                for kind, (title2, _, _) in KINDS.items():
                    export.addAction(_action(win, title2, [], lambda _=False, k=kind:
                                             win.exporter.export_dialog(k)))
                win.export_menu = export
    view = menus["View"]
    win.layer_actions = {}
    for layer, title, key in VIEW_LAYERS:
        act = _action(win, title, [key] if key else [], lambda on, n=layer: win.set_layer(n, on))
        act.setCheckable(True)
        act.setChecked(win.view.layers[layer].visible)
        view.addAction(act)
        win.layer_actions[layer] = act
    view.addSeparator()
    view.addAction(_action(win, "Fit to window", ["F"], win.view.fit))
    view.addSeparator()
    win.live_action = QAction("Analyse shown frame when not cached", win, checkable=True, checked=True)
    win.live_action.toggled.connect(win.set_live_predict)
    menus["Analysis"].addAction(win.live_action)
    help_ = menus["Help"]
    help_.addAction(_action(win, "Keyboard shortcuts", ["F1"], win.show_shortcuts))
    help_.addAction(_action(win, "Open log folder", [], win.open_log_folder))
    help_.addAction(_action(win, "About PolypViewer", [], win.show_about))
    menus["Tools"].menuAction().setVisible(False)  # shown once a tool is added
    return menus
