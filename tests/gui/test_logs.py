"""Worker errors reach the rotating log file in the user log folder, with their traceback."""

from __future__ import annotations

from polypviewer.engine.errors import MediaError
from polypviewer.gui import logs
from polypviewer.gui.workers import LatestWorker, Task
from polypviewer.paths import user_log_dir


def _boom(_req):
    raise ZeroDivisionError("a bug in a worker")


def _bad_file():
    raise MediaError("clip.mp4 cannot be read")


def test_worker_errors_are_logged(qtbot):
    path = logs.setup_logging()
    assert path is not None and path.parent == user_log_dir()
    worker = LatestWorker(_boom, "boom")
    with qtbot.waitSignal(worker.failed, timeout=10_000) as failed:
        worker.submit("request")
    worker.stop()
    assert failed.args[1] == "ZeroDivisionError: a bug in a worker"  # one line for the user
    task = Task.call(_bad_file, "bad-file")
    with qtbot.waitSignal(task.failed, timeout=10_000):
        task.start()
    task.stop()
    for h in logs.log.handlers:
        h.flush()
    text = path.read_text(encoding="utf-8")
    assert "boom worker failed" in text and "Traceback" in text and "ZeroDivisionError" in text
    # an expected error (a bad file) is one line, no traceback
    line = next(ln for ln in text.splitlines() if "bad-file task" in ln)
    assert line.endswith("bad-file task: clip.mp4 cannot be read")
    assert text.count("Traceback") == 1
