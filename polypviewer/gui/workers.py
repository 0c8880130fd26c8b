"""Background threads that talk to widgets only through Qt signals.

Plain Python threads (not QThread): there is no QThread object to be destroyed while running.
Signals emitted from these threads reach slots on the UI thread as queued calls, so widgets are
only ever touched there. The UI thread never joins one: it cancels and lets go (``detach``);
``running_threads`` tells the window when every one has ended, so it can close. Errors go to
the ``polypviewer`` log (``gui.logs``) with their traceback, and to the user as one line.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, Signal

from ..engine.errors import PolypViewerError

log = logging.getLogger(__name__)
_THREADS: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def log_failure(err: BaseException, what: str) -> None:
    """Expected errors (a bad file, a full disk) are logged as one line; bugs with their
    traceback. Call from the ``except`` block."""
    if isinstance(err, (PolypViewerError, OSError)):
        log.warning("%s: %s", what, user_message(err))
    else:
        log.exception("%s failed", what)


def _thread(target: Callable[[], None], name: str) -> threading.Thread:
    t = threading.Thread(target=target, name=f"pv-{name}", daemon=True)
    _THREADS.add(t)
    return t


def running_threads() -> list[threading.Thread]:
    """The worker threads (of every Task and LatestWorker) that have not ended yet."""
    return [t for t in list(_THREADS) if t.is_alive()]


def _emit(signal, *args) -> None:
    """Emit from a worker; the receiver may have been deleted meanwhile (window closed)."""
    try:
        signal.emit(*args)
    except RuntimeError:  # "Signal source has been deleted": nobody is left to tell
        pass


def after(threads: list[threading.Thread], fn: Callable[[], None], name: str = "cleanup") -> None:
    """Run ``fn()`` in a thread of its own once ``threads`` have ended (e.g. flush a store the
    analysis wrote to, close a source the decoder read): the waiting happens off the UI thread."""

    def run() -> None:
        for t in threads:
            if t is not threading.current_thread():
                t.join()
        try:
            fn()
        except Exception:  # noqa: BLE001 - cleanup: log it, nobody waits for the result
            log.exception("%s failed", name)

    _thread(run, name).start()


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
        self._name = name
        self._then: Callable[[], None] | None = None
        self._thread = _thread(self._loop, name)
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
                    break
                req, self._has_pending, self.busy = self._pending, False, True
            try:
                result = self._fn(req)
            except Exception as e:  # shown to the user; the worker keeps serving
                log_failure(e, f"{self._name} worker")
                if not self._stop:
                    _emit(self.failed, req, user_message(e))
            else:
                if not self._stop:
                    _emit(self.done, req, result)
            finally:
                with self._cond:
                    self.busy = False
        if self._then is not None:
            try:
                self._then()
            except Exception:  # noqa: BLE001 - cleanup of a closed source: log and end
                log.exception("%s worker: cleanup failed", self._name)

    def detach(self, then: Callable[[], None] | None = None) -> None:
        """Stop after the request in progress, without waiting; ``then()`` runs in the worker
        thread once it is done (e.g. closing the source it was reading)."""
        with self._cond:
            self._then = then
            self._stop = True
            self._pending, self._has_pending = None, False
            self._cond.notify_all()
        if then is not None and not self._thread.is_alive():
            after([], then, f"{self._name}-cleanup")

    def stop(self, timeout: float = 60.0) -> None:
        """Stop and wait: only where no UI is left to freeze (tests, interpreter exit)."""
        self.detach(self._then)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def thread(self) -> threading.Thread:
        return self._thread


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
        self._name = name
        self._thread = _thread(self._run, name)

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
                _emit(self.progress, self, value)
        except Exception as e:
            log_failure(e, f"{self._name} task")
            _emit(self.failed, self, user_message(e))
            return
        _emit(self.finished, self, result)

    def running(self) -> bool:
        return self._thread.is_alive()

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def stop(self, timeout: float = 120.0) -> None:
        """Cancel and wait: only where no UI is left to freeze (tests, interpreter exit)."""
        self.cancel_event.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
