"""Window size for the screen it opens on, and minimum sizes that keep every panel usable.

A fixed first size (1280×820) hid the transport and status bars below the edge of a 1366×768
laptop screen. The first window now takes the preferred size or the available screen area,
whichever is smaller; a restored geometry from a larger monitor is shrunk the same way.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow

PREFERRED = QSize(1400, 900)  # first-start size on a big screen
MARGIN = 0.96  # of the available area: leave room for a window frame drawn by the desktop
DOCK_MIN_WIDTH = 300  # the control panel's labels and sliders stay readable
DOCK_MIN_HEIGHT = 110  # a dock title bar plus two rows of content


def available_rect(win: QMainWindow) -> QRect | None:
    screen = win.screen()
    return None if screen is None else screen.availableGeometry()


def fitted_size(available: QRect, preferred: QSize = PREFERRED) -> QSize:
    """``preferred``, shrunk to fit ``available`` (with room for the desktop's frame)."""
    w = min(preferred.width(), int(available.width() * MARGIN))
    h = min(preferred.height(), int(available.height() * MARGIN))
    return QSize(max(w, 320), max(h, 240))


def fit_to_screen(win: QMainWindow, available: QRect | None = None, restored: bool = False) -> None:
    """Size (first start) or shrink (``restored`` geometry) ``win`` to the available screen."""
    available = available or available_rect(win)
    if available is None:
        if not restored:
            win.resize(PREFERRED)
        return
    if restored:
        limit = fitted_size(available, QSize(available.width(), available.height()))
        size = QSize(min(win.width(), limit.width()), min(win.height(), limit.height()))
    else:
        size = fitted_size(available)
    win.resize(size)
    frame = win.frameGeometry()
    if not available.contains(frame):
        x = min(max(frame.x(), available.x()), available.right() - frame.width() + 1)
        y = min(max(frame.y(), available.y()), available.bottom() - frame.height() + 1)
        win.move(max(x, available.x()), max(y, available.y()))


def set_dock_minimums(*docks) -> None:
    """Every dock keeps a usable minimum; none forces the window taller than a laptop screen."""
    for dock in docks:
        dock.setMinimumWidth(DOCK_MIN_WIDTH)
        dock.setMinimumHeight(DOCK_MIN_HEIGHT)


def give_rest_to(win: QMainWindow, top: QDockWidget, bottom: QDockWidget) -> None:
    """First start: ``top`` (the controls) gets the height its content asks for and ``bottom``
    (the Findings list) the rest; an even split left ~1.5 finding rows at 768 px."""
    title = top.style().pixelMetric(top.style().PixelMetric.PM_TitleBarHeight)
    content = top.widget()
    inner = getattr(content, "content_hint", None)  # a scrolling panel's full height
    want = (inner() if inner else content.sizeHint()).height() + title + 30
    rest = max(DOCK_MIN_HEIGHT, win.height() - want)
    win.resizeDocks([top, bottom], [want, rest], Qt.Orientation.Vertical)
