"""The review table: one row per image, sortable and filterable, worst images first.

The model holds :class:`~polypviewer.engine.analysis.compare.ImageRow` objects; the proxy sorts on
numbers (``SORT_ROLE``), not on the displayed text, and puts images without a mask (no
metrics) after every scored one whatever the sort direction.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from ...engine.analysis.compare import ImageRow

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
# what an annotator sorts by first comes first: name, Dice, recall, missed and false alarms
# stay in view beside the Compare pane without scrolling on a 1366-px screen
COLUMNS = ("name", "dice", "recall", "missed", "false_alarms", "iou", "precision", "n_true",
           "n_pred", "verdict", "frame_prob", "size")
HEADERS = {"name": "Image", "size": "Size", "dice": "Dice", "iou": "IoU", "precision": "Precision",
           "recall": "Recall", "n_true": "True polyps", "n_pred": "Predicted", "missed": "Missed",
           "false_alarms": "False alarms", "verdict": "Verdict", "frame_prob": "Probability"}
FILTERS = {
    "all": "All images",
    "low_dice": "Dice < 0.5",
    "missed": "Missed polyps",
    "false_alarms": "False alarms",
    "no_mask": "No mask",
}
BAD = QColor(213, 94, 0)
MUTED = QColor(154, 160, 166)


def row_matches(row: ImageRow, preset: str) -> bool:
    if preset == "low_dice":
        return row.has_mask and row.dice < 0.5
    if preset == "missed":
        return bool(row.missed)
    if preset == "false_alarms":
        return bool(row.false_alarms)
    if preset == "no_mask":
        return not row.has_mask
    return True


class ImageTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[ImageRow] = []
        self._pos: dict[int, int] = {}  # image index -> row number

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[COLUMNS[section]]
        return None

    def clear(self) -> None:
        self.beginResetModel()
        self.rows, self._pos = [], {}
        self.endResetModel()

    def add_rows(self, rows: list[ImageRow]) -> None:
        """Add new rows, or replace rows of images already listed (e.g. after a save)."""
        fresh = []
        for r in rows:
            if r.index in self._pos:
                k = self._pos[r.index]
                self.rows[k] = r
                self.dataChanged.emit(self.index(k, 0), self.index(k, len(COLUMNS) - 1))
            else:
                fresh.append(r)
        if fresh:
            start = len(self.rows)
            self.beginInsertRows(QModelIndex(), start, start + len(fresh) - 1)
            for k, r in enumerate(fresh):
                self._pos[r.index] = start + k
                self.rows.append(r)
            self.endInsertRows()

    def row_of(self, image_index: int) -> int | None:
        return self._pos.get(image_index)

    def image_row(self, image_index: int) -> ImageRow | None:
        k = self._pos.get(image_index)
        return None if k is None else self.rows[k]

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        r = self.rows[index.row()]
        col = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(r, col)
        if role == SORT_ROLE:
            return _sort_value(r, col)
        if role == Qt.ItemDataRole.UserRole:
            return r.index
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == "name" and not r.has_mask:
                return MUTED
            if (col == "dice" and r.has_mask and r.dice < 0.5) or (col == "missed" and r.missed) \
                    or (col == "false_alarms" and r.false_alarms):
                return BAD
        if role == Qt.ItemDataRole.ToolTipRole and col == "name" and not r.has_mask:
            return "No ground-truth mask: annotate it in the Correct tab"
        if role == Qt.ItemDataRole.ToolTipRole and col == "n_true" and r.gt_specks:
            return (f"{r.gt_specks} ground-truth speck(s) under the minimum area are not counted "
                    "(the rule predictions use)")
        if role == Qt.ItemDataRole.TextAlignmentRole and col not in ("name", "size", "verdict"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def _display(r: ImageRow, col: str) -> str:
    if col == "name":
        return r.name if r.has_mask else f"{r.name}  (no mask)"
    if col == "size":
        return f"{r.width}×{r.height}"
    if col == "verdict":
        return "polyp" if r.verdict else "no polyp"
    if col == "frame_prob":
        return f"{r.frame_prob:.3f}"
    v = getattr(r, col)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _sort_value(r: ImageRow, col: str):
    if col == "name":
        return r.name.lower()
    if col == "size":
        return float(r.width * r.height)
    if col == "verdict":
        return float(r.verdict)
    v = getattr(r, col)
    return math.nan if v is None else float(v)


class ReviewProxy(QSortFilterProxyModel):
    """Filter presets + name search; NaN (no mask) always sorts last."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.preset = "all"
        self.setSortRole(SORT_ROLE)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(0)

    def set_preset(self, preset: str) -> None:
        if preset not in FILTERS:
            raise ValueError(f"unknown filter {preset!r}")
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9 (invalidateFilter is deprecated)
            self.beginFilterChange()
            self.preset = preset
            self.endFilterChange()
        else:
            self.preset = preset
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:
        model: ImageTableModel = self.sourceModel()
        if not row_matches(model.rows[source_row], self.preset):
            return False
        return super().filterAcceptsRow(source_row, source_parent)

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        if isinstance(a, str) or isinstance(b, str):
            return str(a) < str(b)
        a_nan, b_nan = a is None or math.isnan(a), b is None or math.isnan(b)
        if a_nan or b_nan:  # missing last in either direction
            descending = self.sortOrder() == Qt.SortOrder.DescendingOrder
            return (not a_nan and b_nan) != descending and a_nan != b_nan
        return a < b
