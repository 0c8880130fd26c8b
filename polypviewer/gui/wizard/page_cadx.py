"""The Task page's choices for the neoplastic head fit (``train --task cadx``): the sizes the
training polyps are pooled at and the four flips.

The app reads the head at whichever analysis size is chosen, so the bundled models' heads are
fitted at all four sizes it offers; a fit at the model's own size alone is the quick one.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QFormLayout, QGroupBox, QHBoxLayout, QWidget

BUNDLED_SIZES = (256, 320, 384, 448)  # the analysis sizes the bundled models' heads are fitted at

FLIPS_TIP = ("Stills are analysed in the four flips, the neoplastic head's logits averaged over "
             "them, and a flipped polyp's encoder features are not the polyp's: pooling every "
             "training polyp in each flip as well fits the head to what stills show (four times "
             "the samples, about three times as long; --cadx-views flips). Video is analysed "
             "in one view; the holdout is scored so.")


class CadxOptions(QGroupBox):
    """``changed`` whenever a choice changes (the page's Next depends on a size being ticked)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Neoplastic head fit", parent)
        self.own: int | None = None
        self.size_boxes: dict[int, QCheckBox] = {}
        self.sizes_row = QHBoxLayout()
        self.sizes_row.addStretch(1)
        self.flips = QCheckBox("Each training polyp also in the four flips")
        self.flips.setChecked(True)
        self.flips.setToolTip(FLIPS_TIP)
        form = QFormLayout(self)
        form.addRow("Pool the polyps at", self.sizes_row)
        form.addRow("", self.flips)
        self.set_model_size(None)

    def set_model_size(self, own: int | None) -> None:
        """One box per size: the chosen model's own (ticked) and the bundled models' four."""
        if own == self.own and self.size_boxes:
            return
        self.own = own
        for box in self.size_boxes.values():
            self.sizes_row.removeWidget(box)
            box.deleteLater()
        self.size_boxes = {}
        for i, at in enumerate(sorted({*BUNDLED_SIZES, *([own] if own else [])})):
            box = QCheckBox(f"{at} px" + (" (the model's)" if at == own else ""))
            box.setChecked(at == own)
            box.setToolTip("the model's own input size" if at == own else
                           "an analysis size the bundled models' heads are fitted at")
            box.toggled.connect(self.changed)
            self.size_boxes[at] = box
            self.sizes_row.insertWidget(i, box)
        self.changed.emit()

    def sizes(self) -> list[int]:
        return [at for at, box in self.size_boxes.items() if box.isChecked()]

    def apply(self, spec) -> None:
        spec.cadx_sizes = self.sizes()
        spec.cadx_flips = self.flips.isChecked()
