"""Side panel: overlay layers (toggle, opacity, colour legend) and the analysis settings.

The threshold slider is throttled: dragging re-thresholds cached probabilities at most
every 50 ms, never re-running the model.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QLabel,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qthrottled

from ..engine.runtime import views
from .overlay_items import Layer

DEVICES = (("Automatic", "auto"), ("CPU", "cpu"), ("CUDA GPU", "cuda"), ("Apple GPU (MPS)", "mps"))


def swatch(colour: tuple[int, ...], dashed: bool = False) -> QLabel:
    pix = QPixmap(18, 12)
    pix.fill(QColor(*colour[:3]))
    label = QLabel()
    label.setPixmap(pix)
    return label


VIEW_TITLES = [("Auto: flips on stills", views.AUTO), ("Off: one view", views.OFF),
               ("Flips everywhere", views.FLIPS)]


class LayerRow:
    """One legend row: visibility checkbox with the layer's colour, and an opacity slider."""

    def __init__(self, grid: QGridLayout, row: int, layer: Layer, panel: "ControlPanel"):
        self.name = layer.name
        self.check = QCheckBox(layer.title)
        self.check.setChecked(layer.visible)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(int(round(layer.opacity * 100)))
        self.opacity.setToolTip("Opacity")
        self.opacity.setMaximumWidth(90)
        grid.addWidget(swatch(layer.colour), row, 0)
        grid.addWidget(self.check, row, 1)
        grid.addWidget(self.opacity, row, 2)
        self.check.toggled.connect(lambda on: panel.layer_toggled.emit(self.name, on))
        self.opacity.valueChanged.connect(lambda v: panel.layer_opacity.emit(self.name, v / 100))


class ControlPanel(QWidget):
    layer_toggled = Signal(str, bool)
    layer_opacity = Signal(str, float)
    threshold_changed = Signal(float)
    min_area_changed = Signal(float)  # fraction of the frame
    model_chosen = Signal(str)  # model path
    device_chosen = Signal(str)
    size_chosen = Signal(object)  # pixels, 0 = the model's own, or "fast" (its fast profile)
    views_chosen = Signal(str)  # test-time views: auto, off, flips (engine.runtime.views)
    gradcam_target_changed = Signal(str)

    def __init__(self, layers: dict[str, Layer], parent: QWidget | None = None):
        super().__init__(parent)
        # the groups scroll rather than overlap when the dock is shorter than their height
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        inner = QWidget(scroll)
        scroll.setWidget(inner)
        self._inner = inner
        wrap = QVBoxLayout(self)
        wrap.setContentsMargins(0, 0, 0, 0)
        wrap.addWidget(scroll)
        outer = QVBoxLayout(inner)

        box = QGroupBox("Overlays")
        grid = QGridLayout(box)
        grid.setColumnStretch(1, 1)
        order = ("mask", "contour", "boxes", "gt", "gradcam")
        self.rows = {n: LayerRow(grid, i, layers[n], self) for i, n in enumerate(order)}
        self.gradcam_target = QComboBox()
        self.gradcam_target.addItem("Grad-CAM target: segmentation", "segmentation")
        self.gradcam_target.addItem("Grad-CAM target: polyp/no-polyp head", "classification")
        self.gradcam_target.currentIndexChanged.connect(
            lambda i: self.gradcam_target_changed.emit(self.gradcam_target.itemData(i)))
        grid.addWidget(self.gradcam_target, len(order), 1, 1, 2)
        outer.addWidget(box)

        box = QGroupBox("Detection")
        form = QFormLayout(box)
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(1, 99)
        self.threshold_label = QLabel()
        self.threshold.valueChanged.connect(self._threshold_moved)
        self._emit_threshold = qthrottled(self._emit_threshold_now, timeout=50, leading=True)
        form.addRow(self.threshold_label, self.threshold)
        self.min_area = QDoubleSpinBox()
        self.min_area.setRange(0.0, 5.0)
        self.min_area.setSingleStep(0.05)
        self.min_area.setDecimals(2)
        self.min_area.setSuffix(" % of frame")
        self.min_area.setToolTip("Regions smaller than this are not counted as polyps")
        self.min_area.valueChanged.connect(lambda v: self.min_area_changed.emit(v / 100))
        form.addRow("Minimum area", self.min_area)
        outer.addWidget(box)

        box = QGroupBox("Model")
        form = QFormLayout(box)
        self.model = QComboBox()
        self.model.activated.connect(lambda i: self.model_chosen.emit(self.model.itemData(i) or ""))
        form.addRow("Model", self.model)
        self.device = QComboBox()
        for title, value in DEVICES:
            self.device.addItem(title, value)
        self.device.activated.connect(lambda i: self.device_chosen.emit(self.device.itemData(i)))
        form.addRow("Device", self.device)
        self.size = QComboBox()
        self.set_size_choices([("Accurate (the model's own)", 0)])
        self.size.setToolTip("Accurate: the size the model was made for, best on small polyps.\n"
                             "Fast: the model's real-time profile for video on a CPU.\n"
                             "Other sizes trade accuracy for speed (the model card measures each).")
        self.size.activated.connect(lambda i: self.size_chosen.emit(self.size.itemData(i)))
        form.addRow("Analysis size", self.size)
        self.views = QComboBox()
        for title, value in VIEW_TITLES:
            self.views.addItem(title, value)
        self.views.setToolTip(
            "Test-time views: each frame is also analysed flipped and the results averaged.\n"
            "Auto: 4 flips for images, folders and datasets (steadier masks, most on other\n"
            "centres' images; 4x the work), one view for video so it keeps up.\n"
            "Off: one view everywhere. Flips everywhere: video too, 4x slower.")
        self.views.activated.connect(lambda i: self.views_chosen.emit(self.views.itemData(i)))
        form.addRow("Test-time views", self.views)
        self.device_note = QLabel()
        self.device_note.setWordWrap(True)
        self.device_note.setObjectName("frameinfo")
        form.addRow(self.device_note)
        outer.addWidget(box)
        outer.addStretch(1)
        self.set_threshold(0.5)

    def content_hint(self):
        """The groups' full size: the dock's height at first start (the scroll area's own hint
        is a fixed small box)."""
        return self._inner.sizeHint()

    # threshold: slider is in hundredths
    def _threshold_moved(self, value: int) -> None:
        self.threshold_label.setText(f"Threshold {value / 100:.2f}")
        self._emit_threshold(value / 100)

    def _emit_threshold_now(self, value: float) -> None:
        self.threshold_changed.emit(value)

    def set_threshold(self, value: float) -> None:
        self.threshold.blockSignals(True)
        self.threshold.setValue(int(round(value * 100)))
        self.threshold.blockSignals(False)
        self.threshold_label.setText(f"Threshold {value:.2f}")

    def set_min_area(self, fraction: float) -> None:
        self.min_area.blockSignals(True)
        self.min_area.setValue(fraction * 100)
        self.min_area.blockSignals(False)

    def set_models(self, entries: list[tuple[str, str]], current: str | None) -> None:
        """``entries`` are (title, path); ``current`` is the path in use."""
        self.model.clear()
        for title, path in entries:
            self.model.addItem(title, path)
        if current is not None:
            i = self.model.findData(current)
            if i < 0:
                self.model.addItem(current.rsplit("/", 1)[-1], current)
                i = self.model.count() - 1
            self.model.setCurrentIndex(i)

    def set_size_choices(self, choices: list[tuple[str, int | str]]) -> None:
        """(title, value) pairs from ``profiles.size_choices``; the current value is kept."""
        current = self.size.currentData()
        self.size.clear()
        for title, value in choices:
            self.size.addItem(title, value)
        if current is not None:
            self.set_size(current)

    def set_size(self, value: int | str) -> None:
        i = self.size.findData(value)
        if i < 0 and isinstance(value, int) and value > 0:  # a size the menu does not list
            self.size.addItem(f"{value} px", value)
            i = self.size.count() - 1
        self.size.setCurrentIndex(max(0, i))

    def set_views(self, value: str) -> None:
        i = self.views.findData(value)
        if i < 0:  # a choice the menu does not list (hflip, from the CLI's vocabulary)
            self.views.addItem(value, value)
            i = self.views.count() - 1
        self.views.setCurrentIndex(i)

    def set_device(self, value: str, note: str) -> None:
        i = self.device.findData(value)
        self.device.setCurrentIndex(max(0, i))
        self.device_note.setText(note)
