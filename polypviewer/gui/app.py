"""Start the Qt application: theme, icon, the main window, and the ``--screenshot`` mode.

Screenshot mode (``polypviewer gui PATH --frame N --screenshot out.png``) renders offscreen:
it opens PATH, analyses it (videos: frames 0..N), shows frame N with its overlays, saves
``window.grab()`` as PNG and exits 0 (1 if the frame could not be shown in time).
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

    from . import theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("PolypViewer")
    app.setApplicationName("PolypViewer")
    theme.apply(app)
    icon = _icon()
    if icon is not None:
        app.setWindowIcon(icon)
    return app


def create_window(model: str | None = None, device: str | None = None, size: int | None = None):
    from . import annotate, wizard
    from .main_window import MainWindow

    make_app()
    win = MainWindow(model=model, device=device, size=size)
    annotate.install(win)  # Tools -> Dataset review
    wizard.install(win)  # Tools -> Train a model..., Runs dock
    return win


class ScreenshotRunner:
    """Waits (event loop running) until frame N is shown with its analysis, then grabs."""

    def __init__(self, win, out: str, frame: int, app):
        from PySide6.QtCore import QTimer

        self.win, self.out, self.frame, self.app = win, out, frame, app
        self.started = time.monotonic()
        self.analysis_started = False
        self.code = 1
        self.timer = QTimer(win, interval=100)
        self.timer.timeout.connect(self.poll)
        self.timer.start()

    def poll(self) -> None:
        r = self.win.review
        if time.monotonic() - self.started > SCREENSHOT_TIMEOUT_S:
            print(f"screenshot: timed out ({r.win.last_error or 'frame not shown'})", file=sys.stderr)
            return self.finish(1)
        if r.media is None:
            if self.win.last_error and not any(t.running() for t in r.tasks):
                self.save()  # show the error state, still a useful picture
                return self.finish(1)
            return
        target = min(self.frame, r.n - 1)
        if r.predictor is not None and r.store is not None and not self.analysis_started:
            if not all(r.store.has(i) for i in range(target + 1)):
                r.start_analysis(stop=target + 1 if r.media.kind == "video" else None)
            self.analysis_started = True
        model_pending = r.predictor is None and any(t.running() for t in r.tasks)
        if model_pending or r.analysing() or r.findings_timer.isActive() or not r.findings_worker.idle():
            return
        if r.shown != target or (r.predictor is not None and r.prediction is None):
            if r.requested != target or (r.loader is not None and r.loader.idle()):
                r.seek(target)
            return
        if r.view.layers["gradcam"].visible and not r.view.layers["gradcam"].has_data:
            return
        self.save()
        self.finish(0)

    def save(self) -> None:
        Path(self.out).parent.mkdir(parents=True, exist_ok=True)
        self.win.grab().save(self.out)
        print(f"screenshot saved: {self.out}")

    def finish(self, code: int) -> None:
        self.code = code
        self.timer.stop()
        self.win.close()
        self.app.quit()


def run_app(paths: list[str], args=None) -> int:
    """Entry point used by the CLI; returns the process exit code."""
    screenshot = getattr(args, "screenshot", None)
    if screenshot and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    frame = getattr(args, "frame", None) or 0
    app = make_app()
    win = create_window(getattr(args, "model", None), getattr(args, "device", None),
                        getattr(args, "size", None))
    if not paths:
        from ..paths import resources_dir

        demo = resources_dir() / "samples" / "demo.mp4"
        paths = [str(demo)] if demo.exists() else []
    win.show()
    if paths:
        win.open_path(paths[0], frame)
    if screenshot:
        runner = ScreenshotRunner(win, screenshot, frame, app)
        app.exec()
        return runner.code
    code = app.exec()
    return int(code or 0)
