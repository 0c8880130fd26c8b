"""Dark neutral theme and the overlay colours (one place, so legend and drawing agree).

A dark grey surround keeps attention on the endoscopic image. Overlay colours are the ones
engine.export.overlay uses for exports (Okabe-Ito: warm = model, cool = reference), so a saved frame
looks like the screen.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from ..engine.export import overlay

BACKGROUND = "#1b1d20"
PANEL = "#24272b"
TEXT = "#e6e6e6"
MUTED = "#9aa0a6"
ACCENT = "#4fb3d9"

FILL = overlay.ORANGE  # predicted mask fill
PRED = overlay.YELLOW  # predicted contour and boxes
GT = overlay.SKY_BLUE  # ground-truth contour
SEGMENT = (*overlay.ORANGE, 90)  # timeline detection segments
POSITIVE = "#f0e442"
NEGATIVE = "#9aa0a6"

STYLE = f"""
QWidget {{ color: {TEXT}; }}
QMainWindow, QDockWidget, QDialog {{ background: {BACKGROUND}; }}
QDockWidget::title {{ background: {PANEL}; padding: 4px; }}
QGroupBox {{ border: 1px solid #3a3e44; border-radius: 4px; margin-top: 8px; padding-top: 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 6px; color: {MUTED}; }}
QLabel#badge {{ background: rgba(20, 22, 25, 200); border-radius: 6px; padding: 6px 10px;
               font-size: 15px; font-weight: 600; }}
QLabel#frameinfo {{ color: {MUTED}; }}
QStatusBar {{ background: {PANEL}; color: {MUTED}; }}
QToolButton {{ padding: 3px 6px; }}
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
