"""The workspace's widgets and where they sit: a tool row, the image table beside the
Compare / Correct / Summary tabs, and a status line. The workspace wires their signals.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenuBar,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
)

from ...engine.runtime.postprocess import DEFAULT_MIN_AREA_FRACTION
from .compare_view import CompareView
from .editor import MaskEditor
from .summary import SummaryPanel
from .table_model import COLUMNS, FILTERS, ImageTableModel, ReviewProxy


def build(ws) -> None:
    """Create the widgets of ``ws`` (an AnnotateWorkspace) as its attributes and lay them out."""
    ws.menu_bar = QMenuBar(ws)
    file_menu = ws.menu_bar.addMenu("&File")
    ws.open_action = file_menu.addAction("Open dataset…")
    ws.save_action = QAction("Save mask", ws, shortcut=QKeySequence("Ctrl+S"))
    ws.save_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    ws.addAction(ws.save_action)
    file_menu.addAction(ws.save_action)
    ws.export_action = file_menu.addAction("Export…")
    ws.export_action.setEnabled(False)

    ws.filter_box = QComboBox(ws)
    for key, label in FILTERS.items():
        ws.filter_box.addItem(label, key)
    ws.search = QLineEdit(ws, placeholderText="Filter by name")
    ws.progress = QProgressBar(ws, maximumWidth=220, textVisible=True)
    ws.progress.hide()
    ws.cancel_button = QPushButton("Cancel", ws)
    ws.cancel_button.hide()
    ws.status = QLabel("Open a dataset (a folder with images/ and masks/).", ws)
    ws.min_area = QDoubleSpinBox(ws, minimum=0.0, maximum=5.0, singleStep=0.05, decimals=2,
                                 suffix=" % of image")
    ws.min_area.setToolTip("Regions smaller than this are specks, not polyps, in the "
                           "prediction and in the ground truth alike")
    ws.min_area.setValue(DEFAULT_MIN_AREA_FRACTION * 100)
    top = QHBoxLayout()
    top.addWidget(ws.menu_bar)
    top.addWidget(QLabel("Show:"))
    top.addWidget(ws.filter_box)
    top.addWidget(ws.search)
    top.addWidget(QLabel("Minimum polyp area:"))
    top.addWidget(ws.min_area)
    top.addWidget(ws.progress)
    top.addWidget(ws.cancel_button)
    top.addStretch(1)

    ws.table_model = ImageTableModel(ws)
    ws.proxy = ReviewProxy(ws)
    ws.proxy.setSourceModel(ws.table_model)
    table = ws.table = QTableView(ws)
    table.setModel(ws.proxy)
    table.setSortingEnabled(True)
    table.sortByColumn(COLUMNS.index("dice"), Qt.SortOrder.AscendingOrder)  # worst first
    table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
    table.verticalHeader().hide()
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    # long file names are elided in the middle so the metric columns stay in view
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
    table.setColumnWidth(0, 150)

    ws.compare = CompareView(ws)
    ws.editor = MaskEditor(ws)
    ws.summary = SummaryPanel(ws)
    ws.tabs = QTabWidget(ws)
    ws.tabs.addTab(ws.compare, "Compare")
    ws.tabs.addTab(ws.editor, "Correct")
    ws.tabs.addTab(ws.summary, "Summary")
    split = QSplitter(Qt.Orientation.Horizontal, ws)
    split.addWidget(table)
    split.addWidget(ws.tabs)
    split.setStretchFactor(1, 2)
    # the table is the annotator's work list: name, Dice and IoU must stay readable
    table.setMinimumWidth(260)
    table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    split.setCollapsible(0, False)
    split.setSizes([560, 800])
    lay = QVBoxLayout(ws)
    lay.addLayout(top)
    lay.addWidget(split, 1)
    lay.addWidget(ws.status)
    # B blinks GT/prediction also while the table has focus (arrow keys walk, B compares)
    blink = QShortcut(QKeySequence("B"), table, ws.compare.blink,
                      whatsThis="Blink between ground truth and prediction")
    blink.setContext(Qt.ShortcutContext.WidgetShortcut)  # a context= keyword is ignored
