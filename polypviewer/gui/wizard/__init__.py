"""Training wizard and Runs panel.

``install(main_window)`` (a ``host.HostWindow``) adds "Tools -> Train a model…" and a "Runs"
dock (hidden until the wizard opens or Tools -> Training runs shows it), and returns the
``TrainingTools`` object (also stored as ``main_window.training_tools``). "Use now" calls
``main_window.set_model(path)`` and emits ``TrainingTools.model_ready(path)``; the model
compared against is ``main_window.current_model()``. Runs are child processes;
``tools.shutdown()`` cancels them (checkpoints kept); install connects it to
``QCoreApplication.aboutToQuit``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, Signal
from PySide6.QtWidgets import QWidget

from ...paths import runs_dir
from ..host import HostWindow
from .process import RunManager

TITLE = "Train a model…"


class TrainingTools(QObject):
    """App-wide: the run manager, the Runs panel and the (single) wizard window."""

    model_ready = Signal(str)

    def __init__(self, main_window: HostWindow | None = None, runs_root: Path | None = None,
                 grace_s: float = 2.0):
        super().__init__(main_window if isinstance(main_window, QObject) else None)
        self.main_window = main_window
        self._runs_root = runs_root
        self.manager = RunManager(self, grace_s=grace_s)
        self.wizard = None
        self._panel = None
        self.dock = None  # the Runs dock, when installed in a main window

    def runs_root(self) -> Path:
        root = self._runs_root or runs_dir()
        root.mkdir(parents=True, exist_ok=True)
        return root

    @property
    def panel(self):
        if self._panel is None:
            from .runs_panel import RunsPanel

            self._panel = RunsPanel(self)
        return self._panel

    def open_wizard(self):
        from .wizard import TrainWizard  # the pages import the model factory: not at app start

        if self.dock is not None:  # the runs belong with training, not with every review
            self.dock.show()

        if self.wizard is None:
            parent = self.main_window if isinstance(self.main_window, QWidget) else None
            self.wizard = TrainWizard(self, parent)
            self.wizard.finished.connect(self._wizard_closed)
            reviewed = self.reviewed_dataset()
            if reviewed and not self.wizard.data_page.datasets():
                self.wizard.data_page.add_dataset(reviewed)
        self.wizard.show()
        self.wizard.raise_()
        return self.wizard

    def reviewed_dataset(self) -> str | None:
        """The dataset open in Dataset review, if any: the likely one to train on."""
        ws = getattr(self.main_window, "annotate_workspace", None)
        opened = getattr(ws, "opened", None)
        path = getattr(getattr(opened, "source", None), "path", None)
        return str(path) if path is not None else None

    def _wizard_closed(self, *_):
        w, self.wizard = self.wizard, None
        if w is not None:
            w.deleteLater()
        self.panel.refresh()

    def current_model(self) -> str | None:
        return self.main_window.current_model() if self.main_window is not None else None

    def use_model(self, path: str) -> None:
        """Hand a registered model to the viewer."""
        if not path:
            return
        if self.main_window is not None:
            self.main_window.set_model(path)
        self.model_ready.emit(path)

    def shutdown(self) -> None:
        self.manager.shutdown()


def install(main_window: HostWindow) -> TrainingTools:
    """Add "Tools -> Train a model…" and the Runs dock to ``main_window``; see the module doc."""
    tools = TrainingTools(main_window)
    main_window.add_tool_action(TITLE, tools.open_wizard)
    tools.dock = main_window.add_dock(tools.panel, "Runs")
    if hasattr(tools.dock, "toggleViewAction"):
        tools.dock.hide()  # an endoscopist never trains: Tools -> Training runs or the wizard
        runs = tools.dock.toggleViewAction()
        runs.setText("Training runs")
        main_window.add_tool_action(runs)
    main_window.training_tools = tools
    app = QCoreApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(tools.shutdown)
    return tools
