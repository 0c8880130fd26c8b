"""Background threads that talk to widgets only through Qt signals.

Plain Python threads (not QThread) so that closing the window can always stop and join them:
there is no QThread object to be destroyed while running. Signals emitted from these threads
reach slots on the UI thread as queued calls, so widgets are only ever touched there.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, Signal

from ..engine.errors import PolypViewerError

log = logging.getLogger(__name__)


def log_failure(err: BaseException) -> None:
    """Expected errors (a bad file, a full disk) are logged; only bugs print a traceback."""
    if isinstance(err, (PolypViewerError, OSError)):
        log.warning("%s", user_message(err))
    else:
        traceback.print_exc()


def user_message(err: BaseException) -> str:
    """One line for the user: our own errors already read well; others get their type."""
    if isinstance(err, PolypViewerError):
        return str(err)
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


class LatestWorker(QObject):
    """Runs ``fn(request)`` for the most recent request only (scrubbing: latest wins).

    Requests that arrive while one is running replace each other; the one left is run next.
    """

    done = Signal(object, object)  # request, result
    failed = Signal(object, str)  # request, message

    def __init__(self, fn: Callable[[Any], Any], name: str = "worker", parent: QObject | None = None):
        super().__init__(parent)
        self._fn = fn
        self._cond = threading.Condition()
        self._pending: Any = None
        self._has_pending = False
        self._stop = False
        self.busy = False
        self._thread = threading.Thread(target=self._loop, name=f"pv-{name}", daemon=True)
        self._thread.start()

    def submit(self, request: Any) -> None:
        with self._cond:
            self._pending, self._has_pending = request, True
            self._cond.notify()

    def idle(self) -> bool:
        with self._cond:
            return not self._has_pending and not self.busy

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._has_pending and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                req, self._has_pending, self.busy = self._pending, False, True
            try:
                result = self._fn(req)
            except Exception as e:  # shown to the user; the worker keeps serving
                log_failure(e)
                if not self._stop:
                    self.failed.emit(req, user_message(e))
            else:
                if not self._stop:
                    self.done.emit(req, result)
            finally:
                with self._cond:
                    self.busy = False

    def stop(self, timeout: float = 60.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)


class Task(QObject):
    """Runs a generator in a thread; each yielded value becomes a ``progress`` signal.

    The generator receives a ``threading.Event`` to poll for cancellation. Connect only to
    methods of QObjects living on the UI thread (a lambda would run in the worker thread).
    """

    # each signal carries the task first, so a slot can tell a stale task from the current one
    progress = Signal(object, object)
    finished = Signal(object, object)  # the generator's return value
    failed = Signal(object, str)

    def __init__(self, gen_fn: Callable[[threading.Event], Iterator[Any]], name: str = "task",
                 parent: QObject | None = None):
        super().__init__(parent)
        self.cancel_event = threading.Event()
        self._gen_fn = gen_fn
        self._thread = threading.Thread(target=self._run, name=f"pv-{name}", daemon=True)

    @classmethod
    def call(cls, fn: Callable[[], Any], name: str = "task", parent: QObject | None = None) -> "Task":
        """A task for a plain function: ``finished`` carries its return value."""

        def gen(_cancel):
            return fn()
            yield  # noqa: B901 - makes this a generator

        return cls(gen, name, parent)

    def start(self) -> "Task":
        self._thread.start()
        return self

    def _run(self) -> None:
        result = None
        try:
            gen = self._gen_fn(self.cancel_event)
            while True:
                try:
                    value = next(gen)
                except StopIteration as stop:
                    result = stop.value
                    break
                self.progress.emit(self, value)
        except Exception as e:
            log_failure(e)
            self.failed.emit(self, user_message(e))
            return
        self.finished.emit(self, result)

    def running(self) -> bool:
        return self._thread.is_alive()

    def cancel(self) -> None:
        self.cancel_event.set()

    def stop(self, timeout: float = 120.0) -> None:
        self.cancel_event.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
