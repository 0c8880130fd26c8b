"""The archive view: procedures of a results database in a sortable table; double-click opens one.

The database is read in a worker; opening a row goes through the window's normal open path,
which finds the batch's analysis cache and shows the procedure without re-analysis.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from .workers import Task

HEADERS = ("Procedure", "Status", "Findings", "Peak confidence", "Duration", "Frames", "Model",
           "Analysed", "Note")
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
PATH_ROLE = Qt.ItemDataRole.UserRole + 2


def read_rows(database: str) -> list[dict]:
    from ..archive import db, query

    c = db.connect(database, readonly=True)
    try:
        return query.rows(c)
    finally:
        c.close()


def _item(text: str, sort_key=None) -> QStandardItem:
    it = QStandardItem(text)
    it.setEditable(False)
    it.setData(text if sort_key is None else sort_key, SORT_ROLE)
    return it


def _duration(s: float | None) -> str:
    if s is None:
        return "stills"
    m, sec = divmod(int(round(s)), 60)
    return f"{m}:{sec:02d}"


class ArchiveView(QWidget):
    """Emits ``open_requested(path)`` on double-click; the host opens it in the review."""

    open_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.database: str | None = None
        self._task: Task | None = None
        self.model = QStandardItemModel(0, len(HEADERS), self)
        self.model.setHorizontalHeaderLabels(list(HEADERS))
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = QTableView(self)
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(self._open_index)
        self.status = QLabel("File → Open results database… shows the procedures a batch analysed.")
        lay = QVBoxLayout(self)
        lay.addWidget(self.status)
        lay.addWidget(self.table)

    def load(self, database: str) -> Task:
        """Read ``database`` in a worker; the table fills when it is read."""
        self.database = database
        self.status.setText(f"Reading {Path(database).name}…")
        task = Task.call(lambda: read_rows(database), "archive", self)
        task.finished.connect(self._loaded)
        task.failed.connect(self._failed)
        self._task = task
        return task.start()

    def _loaded(self, task: Task, rows: list[dict]) -> None:
        if task is not self._task:
            return
        self.model.removeRows(0, self.model.rowCount())
        for r in rows:
            name = Path(r["path"]).name
            first = _item(name, name.lower())
            first.setData(r["path"], PATH_ROLE)
            first.setToolTip(r["path"])
            peak = r["max_confidence"]
            self.model.appendRow([
                first,
                _item(r["status"]),
                _item(str(r["findings"]), r["findings"]),
                _item("-" if peak is None else f"{peak:.2f}", -1.0 if peak is None else peak),
                _item(_duration(r["duration_s"]), r["duration_s"] or 0.0),
                _item(f"{r['frames_read'] or 0} of {r['n_frames'] or 0}", r["n_frames"] or 0),
                _item(r["model_name"]),
                _item(r["finished_at"].replace("T", " ")),
                _item(r["error"] or ""),
            ])
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        done = sum(1 for r in rows if r["status"] == "done")
        with_f = sum(1 for r in rows if r["status"] == "done" and r["findings"])
        self.status.setText(f"{Path(self.database).name}: {len(rows)} procedure(s), {done} analysed, "
                            f"{with_f} with at least one finding. Double-click a row to review it.")

    def _failed(self, task: Task, message: str) -> None:
        if task is self._task:
            self.status.setText(f"Cannot read the results database: {message}")

    def path_at(self, row: int) -> str:
        return self.proxy.index(row, 0).data(PATH_ROLE)

    def _open_index(self, index) -> None:
        path = self.proxy.index(index.row(), 0).data(PATH_ROLE)
        if path:
            self.open_requested.emit(path)
