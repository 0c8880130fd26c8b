"""Dataset review and mask correction ("Annotator workspace").

``install(main_window)`` is the only thing the main window needs to call; the workspace is a
self-contained widget and also works on its own (``AnnotateWorkspace(model=...)``).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QDockWidget

from ..host import HostWindow
from .workspace import AnnotateWorkspace

TITLE = "Dataset review"
REVIEW_MENUS = ("Playback", "View", "Analysis")  # their keys only act on the Review tab
# Help -> Keyboard shortcuts lists these; tests/gui/test_shortcuts.py checks them against the
# workspace's live bindings and the canvas's keys
KEYS = (
    ("Ctrl+S", "Save the corrected mask (the previous one is backed up)"),
    ("Ctrl+Z", "Undo"),
    ("Ctrl+Shift+Z or Ctrl+Y", "Redo"),
    ("B", "Blink between ground truth and prediction (Compare tab or table)"),
    ("Esc", "Stop blinking; drop the polygon being drawn"),
    ("[ / ]", "Brush or eraser smaller / larger"),
    ("Enter", "Close and fill the polygon"),
    ("Backspace", "Remove the polygon's last point"),
    ("0", "Reset zoom and pan of the mask editor"),
    ("Up / Down", "Previous / next image in the table"),
)


class TabLayout(QObject):
    """Each tab has its own layout: the video's docks and keys belong to the Review tab.

    Leaving it hides the docks shown there (the review table then has the window's width)
    and disables the Playback / View / Analysis actions, whose keys (B, Esc, arrows) would
    otherwise clash with the workspace's; coming back restores both.
    """

    def __init__(self, main_window, review_index: int = 0):
        super().__init__(main_window)
        self.win, self.review_index = main_window, review_index
        self.hidden: list[QDockWidget] = []
        main_window.tabs.currentChanged.connect(self.apply)

    def review_actions(self) -> list:
        menus = getattr(self.win, "menus", {})
        return [a for name in REVIEW_MENUS if name in menus for a in menus[name].actions()
                if not isinstance(a.parent(), QDockWidget)]  # dock toggles stay usable

    def apply(self, *_args) -> None:
        on_review = self.win.tabs.currentIndex() == self.review_index
        for act in self.review_actions():
            act.setEnabled(on_review)
        if on_review:
            self.restore()
        else:
            page = self.win.tabs.currentWidget()
            shown = [d for d in self.win.findChildren(QDockWidget)
                     if d.isVisible() and d.widget() is not page]
            for d in shown:
                d.hide()
            self.hidden += shown

    def restore(self) -> None:
        """Show the docks hidden for another tab (also before the window saves its state)."""
        docks, self.hidden = self.hidden, []
        for d in docks:
            d.show()


class _CloseGuard(QObject):
    """Asks about unsaved masks before the main window closes (Cancel keeps it open)."""

    def __init__(self, main_window, state: dict):
        super().__init__(main_window)
        self.state = state

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if event.type() != QEvent.Type.Close:
            return False
        ws = self.state.get("ws")
        if ws is not None and not ws.shutdown():
            event.ignore()
            return True
        if self.state.get("layout") is not None:  # the saved window state is the Review tab's
            self.state["layout"].restore()
        return False


def install(main_window: HostWindow, model=None):
    """Add "Dataset review" to the host's Tools menu; returns the function it runs.

    The workspace becomes a central tab, created on first use with ``model`` (LoadedModel,
    Predictor, name or path; default: the host's current model, loaded as a copy of its own
    so the viewer's network is never shared between threads), then reused; it is reachable
    as ``main_window.annotate_workspace``. Closing the host asks about unsaved masks (an event
    filter; Cancel keeps the window open) and cancels the workspace's threads.
    """
    state: dict = {}

    def show(*_args) -> AnnotateWorkspace:
        ws = state.get("ws")
        if ws is None:
            ws = AnnotateWorkspace(model=model if model is not None else main_window.current_model(),
                                   device=main_window.current_device(), parent=main_window)
            state["ws"] = main_window.annotate_workspace = ws
            main_window.add_central_tab(ws, TITLE)
            state["layout"] = TabLayout(main_window)
        main_window.show_central(ws)
        return ws

    main_window.annotate_workspace = None
    main_window.show_dataset_review = show
    main_window.installEventFilter(_CloseGuard(main_window, state))
    main_window.add_tool_action(TITLE, show)
    return show


__all__ = ["AnnotateWorkspace", "install", "KEYS", "TITLE", "TabLayout"]
