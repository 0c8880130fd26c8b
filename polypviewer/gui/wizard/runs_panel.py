"""The Runs dock: past and current runs under ``paths.runs_dir()`` with their status (from the
run folders, see ``runs.py``), data, key settings and best metrics, and the actions on them.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QGridLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .monitor import RunMonitor
from .results import ResultsView
from .runs import delete_run, reproduce_command, scan_runs
from .widgets import home_short

ROLE = Qt.ItemDataRole.UserRole
COLUMNS = ("run", "status", "data", "settings", "best")


class RunsPanel(QWidget):
    def __init__(self, tools, parent: QWidget | None = None):
        super().__init__(parent)
        self.tools = tools
        self.confirm = lambda title, text: QMessageBox.question(self, title, text) == \
            QMessageBox.StandardButton.Yes  # replaced in tests
        self.open_url = QDesktopServices.openUrl
        self.windows: list[QDialog] = []
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.itemSelectionChanged.connect(self._selection)
        self.tree.itemDoubleClicked.connect(lambda *_: self.show_selected())
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.buttons = {}
        row = QGridLayout()  # two rows: one long row made the whole side panel too wide
        for key, text, slot in (("show", "Show", self.show_selected),
                                ("cancel", "Cancel", self.cancel_selected),
                                ("resume", "Resume", self.resume_selected),
                                ("folder", "Open folder", self.open_folder),
                                ("copy", "Copy as command", self.copy_command),
                                ("delete", "Delete…", self.delete_selected),
                                ("refresh", "Refresh", self.refresh)):
            b = QPushButton(text)
            b.clicked.connect(slot)
            self.buttons[key] = b
            row.addWidget(b, len(self.buttons) // 5, (len(self.buttons) - 1) % 4)
        lay = QVBoxLayout(self)
        lay.addWidget(self.tree, 1)
        lay.addLayout(row)
        lay.addWidget(self.message)
        tools.manager.changed.connect(self.refresh)
        self._timer = QTimer(self, interval=5000, timeout=self.refresh)  # epochs finishing
        self._timer.start()
        self.refresh()

    # ---- listing -----------------------------------------------------------------------
    def refresh(self) -> None:
        selected = self.selected()
        self.runs = scan_runs(self.tools.runs_root(), self.tools.manager.live_dirs())
        self.tree.clear()
        for r in self.runs:
            failed = r.status == "failed" and r.message
            status = r.status + (f": {home_short(r.message)}" if failed else "")
            item = QTreeWidgetItem([r.name, status, ", ".join(r.datasets), r.settings, r.best])
            item.setToolTip(1, status)
            item.setData(0, ROLE, str(r.path))
            self.tree.addTopLevelItem(item)
            if selected is not None and r.path == selected:
                item.setSelected(True)
        for c in range(2):
            self.tree.resizeColumnToContents(c)
        self._selection()

    def status_of(self, run_dir: str | Path) -> str | None:
        return next((r.status for r in self.runs if r.path == Path(run_dir)), None)

    def selected(self) -> Path | None:
        items = self.tree.selectedItems()
        return Path(items[0].data(0, ROLE)) if items else None

    def select(self, run_dir: str | Path) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            item.setSelected(Path(item.data(0, ROLE)) == Path(run_dir))

    def _selection(self) -> None:
        run = self.selected()
        status = self.status_of(run) if run else None
        for key in ("show", "folder", "copy", "delete"):
            self.buttons[key].setEnabled(run is not None)
        self.buttons["delete"].setEnabled(run is not None and status != "running")
        self.buttons["cancel"].setEnabled(status == "running")
        self.buttons["resume"].setEnabled(status in ("cancelled", "interrupted", "failed") and
                                          (run / "config.json").is_file())

    # ---- actions -----------------------------------------------------------------------
    def show_selected(self) -> None:
        run = self.selected()
        if run is None:
            return
        proc = self.tools.manager.latest(run)
        dlg = QDialog(self)
        dlg.setWindowTitle(run.name)
        dlg.resize(900, 700)
        lay = QVBoxLayout(dlg)
        if proc is not None and (proc.running or not (run / "summary.json").is_file()):
            view = RunMonitor()
            view.attach(proc)
        else:
            view = ResultsView(self.tools.current_model)
            view.use_model.connect(self.tools.use_model)
            view.show_run(run)
        lay.addWidget(view)
        dlg.view = view
        self.windows.append(dlg)
        dlg.show()

    def cancel_selected(self) -> None:
        run = self.selected()
        proc = self.tools.manager.live(run) if run else None
        if proc is not None:
            proc.cancel()

    def resume_selected(self) -> None:
        run = self.selected()
        if run is None:
            return
        try:
            self.tools.manager.resume(run)
        except ValueError as e:
            self.message.setText(home_short(str(e)))
            return
        self.message.setText(f"resuming {run.name}")
        self.refresh()

    def open_folder(self) -> None:
        run = self.selected()
        if run is not None:
            self.open_url(QUrl.fromLocalFile(str(run)))

    def copy_command(self) -> None:
        run = self.selected()
        if run is None:
            return
        try:
            cmd = reproduce_command(run)
        except ValueError as e:
            self.message.setText(home_short(str(e)))
            return
        QGuiApplication.clipboard().setText(cmd)
        self.message.setText(f"copied: {home_short(cmd)}")  # the clipboard keeps full paths

    def delete_selected(self) -> None:
        run = self.selected()
        if run is None or self.tools.manager.live(run) is not None:
            return
        if not self.confirm("Delete run", f"Delete the run folder {run.name} and everything in it?"):
            return
        try:
            delete_run(run)
        except OSError as e:
            self.message.setText(f"could not delete {run.name}: {home_short(str(e))}")
        self.refresh()
