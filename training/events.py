"""Training as a stream of events, rendered by the CLI and consumed by the GUI wizard.

Each event is a small JSON-able dict, so it can cross a process boundary as one line.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

KINDS = ("run_started", "log", "epoch_progress", "epoch_metrics", "samples", "finished",
         "failed", "cancelled", "cv_summary")


@dataclass
class Event:
    kind: str
    data: dict = field(default_factory=dict)
    time: float = field(default_factory=time.time)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str)

    @classmethod
    def from_json(cls, line: str) -> "Event":
        d = json.loads(line)
        return cls(kind=d["kind"], data=d.get("data", {}), time=d.get("time", 0.0))


Listener = Callable[[Event], None]


class CancelToken:
    """Set from any thread (or a signal handler); the loop checks it between batches."""

    def __init__(self) -> None:
        self._flag = threading.Event()

    def cancel(self) -> None:
        self._flag.set()

    @property
    def cancelled(self) -> bool:
        return self._flag.is_set()


class Cancelled(Exception):
    pass
