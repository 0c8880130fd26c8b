"""Dataset review and mask correction ("Annotator workspace").

``install(main_window)`` is the only thing the main window needs to call; the workspace is a
self-contained widget and also works on its own (``AnnotateWorkspace(model=...)``).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject

from .workspace import AnnotateWorkspace

TITLE = "Dataset review"


def _model_of(main_window):
    """The main window's current model as a path (the workspace loads its own copy, so the
    viewer's network is never shared between threads), else None (default model)."""
    review = getattr(main_window, "review", None)
    predictor = getattr(review, "predictor", None)
    path = getattr(getattr(predictor, "loaded", None), "path", None)
    return str(path) if path is not None else getattr(review, "model_path", None)


class _CloseGuard(QObject):
    """Asks about unsaved masks before the main window closes (Cancel keeps it open)."""

    def __init__(self, main_window, state: dict):
        super().__init__(main_window)
        self.state = state

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        ws = self.state.get("ws")
        if event.type() == QEvent.Type.Close and ws is not None and not ws.shutdown():
            event.ignore()
            return True
        return False


def install(main_window, model=None):
    """Add "Dataset review" to the main window's Tools menu; returns the function it runs.

    Needs ``main_window.add_tool_action(title, callback)`` and either
    ``main_window.add_central_tab(widget, title)`` (preferred: the workspace becomes a tab) or
    ``main_window.add_dock(widget, title)``. The workspace is created on first use with
    ``model`` (LoadedModel, Predictor, name or path; default: the main window's current model,
    else the default model), then reused; it is reachable as
    ``main_window.annotate_workspace``. Closing the main window asks about unsaved masks
    (an event filter; Cancel keeps the window open) and stops the workspace's threads.
    """
    state: dict = {}

    def show(*_args) -> AnnotateWorkspace:
        ws = state.get("ws")
        if ws is None:
            device = getattr(getattr(main_window, "review", None), "device", "auto")
            ws = AnnotateWorkspace(model=model if model is not None else _model_of(main_window),
                                   device=device, parent=main_window)
            state["ws"] = main_window.annotate_workspace = ws
            if hasattr(main_window, "add_central_tab"):
                state["tab"] = main_window.add_central_tab(ws, TITLE)
            else:
                state["dock"] = main_window.add_dock(ws, TITLE)
        tabs = getattr(main_window, "tabs", None)
        if "tab" in state and tabs is not None:
            tabs.setCurrentWidget(ws)
        elif state.get("dock") is not None:
            state["dock"].show()
            state["dock"].raise_()
        return ws

    main_window.annotate_workspace = None
    main_window.show_dataset_review = show
    main_window.installEventFilter(_CloseGuard(main_window, state))
    main_window.add_tool_action(TITLE, show)
    return show


__all__ = ["AnnotateWorkspace", "install", "TITLE"]
