"""Start the Qt application: theme, icon, the main window, and the ``--screenshot`` mode.

Screenshot mode (``polypviewer gui PATH --frame N --screenshot out.png``) renders offscreen:
it opens PATH, analyses it (videos: frames 0..N), shows frame N with its overlays, saves
``window.grab()`` and exits 0. It exits 1 with one line on stderr when the picture is not the
one asked for or not on disk: no model loaded, the frame not shown in time, the file not
written (checked before the window opens: the format and the folder; at the end: the disk).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

SCREENSHOT_TIMEOUT_S = 300.0


def _icon():
    from PySide6.QtGui import QIcon

    from ..paths import resources_dir

    folder = resources_dir() / "icons"
    for name in ("polypviewer.svg", "polypviewer.png", "app.svg", "app.png", "icon.png"):
        if (folder / name).is_file():
            return QIcon(str(folder / name))
    found = sorted(folder.glob("*.png")) + sorted(folder.glob("*.svg")) if folder.is_dir() else []
    return QIcon(str(found[0])) if found else None


def make_app():
    """The QApplication (reused if one exists, e.g. under pytest-qt), themed."""
    from PySide6.QtWidgets import QApplication

    from . import logs, theme

    logs.setup_logging()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("PolypViewer")
    app.setApplicationName("PolypViewer")
    theme.apply(app)
    icon = _icon()
    if icon is not None:
        app.setWindowIcon(icon)
    return app


def create_window(model: str | None = None, device: str | None = None,
                  size: int | str | None = None):
    from . import annotate, memory, wizard
    from .main_window import MainWindow  # imports torch and the engine

    make_app()
    memory.freeze_libraries()
    win = MainWindow(model=model, device=device, size=size)
    annotate.install(win)  # Tools -> Dataset review
    wizard.install(win)  # Tools -> Train a model..., Runs dock
    return win


def check_screenshot_path(out: str | os.PathLike) -> Path:
    """Refuse a screenshot path that cannot be written, before any window or model work."""
    from PySide6.QtGui import QImageWriter

    from ..engine import fsutil
    from ..engine.errors import PolypViewerError

    path = Path(out)
    formats = sorted({bytes(f).decode().lower() for f in QImageWriter.supportedImageFormats()})
    if path.suffix.lower().lstrip(".") not in formats:
        raise PolypViewerError(f"cannot save a screenshot as {path.name}: use .png or .jpg "
                               f"(or one of {', '.join('.' + f for f in formats)})")
    if path.is_dir():
        raise PolypViewerError(f"cannot save a screenshot as {path}: it is a folder")
    fsutil.check_writable_dir(path.parent)
    return path


def save_screenshot(widget, out: str | os.PathLike) -> Path:
    """Encode ``widget.grab()`` in memory, then write it atomically (a full disk leaves nothing)."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    from ..engine import fsutil
    from ..engine.errors import PolypViewerError

    path = Path(out)
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    ok = widget.grab().save(buf, path.suffix.lstrip(".").upper())
    buf.close()
    if not ok or data.isEmpty():
        raise PolypViewerError(f"could not encode the screenshot as {path.name}")
    fsutil.write_bytes(path, bytes(data.data()))
    return path


class ScreenshotRunner:
    """Waits (event loop running) until frame N is shown with its analysis, then grabs."""

    def __init__(self, win, out: str, frame: int, app):
        from PySide6.QtCore import QTimer

        self.win, self.out, self.frame, self.app = win, out, frame, app
        self.started = time.monotonic()
        self.analysis_started = False
        self.analysing = False  # until the window has taken the run's end (findings, status)
        win.review.analysis_finished.connect(self._analysis_finished)
        self.code = 1
        self.timer = QTimer(win, interval=100)
        self.timer.timeout.connect(self.poll)
        self.timer.start()

    def poll(self) -> None:
        """One line and exit 1 for anything that goes wrong, never a traceback and a hang."""
        try:
            self._poll()
        except Exception as e:  # noqa: BLE001 - a slot must not raise; the run ends instead
            from ..engine.errors import PolypViewerError

            msg = str(e) if isinstance(e, PolypViewerError) else f"{type(e).__name__}: {e}"
            self.fail(msg)

    def fail(self, message: str) -> None:
        print(f"screenshot: {' '.join(message.split())}", file=sys.stderr)
        self.finish(1)

    def _poll(self) -> None:
        r = self.win.review
        if time.monotonic() - self.started > SCREENSHOT_TIMEOUT_S:
            return self.fail(f"timed out ({self.win.last_error or 'frame not shown'})")
        if r.media is None:
            if self.win.last_error and r.settled():
                self.save()  # show the error state, still a useful picture
                return self.fail(f"saved {self.out}, but {self.win.last_error}")
            return
        target = min(self.frame, r.n - 1)
        if r.predictor is not None and r.store is not None and not self.analysis_started:
            if not all(r.store.has(i) for i in range(target + 1)):
                self.analysing = r.start_analysis(stop=target + 1 if r.media.kind == "video"
                                                  else None)
            self.analysis_started = True
        if self.analysing or not r.settled():
            return
        if r.shown != target or (r.predictor is not None and r.prediction is None):
            r.seek(target)
            return
        if r.view.layers["gradcam"].visible and not r.view.layers["gradcam"].has_data:
            return
        self.save()
        if r.predictor is None:  # the model failed to load: a picture without analysis
            why = self.win.last_error or "no model could be loaded"
            return self.fail(f"saved {self.out} without analysis: no model loaded ({why})")
        print(f"screenshot saved: {self.out}")
        self.finish(0)

    def _analysis_finished(self, _outcome: str) -> None:
        # a worker thread can end before its "finished" reaches the window: until then the
        # status bar and the Findings list still show the run in progress
        self.analysing = False

    def save(self) -> None:
        save_screenshot(self.win, self.out)

    def finish(self, code: int) -> None:
        """Close the window; the app quits once it has really closed (workers ended)."""
        self.code = code
        self.timer.stop()
        self.win.closed.connect(self.app.quit)
        self.win.close()


def run_app(paths: list[str], args=None) -> int:
    """Entry point used by the CLI; returns the process exit code."""
    screenshot = getattr(args, "screenshot", None)
    if screenshot and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if screenshot:
        check_screenshot_path(screenshot)
    frame = getattr(args, "frame", None) or 0
    from .platform_check import check_xcb

    problem = check_xcb()  # a missing system library: one clear line, not Qt's abort
    if problem:
        print(problem, file=sys.stderr)
        return 1
    app = make_app()
    win = create_window(getattr(args, "model", None), getattr(args, "device", None),
                        getattr(args, "size", None))
    if not paths:
        from ..paths import resources_dir

        demo = resources_dir() / "samples" / "demo.mp4"
        paths = [str(demo)] if demo.exists() else []
    if screenshot:  # the whole (offscreen) screen, whatever window size the settings hold
        win.setGeometry(win.screen().availableGeometry())
    win.show()
    if paths:
        win.open_path(paths[0], frame)
    if screenshot:
        runner = ScreenshotRunner(win, screenshot, frame, app)
        app.exec()
        return runner.code
    code = app.exec()
    return int(code or 0)
