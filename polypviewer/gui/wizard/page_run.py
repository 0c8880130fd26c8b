"""Wizard page 5: the live run (a RunMonitor on the child process started on entering)."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWizard, QWizardPage

from .monitor import RunMonitor
from .widgets import AutoHideLabel, home_short


class RunPage(QWizardPage):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTitle("Training")
        self.setSubTitle("The run goes on in its own process: you may close this window, it stays "
                         "in the Runs panel.")
        self.monitor = RunMonitor()
        self.monitor.ended.connect(self._ended)
        self.error = AutoHideLabel()  # takes no room unless the run could not start
        lay = QVBoxLayout(self)
        lay.addWidget(self.error)
        lay.addWidget(self.monitor, 1)
        self.proc = None

    def initializePage(self) -> None:
        if self.proc is not None and self.proc.running:
            return
        self.error.setText("")
        fit = self.wizard().model_page.task() == "cadx"
        self.setTitle("Neoplastic head fit" if fit else "Training")
        try:
            self.proc = self.wizard().start_run()
        except Exception as e:  # noqa: BLE001 - e.g. an unwritable runs folder: say so, stay up
            self.error.setText(f"Could not start the run: {home_short(str(e))}")
            self.error.setStyleSheet("color: #c0392b; font-weight: bold;")
            self.proc = None
            return
        self.monitor.attach(self.proc)
        self.completeChanged.emit()

    def _ended(self, status: str, *_args) -> None:
        """A finished run has nothing left to cancel: the wizard's Cancel goes grey."""
        wiz = self.wizard()
        if wiz is not None and status == "finished":
            wiz.button(QWizard.WizardButton.CancelButton).setEnabled(False)
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.proc is not None and self.proc.status == "finished"
