"""GUI fixtures: generated media (frames that encode their index) and a window on the tiny model."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from gui_helpers import SLOW, H, W, code_frame, make_video


@pytest.fixture(autouse=True)
def _isolated_log_dir(tmp_path_factory, monkeypatch):
    """The app's log file (gui.logs) goes to a temporary folder, never the user's."""
    monkeypatch.setenv("POLYPVIEWER_LOG_DIR", str(tmp_path_factory.mktemp("log")))



@pytest.fixture(scope="session")
def video(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("vid") / "clip.mp4", 40)


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("folder")
    for i in range(3):
        cv2.imwrite(str(root / f"frame{i}.png"), cv2.cvtColor(code_frame(i * 5), cv2.COLOR_RGB2BGR))
    return root


@pytest.fixture(scope="session")
def gui_dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ds")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    for i in range(3):
        img = code_frame(i)
        mask = np.zeros((H, W), np.uint8)
        cv2.circle(mask, (30 + i * 2, 65), 14, 255, -1)
        cv2.imwrite(str(root / "images" / f"case{i}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "masks" / f"case{i}.png"), mask)
    return root


@pytest.fixture
def wizard(qtbot, tmp_path):
    """An open training wizard, every page built, on a stub main window; runs under tmp_path."""
    from wizard_helpers import StubMainWindow

    from polypviewer.gui.wizard import install

    tools = install(StubMainWindow())
    tools._runs_root = tmp_path / "runs"
    qtbot.addWidget(tools.panel)
    wiz = tools.open_wizard()
    qtbot.addWidget(wiz)
    qtbot.waitUntil(wiz.ready, timeout=60_000)  # pages are built over a few turns
    yield wiz
    if tools.wizard is not None:
        qtbot.waitUntil(lambda: not tools.wizard.busy(), timeout=60_000)
        tools.wizard.close()
    tools.shutdown()


def pv_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("pv-") and t.is_alive()]


@pytest.fixture
def make_window(qtbot, tiny_model_path):
    """Build MainWindow on a model (the tiny one by default); closed, threads checked, at teardown."""
    from polypviewer.gui.app import create_window

    wins = []

    def make(model: str | Path | None = tiny_model_path, wait_model: bool = True):
        win = create_window(str(model) if model else None, "cpu")
        wins.append(win)
        win.show()
        if wait_model:
            qtbot.waitUntil(lambda: win.review.predictor is not None, timeout=SLOW)
        return win

    yield make
    for win in wins:
        win.close()  # cancels the workers; the window closes once they have all ended
    try:
        qtbot.waitUntil(lambda: not pv_threads() and not any(w.isVisible() for w in wins),
                        timeout=SLOW)
    except Exception:
        raise AssertionError(f"worker threads left running after close: {pv_threads()}") from None
    for win in wins:
        win.deleteLater()
    _collect_qt_garbage()


def _collect_qt_garbage() -> None:
    """Delete closed windows and collect their Python wrappers now, with no worker running.

    Left to chance, the cyclic GC can finalise Qt wrappers of a closed window in the middle of
    a later test while a worker thread is building a model, which crashed PySide6 once.
    """
    import gc

    from PySide6.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    gc.collect()



@pytest.fixture(autouse=True)
def _qt_garbage_between_tests():
    yield
    from PySide6.QtCore import QCoreApplication

    if QCoreApplication.instance() is not None:
        _collect_qt_garbage()


def pytest_collection_modifyitems(items):
    """A hung GUI test fails within a minute, unless it marks a longer limit itself."""
    for item in items:
        if "tests/gui/" in str(item.fspath).replace("\\", "/") and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(60))
