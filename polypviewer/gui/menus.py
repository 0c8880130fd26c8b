"""Menus and keyboard shortcuts, declared as data (Help > Keyboard shortcuts walks the live actions).

Each entry is (menu, title, shortcuts, handler name on the window); handlers live on
MainWindow, so this module only wires.
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
        ("Play / pause", ["Space"], "act_toggle_play"),
        ("Next frame", ["Right"], "act_next"),
        ("Previous frame", ["Left"], "act_prev"),
        ("Forward 10 frames", ["Shift+Right", "Up"], "act_next10"),
        ("Back 10 frames", ["Shift+Left", "Down"], "act_prev10"),
        SEP,
        ("Back one second (J)", ["J"], "act_back_second"),
        ("Pause (K)", ["K"], "act_pause"),
        ("Play (L)", ["L"], "act_play"),
        SEP,
        ("First frame", ["Home"], "act_first"),
        ("Last frame", ["End"], "act_last"),
        ("Next finding", ["N"], "act_next_finding"),
        ("Previous finding", ["P"], "act_prev_finding"),
    ],
    "Analysis": [
        ("Analyse procedure", ["Ctrl+R"], "act_analyse"),
        ("Cancel analysis", ["Esc"], "act_cancel_analysis"),
        ("Re-analyse (discard cached results)", [], "act_reanalyse"),
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
            title, keys, handler = e
            act = _action(win, title, keys, getattr(win, handler))
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
    help_.addAction(_action(win, "About PolypViewer", [], win.show_about))
    menus["Tools"].menuAction().setVisible(False)  # shown once a tool is added
    return menus
