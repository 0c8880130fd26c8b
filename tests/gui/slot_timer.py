"""Times every event the UI thread delivers, to prove that no slot makes the window wait.

``TimedApplication.notify`` wraps each top-level delivery on the main thread (queued signal
calls, timers, input, paint). An event's cost is the UI thread's own CPU time in it plus the
time it spent in a blocking wait (``Thread.join``, ``Event.wait``, ``Condition.wait``,
``time.sleep``, recorded by wrapping them while armed; ``Thread.start``'s handshake, which only
waits for the OS to schedule the new thread, is not counted). Neither grows when the shared machine
is busy or a worker holds the GIL, so the limit tests the code, not the load. The wall time
is reported alongside. A watchdog thread samples the UI thread's Python stack in an event
that runs past ``SAMPLE_S``, to name the slow code.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from dataclasses import dataclass, field

import shiboken6
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

SAMPLE_S = 0.03
RENDER_EVENTS = {"Paint", "UpdateRequest", "UpdateLater", "Expose"}
SCENES = {"GraphicsScene", "QGraphicsScene"}
SKIP = ("pytest", "pluggy", "slot_timer", "threading.py")


@dataclass
class Slot:
    cpu_ms: float
    waited_ms: float  # in join / wait / sleep on the UI thread
    wall_ms: float
    receiver: str
    event: str
    stack: str = ""  # where the UI thread was SAMPLE_S into the event (slow events only)

    @property
    def ms(self) -> float:
        return self.cpu_ms + self.waited_ms

    @property
    def rendering(self) -> bool:
        """Qt drawing the window (paint, and the graphics scene's own queued updates)."""
        return self.event in RENDER_EVENTS or (self.event == "MetaCall" and self.receiver in SCENES)

    def __str__(self) -> str:
        return (f"{self.ms:.0f} ms ({self.cpu_ms:.0f} CPU + {self.waited_ms:.0f} waiting; "
                f"{self.wall_ms:.0f} wall) in {self.receiver} {self.event}\n{self.stack}")


def _stack(frame) -> str:
    inner = [f for f in traceback.extract_stack(frame) if not any(k in f.filename for k in SKIP)]
    return "".join(traceback.format_list(inner[-10:]))


@dataclass
class SlotTimer:
    armed: bool = False
    slots: list[Slot] = field(default_factory=list)
    depth: int = 0
    started: float = 0.0  # perf_counter at the start of the event being delivered
    waited: float = 0.0  # seconds the current event spent in wrapped waits
    in_wait: bool = False  # inside a wrapped wait (Event.wait nests Condition.wait)
    wait_stack: str = ""
    stack: str = ""
    _watchdog: threading.Thread | None = None
    _originals: dict = field(default_factory=dict)

    def start(self) -> None:
        self.slots.clear()
        self.depth = 0
        self._wrap_waits()
        self.armed = True
        self._watchdog = threading.Thread(target=self._watch, name="slot-watchdog", daemon=True)
        self._watchdog.start()

    def stop(self) -> list[Slot]:
        self.armed = False
        if self._watchdog is not None:
            self._watchdog.join()
        for (owner, name), fn in self._originals.items():
            setattr(owner, name, fn)
        self._originals.clear()
        return sorted(self.slots, key=lambda s: s.ms, reverse=True)

    def _wrap_waits(self) -> None:
        timer = self
        for owner, name in ((threading.Thread, "join"), (threading.Event, "wait"),
                            (threading.Condition, "wait"), (time, "sleep"), (threading.Thread, "start")):
            original = getattr(owner, name)
            self._originals[(owner, name)] = original
            if name == "start":  # its handshake waits for the OS to schedule the new thread
                def wrapped(*args, _fn=original, **kwargs):
                    if timer.in_wait or threading.current_thread() is not threading.main_thread():
                        return _fn(*args, **kwargs)
                    timer.in_wait = True
                    try:
                        return _fn(*args, **kwargs)
                    finally:
                        timer.in_wait = False

                setattr(owner, name, wrapped)
                continue

            def wrapped(*args, _fn=original, **kwargs):
                if (not (timer.armed and timer.depth) or timer.in_wait
                        or threading.current_thread() is not threading.main_thread()):
                    return _fn(*args, **kwargs)
                t0, timer.in_wait = time.perf_counter(), True
                try:
                    return _fn(*args, **kwargs)
                finally:
                    timer.in_wait = False
                    dt = time.perf_counter() - t0
                    timer.waited += dt
                    if dt > 0.001 and not timer.wait_stack:
                        timer.wait_stack = _stack(sys._getframe(1))

            setattr(owner, name, wrapped)

    def _watch(self) -> None:
        main = threading.main_thread().ident
        sampled = 0.0
        sleep = time.sleep
        while self.armed:
            sleep(0.005)
            start = self.started
            if self.depth and start != sampled and time.perf_counter() - start > SAMPLE_S:
                frame = sys._current_frames().get(main)
                if frame is not None and self.started == start:
                    self.stack = _stack(frame)
                    sampled = start


def _describe(receiver) -> str:
    name = type(receiver).__name__
    if isinstance(receiver, QTimer):  # which timer: its owner and interval
        parent = receiver.parent()
        name += f"({type(parent).__name__ if parent is not None else '-'}, {receiver.interval()} ms)"
    return name


class TimedApplication(QApplication):
    timer = SlotTimer()

    def notify(self, receiver, event):  # noqa: D102 - Qt's virtual
        t = self.timer
        if not isinstance(receiver, QObject):
            # a stale wrapper of a deleted event at the receiver's address: wrap it anew
            address = shiboken6.getCppPointer(receiver)[0]
            shiboken6.invalidate(receiver)
            receiver = shiboken6.wrapInstance(address, QObject)
        if not t.armed or t.depth or threading.current_thread() is not threading.main_thread():
            return super().notify(receiver, event)
        name, kind = _describe(receiver), event.type().name  # before a DeferredDelete
        t.stack, t.wait_stack, t.waited = "", "", 0.0
        cpu0, t0 = time.thread_time(), time.perf_counter()
        t.started, t.depth = t0, 1
        try:
            return super().notify(receiver, event)
        finally:
            wall, cpu = time.perf_counter() - t0, time.thread_time() - cpu0
            t.depth = 0
            if cpu + t.waited > 0.002:
                t.slots.append(Slot(1000 * cpu, 1000 * t.waited, 1000 * wall, name, kind,
                                    t.wait_stack or t.stack))


def on_ui(qtbot, fn, *args, timeout: int = 60_000):
    """Call ``fn(*args)`` from the event loop (a timer event), so the timer sees it as a slot."""
    out: list = []
    QTimer.singleShot(0, lambda: out.append(fn(*args)))
    qtbot.waitUntil(lambda: bool(out), timeout=timeout)
    return out[0]


def slot_timer() -> SlotTimer:
    app = QApplication.instance()
    if not isinstance(app, TimedApplication):
        raise RuntimeError("the QApplication is not a TimedApplication (see tests/gui/conftest.py)")
    return app.timer
