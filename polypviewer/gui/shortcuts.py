"""Every key binding of the window, found by walking its live QActions and QShortcuts.

Two bindings of one key whose scopes overlap make Qt log "Ambiguous shortcut overload" and
fire neither, so :func:`clashes` is what a test asserts empty for each tab. The F1 sheet is
built from the same walk, so it lists what the keys really do.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QMenu, QMenuBar, QWidget

SC = Qt.ShortcutContext
REVIEW_MENUS = ("File", "Playback", "View", "Analysis", "Tools", "Help")


@dataclass(frozen=True)
class Binding:
    key: str  # QKeySequence.toString(), e.g. "Ctrl+Shift+Z"
    title: str
    context: Qt.ShortcutContext
    widget: QWidget | None  # scope owner; None: the whole window
    owner: object  # the QAction or QShortcut

    def overlaps(self, other: Binding) -> bool:
        if self.owner is other.owner:
            return False
        a, b = self.widget, other.widget
        if a is None or b is None:
            return True
        if a is b:
            return True
        if self.context == SC.WidgetWithChildrenShortcut and a.isAncestorOf(b):
            return True
        return other.context == SC.WidgetWithChildrenShortcut and b.isAncestorOf(a)


def _keys(seqs) -> list[str]:
    return [s.toString(QKeySequence.SequenceFormat.PortableText) for s in seqs if not s.isEmpty()]


def _scopes(action: QAction) -> list[QWidget | None]:
    """Where an action's shortcut is live: the window, or the widgets it was added to."""
    widgets = [o for o in action.associatedObjects() if isinstance(o, QWidget)]
    if not widgets:
        return []
    if action.shortcutContext() in (SC.WindowShortcut, SC.ApplicationShortcut):
        return [None]
    return [w for w in widgets if not isinstance(w, (QMenu, QMenuBar))] or [None]


def bindings(win: QWidget) -> list[Binding]:
    """Enabled bindings whose widget is shown (the current tab's, the window's, the docks')."""
    out: list[Binding] = []
    for act in win.findChildren(QAction):
        if not act.isEnabled():
            continue
        title = act.text().replace("&", "")
        for scope in _scopes(act):
            if scope is not None and not scope.isVisible():
                continue
            out += [Binding(k, title, act.shortcutContext(), scope, act) for k in _keys(act.shortcuts())]
    for sc in win.findChildren(QShortcut):
        w = sc.parent() if isinstance(sc.parent(), QWidget) else None
        if not sc.isEnabled() or w is None or not w.isVisible():
            continue
        scope = None if sc.context() in (SC.WindowShortcut, SC.ApplicationShortcut) else w
        out += [Binding(k, sc.whatsThis(), sc.context(), scope, sc) for k in _keys(sc.keys())]
    return out


def clashes(win: QWidget) -> list[tuple[Binding, Binding]]:
    """Pairs of live bindings that claim the same key in overlapping scopes."""
    found = bindings(win)
    return [(a, b) for i, a in enumerate(found) for b in found[i + 1:]
            if a.key == b.key and a.overlaps(b) and a.owner is not b.owner]


def menu_rows(win) -> list[tuple[str, str]]:
    """(keys, title) of every menu action with a shortcut, in menu order (submenus too)."""
    rows: list[tuple[str, str]] = []

    def walk(menu: QMenu) -> None:
        for act in menu.actions():
            if act.menu() is not None:
                walk(act.menu())
                continue
            keys = _keys(act.shortcuts())
            if keys and not act.isSeparator():
                rows.append((" or ".join(keys), act.text().replace("&", "")))

    menus = getattr(win, "menus", {})
    for name in REVIEW_MENUS:
        if menus.get(name) is not None:
            walk(menus[name])
    return rows


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><td style='padding:2px 16px 2px 0'><b>{escape(k)}</b></td>"
                   f"<td>{escape(t)}</td></tr>" for k, t in rows)
    return f"<table>{body}</table>"


def sheet_html(win) -> str:
    """Help → Keyboard shortcuts: the window's menus, then the Dataset review tab's keys."""
    from .annotate import KEYS as REVIEW_KEYS

    return (f"<h3>Review</h3>{_table(menu_rows(win))}"
            "<p>Drop a file or folder on the window to open it.</p>"
            f"<h3>Dataset review</h3>{_table(list(REVIEW_KEYS))}")
