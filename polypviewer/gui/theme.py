"""Dark neutral theme and the overlay colours (one place, so legend and drawing agree).

A dark grey surround keeps attention on the endoscopic image. Overlay colours are the ones
engine.export.overlay uses for exports (Okabe-Ito: warm = model, cool = reference), so a saved frame
looks like the screen. Unchecked boxes and radios get a visible outline (Fusion's is nearly
black on this palette) and a checked push button (a mode) is filled with the accent colour.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from ..engine.export import overlay
from ..paths import resources_dir

BACKGROUND = "#1b1d20"
PANEL = "#24272b"
TEXT = "#e6e6e6"
MUTED = "#9aa0a6"
ACCENT = "#4fb3d9"
CONTROL_EDGE = "#8a919a"  # unchecked boxes and radios: visible against the panels

FILL = overlay.ORANGE  # predicted mask fill
PRED = overlay.YELLOW  # predicted contour and boxes
GT = overlay.SKY_BLUE  # ground-truth contour
SEGMENT = (*overlay.ORANGE, 90)  # timeline detection segments
POSITIVE = "#f0e442"
NEGATIVE = "#9aa0a6"

CHECK_ICON = (resources_dir() / "icons" / "check.svg").as_posix()  # the tick on a checked box
STYLE = f"""
QWidget {{ color: {TEXT}; }}
QMainWindow, QDockWidget, QDialog {{ background: {BACKGROUND}; }}
QDockWidget::title {{ background: {PANEL}; padding: 4px; }}
QGroupBox {{ border: 1px solid #3a3e44; border-radius: 4px; margin-top: 8px; padding-top: 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 6px; color: {MUTED}; }}
QLabel#badge {{ background: rgba(20, 22, 25, 200); border-radius: 6px; padding: 6px 10px;
               font-size: 15px; font-weight: 600; }}
QLabel#frameinfo {{ color: {MUTED}; }}
QLabel#viewinfo {{ color: {MUTED}; background: rgba(20, 22, 25, 170); border-radius: 4px;
                  padding: 2px 6px; }}
QStatusBar {{ background: {PANEL}; color: {MUTED}; }}
QToolButton {{ padding: 3px 6px; }}
QCheckBox::indicator, QRadioButton::indicator, QGroupBox::indicator {{
    width: 13px; height: 13px; border: 1px solid {CONTROL_EDGE}; background: {BACKGROUND}; }}
QRadioButton::indicator {{ border-radius: 7px; }}
QCheckBox::indicator:checked, QGroupBox::indicator:checked {{
    background: {ACCENT}; border-color: {ACCENT}; image: url({CHECK_ICON}); }}
QRadioButton::indicator:checked {{ background: qradialgradient(cx:0.5, cy:0.5, radius:0.5,
    fx:0.5, fy:0.5, stop:0 {ACCENT}, stop:0.55 {ACCENT}, stop:0.65 {BACKGROUND}); border-color: {ACCENT}; }}
QCheckBox::indicator:disabled, QRadioButton::indicator:disabled {{ border-color: #4a4f56; }}
QCheckBox::indicator:hover, QRadioButton::indicator:hover {{ border-color: {TEXT}; }}
QPushButton {{ background: #2d3136; border: 1px solid #4a4f56; border-radius: 3px;
    padding: 3px 10px; }}
QPushButton:hover {{ border-color: {CONTROL_EDGE}; }}
QPushButton:pressed {{ background: #3a3e44; }}
QPushButton:disabled {{ color: {MUTED}; border-color: #3a3e44; }}
QPushButton:checked {{ background: {ACCENT}; color: #000000; border-color: {ACCENT}; }}
"""


def apply(app: QApplication) -> None:
    """Fusion style with a dark palette: the same look on every OS."""
    app.setStyle("Fusion")
    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: PANEL, QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: BACKGROUND, QPalette.ColorRole.AlternateBase: PANEL,
        QPalette.ColorRole.Text: TEXT, QPalette.ColorRole.Button: "#2d3136",
        QPalette.ColorRole.ButtonText: TEXT, QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: "#000000", QPalette.ColorRole.ToolTipBase: PANEL,
        QPalette.ColorRole.ToolTipText: TEXT, QPalette.ColorRole.PlaceholderText: MUTED,
    }
    for role, colour in roles.items():
        pal.setColor(role, QColor(colour))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(MUTED))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor(MUTED))
    app.setPalette(pal)
    app.setStyleSheet(STYLE)
