"""The app's log: worker errors (with tracebacks) and uncaught exceptions, in a rotating file
in the user log folder, so that a bug report can come with what happened (Help > Open log
folder). Console output stays as it was.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
from pathlib import Path

from ..paths import user_log_dir

LOG_FILE = "polypviewer.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"

log = logging.getLogger("polypviewer")


def log_path() -> Path:
    return user_log_dir() / LOG_FILE


def setup_logging() -> Path | None:
    """Attach the rotating file to the ``polypviewer`` logger (once per folder); None when the
    folder cannot be written (the app works on, without a log file)."""
    path = log_path()
    for h in log.handlers:
        if isinstance(h, logging.handlers.RotatingFileHandler) and Path(h.baseFilename) == path:
            return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES,
                                                       backupCount=BACKUPS, encoding="utf-8")
    except OSError as e:
        print(f"PolypViewer: no log file in {path.parent}: {e}", file=sys.stderr)
        return None
    handler.setFormatter(logging.Formatter(FORMAT))
    for h in [h for h in log.handlers if isinstance(h, logging.handlers.RotatingFileHandler)]:
        log.removeHandler(h)  # the log folder changed (tests): one file at a time
        h.close()
    log.addHandler(handler)
    if not any(type(h) is logging.StreamHandler for h in log.handlers):
        console = logging.StreamHandler()  # what logging printed before a handler existed
        console.setLevel(logging.WARNING)
        log.addHandler(console)
    if log.level == logging.NOTSET or log.level > logging.INFO:
        log.setLevel(logging.INFO)
    _hook_uncaught()
    return path


def _hook_uncaught() -> None:
    """Exceptions nobody caught (in a Qt slot or a thread) go to the log as well."""
    if getattr(sys.excepthook, "_polypviewer", False):
        return
    previous, previous_thread = sys.excepthook, threading.excepthook

    def hook(kind, value, tb):
        log.error("uncaught exception", exc_info=(kind, value, tb))
        previous(kind, value, tb)

    def thread_hook(args):
        if args.exc_type is not SystemExit:
            log.error("uncaught exception in thread %s", getattr(args.thread, "name", "?"),
                      exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
        previous_thread(args)

    hook._polypviewer = True
    sys.excepthook, threading.excepthook = hook, thread_hook
