"""Feature-map dock: what chosen encoder stages respond to in the current frame.

Activations are computed in a worker (engine.analysis.gradcam.feature_maps); this widget only tiles
the strongest channels of each stage into one grey-scale grid image per stage.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from . import theme

STAGES = (1, 2, 3, 4, 5)


def tile(maps: np.ndarray, n: int = 16, pad: int = 1) -> np.ndarray:
    """The ``n`` most active channels of (C, h, w), each scaled to [0, 1], in a square grid."""
    c = maps.shape[0]
    order = np.argsort(-maps.reshape(c, -1).mean(axis=1))[: min(n, c)]
    cols = int(np.ceil(np.sqrt(len(order))))
    rows = int(np.ceil(len(order) / cols))
    h, w = maps.shape[1:]
    grid = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), np.nan, np.float32)
    for k, ch in enumerate(order):
        m = maps[ch].astype(np.float32)
        lo, hi = float(m.min()), float(m.max())
        m = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
        r, q = divmod(k, cols)
        grid[r * (h + pad): r * (h + pad) + h, q * (w + pad): q * (w + pad) + w] = m
    return np.nan_to_num(grid, nan=0.0)


class FeatureMapPanel(QWidget):
    stages_changed = Signal(tuple)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(QLabel("Encoder stages:"))
        self.checks: dict[int, QCheckBox] = {}
        for s in STAGES:
            cb = QCheckBox(str(s))
            cb.setChecked(s in (2, 4))
            cb.toggled.connect(self._changed)
            row.addWidget(cb)
            self.checks[s] = cb
        row.addWidget(QLabel("channels"))
        self.channels = QSpinBox()
        self.channels.setRange(1, 64)
        self.channels.setValue(16)
        self.channels.valueChanged.connect(self._changed)
        row.addWidget(self.channels)
        row.addStretch(1)
        lay.addLayout(row)
        self.status = QLabel("Shown for the current frame.")
        self.status.setObjectName("frameinfo")
        lay.addWidget(self.status)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(theme.BACKGROUND)
        lay.addWidget(self.graphics, 1)
        self.images: list[pg.ImageItem] = []
        self.shown_stages: tuple[int, ...] = ()

    def stages(self) -> tuple[int, ...]:
        return tuple(s for s, cb in self.checks.items() if cb.isChecked())

    def _changed(self, *_) -> None:
        self.stages_changed.emit(self.stages())

    def set_maps(self, stages: tuple[int, ...], maps: list[np.ndarray]) -> None:
        self.graphics.clear()
        self.images = []
        for s, m in zip(stages, maps):
            vb = self.graphics.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
            self.graphics.addLabel(f"stage {s} · {m.shape[0]} ch · {m.shape[2]}×{m.shape[1]}",
                                   angle=-90, color=theme.MUTED)
            img = pg.ImageItem(tile(m, self.channels.value()), levels=(0, 1))
            img.setLookupTable(pg.colormap.get("viridis").getLookupTable(0.0, 1.0, 256))
            vb.addItem(img)
            self.images.append(img)
            self.graphics.nextRow()
        self.shown_stages = tuple(stages)
        self.status.setText("Brightest = strongest activation; channels ordered by mean activation.")
