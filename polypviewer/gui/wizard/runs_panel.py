"""The Runs dock: past and current runs under ``paths.runs_dir()`` with their status (from the
run folders, see ``runs.py``), data, key settings and best metrics, and the actions on them.

The folder is scanned in a worker (``run_scan.RunScanner``): every few seconds it stats the
files of each run and re-reads only the runs that changed; the list is rebuilt only then.
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

from ..workers import Task
from .monitor import RunMonitor
from .results import ResultsView
from .run_scan import RunScanner
from .runs import delete_run, reproduce_command, run_status
from .widgets import home_short

ROLE = Qt.ItemDataRole.UserRole
COLUMNS = ("run", "status", "data", "settings", "best")
POLL_MS = 5000  # epochs finishing in runs started elsewhere (e.g. from the command line)


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
        self.runs = []
        self.scanner = RunScanner()
        self.scan_task: Task | None = None
        self._scan_again = False
        tools.manager.changed.connect(self.refresh)
        self._timer = QTimer(self, interval=POLL_MS, timeout=self._poll)
        self._timer.start()
        self.refresh()

    # ---- listing -----------------------------------------------------------------------
    def refresh(self) -> None:
        """Scan the runs folder (in a worker) and show the result."""
        self._scan(force=True)

    def _poll(self) -> None:
        self._scan(force=False)

    def _scan(self, force: bool) -> None:
        if self.scan_task is not None and self.scan_task.running():
            self._scan_again = self._scan_again or force  # once this one is done
            return
        root_of, live = self.tools.runs_root, set(self.tools.manager.live_dirs())
        task = Task.call(lambda: self.scanner.scan(root_of(), live), "runs-scan", self)
        task.force = force
        task.finished.connect(self._on_scanned)
        task.failed.connect(self._on_scan_failed)
        self.scan_task = task.start()

    def _on_scanned(self, task, result) -> None:
        runs, changed = result
        if changed or task.force:
            self._fill(runs)
        self._scan_done()

    def _on_scan_failed(self, _task, message: str) -> None:
        self.message.setText(f"could not list the runs: {home_short(message)}")
        self._scan_done()

    def _scan_done(self) -> None:
        self.scan_task = None
        if self._scan_again:
            self._scan_again = False
            self._scan(force=True)

    def scanning(self) -> bool:
        return self.scan_task is not None or self._scan_again

    def _fill(self, runs) -> None:
        selected = self.selected()
        self.runs = runs
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
        if proc is not None and (proc.running or run_status(run)[0] != "finished"):
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
        task = Task.call(lambda: delete_run(run), "runs-delete", self)
        task.run = run
        task.finished.connect(lambda *_: self.refresh())
        task.failed.connect(self._delete_failed)
        task.start()

    def _delete_failed(self, task, message: str) -> None:
        self.message.setText(f"could not delete {task.run.name}: {home_short(message)}")
        self.refresh()
