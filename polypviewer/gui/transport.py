"""Playback bar: play/pause, steps, speed, the scrub slider and the time/frame readout.

Pure widget: it emits what the user asked for; the main window decides what to load.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QStyle, QToolButton, QWidget

SP = QStyle.StandardPixmap

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0)


def format_time(seconds: float | None) -> str:
    if seconds is None:
        return ""
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m):02d}:{s:05.2f}"


class TransportBar(QWidget):
    seek = Signal(int)  # absolute frame index
    step = Signal(int)  # relative
    play_toggled = Signal(bool)
    speed_changed = Signal(float)
    finding_step = Signal(int)  # -1 previous finding, +1 next

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 2)

        def button(text: str, tip: str, slot, icon=None) -> QToolButton:
            b = QToolButton(self)
            b.setText(text)
            if icon is not None:
                b.setIcon(self.style().standardIcon(icon))
            b.setToolTip(tip)
            b.setAutoRaise(True)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space must stay play/pause, not "click"
            b.clicked.connect(slot)
            lay.addWidget(b)
            return b

        button("First", "First frame (Home)", lambda: self.seek.emit(0), SP.SP_MediaSkipBackward)
        button("-10", "Back 10 frames (Shift+Left)", lambda: self.step.emit(-10), SP.SP_MediaSeekBackward)
        button("-1", "Previous frame (Left)", lambda: self.step.emit(-1))
        self.play_button = button("Play", "Play / pause (Space)", self._toggle, SP.SP_MediaPlay)
        self.play_button.setCheckable(True)
        button("+1", "Next frame (Right)", lambda: self.step.emit(1))
        button("+10", "Forward 10 frames (Shift+Right)", lambda: self.step.emit(10), SP.SP_MediaSeekForward)
        button("Last", "Last frame (End)", lambda: self.seek.emit(self.slider.maximum()), SP.SP_MediaSkipForward)

        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setMinimum(0)
        self.slider.setTracking(True)
        self.slider.valueChanged.connect(self._slider_moved)
        self.slider.setMinimumWidth(60)  # never squeezed away by a wide side panel
        lay.addWidget(self.slider, 1)
        self.readout = QLabel("", self)
        # room for the longest readout, so "frame 121 / 347" is never cut to "/ 34"
        self.readout.setMinimumWidth(
            self.readout.fontMetrics().horizontalAdvance("00:00.00   frame 0000 / 0000") + 8)
        lay.addWidget(self.readout)

        button("◂ Finding", "Previous finding (P)", lambda: self.finding_step.emit(-1))
        button("Finding ▸", "Next finding (N)", lambda: self.finding_step.emit(1))
        self.speed = QComboBox(self)
        for s in SPEEDS:
            self.speed.addItem(f"{s:g}×", s)
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.speed.setToolTip("Playback speed")
        self.speed.currentIndexChanged.connect(lambda i: self.speed_changed.emit(SPEEDS[i]))
        lay.addWidget(self.speed)
        self._quiet = False

    def _toggle(self) -> None:
        self.play_toggled.emit(self.play_button.isChecked())

    def _slider_moved(self, value: int) -> None:
        if not self._quiet:
            self.seek.emit(value)

    def set_length(self, n: int) -> None:
        self._quiet = True
        self.slider.setMaximum(max(0, n - 1))
        self._quiet = False
        self.setEnabled(n > 1)

    def set_position(self, index: int, n: int, time_s: float | None) -> None:
        """Reflect the shown frame without re-emitting a seek."""
        self._quiet = True
        self.slider.setValue(index)
        self._quiet = False
        t = format_time(time_s)
        self.readout.setText(f"{t}   frame {index + 1} / {n}" if t else f"{index + 1} / {n}")

    def set_playing(self, on: bool) -> None:
        self.play_button.setChecked(on)
        self.play_button.setIcon(self.style().standardIcon(SP.SP_MediaPause if on else SP.SP_MediaPlay))
