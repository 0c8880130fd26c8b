"""The "Train a model" wizard: Data -> Task and model -> Split -> Settings -> Run -> Results.

The wizard owns no run: it asks its ``TrainingTools`` (the app-wide run manager) to start one,
so closing the wizard leaves the child process running and listed in the Runs panel.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QVBoxLayout, QWizard, QWizardPage

from .page_data import DataPage
from .page_model import ModelPage, SplitPage
from .page_run import RunPage
from .page_settings import SettingsPage
from .results import ResultsView
from .runs import new_run_dir
from .spec import RunSpec, train_args


class ResultsPage(QWizardPage):
    def __init__(self, tools, parent=None):
        super().__init__(parent)
        self.setTitle("Results")
        self.view = ResultsView(tools.current_model)
        self.view.use_model.connect(tools.use_model)
        lay = QVBoxLayout(self)
        lay.addWidget(self.view)

    def initializePage(self) -> None:
        proc = self.wizard().run_page.proc
        if proc is not None:
            self.view.show_run(proc.run_dir)


class TrainWizard(QWizard):
    """Built over five turns of the event loop (data and model pages, split, settings, the live
    run page with its plots, the results page), so that opening it never holds the UI for long:
    under the app's style sheet split and settings together took 25-55 ms on a 2-core CPU."""

    def __init__(self, tools, parent=None):
        super().__init__(parent)
        self.tools = tools
        self.setWindowTitle("Train a model")
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.resize(900, 760)
        self.data_page = DataPage()
        self.model_page = ModelPage()
        self.split_page: SplitPage | None = None
        self.settings_page: SettingsPage | None = None
        self.run_page: RunPage | None = None
        self.results_page: ResultsPage | None = None
        for p in (self.data_page, self.model_page):
            self.addPage(p)
        QTimer.singleShot(0, self, self._add_split_page)

    def _add_split_page(self) -> None:
        self.split_page = SplitPage()
        self.addPage(self.split_page)
        QTimer.singleShot(0, self, self._add_settings_page)

    def _add_settings_page(self) -> None:
        self.settings_page = SettingsPage()
        self.addPage(self.settings_page)
        QTimer.singleShot(0, self, self._add_run_page)

    def _add_run_page(self) -> None:
        self.run_page = RunPage()
        self.addPage(self.run_page)
        QTimer.singleShot(0, self, self._add_results_page)

    def _add_results_page(self) -> None:
        self.results_page = ResultsPage(self.tools)
        self.addPage(self.results_page)

    def ready(self) -> bool:
        """Every page is built (see the class doc)."""
        return self.results_page is not None

    def spec(self) -> RunSpec:
        """Every choice made so far (pages not yet shown contribute their defaults)."""
        spec = RunSpec(datasets=self.data_page.datasets())
        self.data_page.apply(spec)
        self.model_page.apply(spec)
        for page in (self.split_page, self.settings_page):  # None only in the first turns
            if page is not None:
                page.apply(spec)
        return spec

    def start_run(self):
        spec = self.spec()
        run_dir = new_run_dir(self.tools.runs_root(), spec.name or "run")
        return self.tools.manager.start(run_dir, spec.command_name, train_args(spec, str(run_dir)))

    def busy(self) -> bool:
        return (not self.ready() or self.data_page.busy() or self.settings_page.busy()
                or self.results_page.view.busy())
