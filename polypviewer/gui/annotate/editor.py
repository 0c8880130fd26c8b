"""The "Correct" tab: a toolbar of editing tools around :class:`MaskCanvas`.

Saving is not done here (the workspace knows the dataset and the backups); this panel only
asks for it through ``save_requested`` so that Ctrl+S means the same thing everywhere.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QCheckBox, QLabel, QSpinBox, QToolBar, QVBoxLayout, QWidget

from .canvas import MAX_BRUSH, MIN_BRUSH, MaskCanvas, remove_specks

DESPECK_PX = 10  # on save, regions under this many pixels are stray, not a polyp's outline

TOOL_LABELS = {"brush": "Brush", "eraser": "Eraser", "polygon": "Polygon", "fill": "Fill"}
TOOL_TIPS = {
    "brush": "Paint polyp pixels ([ and ] change the size)",
    "eraser": "Erase polyp pixels ([ and ] change the size)",
    "polygon": "Click points; double-click, Enter or right-click closes and fills "
               "(Backspace removes the last point, Esc cancels)",
    "fill": "Click inside an outline to fill it, or on a region to remove it",
}


class MaskEditor(QWidget):
    save_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.canvas = MaskCanvas(self)
        self.prediction: np.ndarray | None = None
        bar = QToolBar(self)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.tool_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for tool, label in TOOL_LABELS.items():
            act = QAction(label, self, checkable=True, toolTip=TOOL_TIPS[tool])
            act.triggered.connect(lambda _=False, t=tool: self.canvas.set_tool(t))
            group.addAction(act)
            bar.addAction(act)
            self.tool_actions[tool] = act
        self.tool_actions["brush"].setChecked(True)
        self.size_box = QSpinBox(self, minimum=MIN_BRUSH, maximum=MAX_BRUSH, suffix=" px",
                                 toolTip="Brush size ([ smaller, ] larger)")
        self.size_box.setValue(self.canvas.brush_size)
        self.size_box.valueChanged.connect(self.canvas.set_brush_size)
        self.canvas.brush_changed.connect(self.size_box.setValue)
        bar.addWidget(self.size_box)
        bar.addSeparator()
        self.from_pred_action = bar.addAction("Start from prediction", self.start_from_prediction)
        self.clear_action = bar.addAction("Clear", self.clear_mask)
        bar.addSeparator()
        stack = self.canvas.undo_stack
        self.undo_action = stack.createUndoAction(self, "Undo")
        self.undo_action.setShortcuts([QKeySequence("Ctrl+Z")])
        self.redo_action = stack.createRedoAction(self, "Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.save_action = QAction("Save mask", self,  # Ctrl+S belongs to the workspace
                                   toolTip="Save the mask, Ctrl+S (the previous one is backed up)")
        self.save_action.triggered.connect(self.save_requested)
        for act in (self.undo_action, self.redo_action, self.save_action):
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            bar.addAction(act)
            self.addAction(act)
        bar.addSeparator()
        self.despeck = QCheckBox("Remove specks under", self, checked=True,
                                 toolTip="On save, drop mask regions smaller than this "
                                         "(stray pixels left by the eraser or a JPEG mask)")
        self.despeck_px = QSpinBox(self, minimum=2, maximum=10_000, value=DESPECK_PX, suffix=" px")
        self.despeck.toggled.connect(self.despeck_px.setEnabled)
        bar.addWidget(self.despeck)
        bar.addWidget(self.despeck_px)
        self.state = QLabel(self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(bar)
        lay.addWidget(self.canvas, 1)
        lay.addWidget(self.state)
        stack.cleanChanged.connect(self._update_state)
        self._update_state()

    def keyPressEvent(self, event) -> None:
        """Ctrl+S reaching here (shortcut not delivered, e.g. window inactive) still saves."""
        if event.matches(QKeySequence.StandardKey.Save):
            self.save_requested.emit()
        else:
            super().keyPressEvent(event)

    def set_image(self, rgb: np.ndarray, mask: np.ndarray | None, prediction: np.ndarray | None,
                  note: str = "") -> None:
        self.prediction = prediction
        self.note = note
        self.canvas.set_image(rgb, mask)
        self.from_pred_action.setEnabled(prediction is not None)
        self._update_state()

    def clean_for_saving(self) -> int:
        """Apply "remove specks" as one undoable edit before a save; returns the regions removed."""
        if not self.despeck.isChecked() or not self.canvas.has_image():
            return 0
        cleaned, removed = remove_specks(self.canvas.mask(), self.despeck_px.value())
        if removed:
            self.canvas.replace_mask(cleaned, f"remove {removed} speck(s)")
        return removed

    def start_from_prediction(self) -> None:
        if self.prediction is not None:
            self.canvas.replace_mask(self.prediction, "start from prediction")

    def clear_mask(self) -> None:
        if self.canvas.has_image():
            self.canvas.replace_mask(np.zeros_like(self.canvas.mask()), "clear")

    def _update_state(self, *_args) -> None:
        note = getattr(self, "note", "")
        dirty = "  ·  unsaved changes (Ctrl+S saves)" if self.canvas.is_dirty() else ""
        self.state.setText(f"{note}{dirty}")
