"""Frames, a read-counting source and thread checks shared by the pipeline tests."""

from __future__ import annotations

import threading
import time

import numpy as np
from synthetic import synthetic_frame

from polypviewer.engine.media.sources import Frame


def make_frames(n: int, seed: int = 0) -> list[Frame]:
    rng = np.random.default_rng(seed)
    shapes = [(96, 128), (120, 90), (64, 64)]
    return [Frame(i, i / 25, synthetic_frame(rng, *shapes[i % 3])[0], f"f{i}") for i in range(n)]


class CountingSource:
    """A list of frames that records how far it has been read (to see the read-ahead)."""

    def __init__(self, frames, fail_at: int | None = None):
        self.frames, self.fail_at, self.read = frames, fail_at, 0

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, i):
        return self.frames[i]

    def __iter__(self):
        for f in self.frames:
            if self.fail_at is not None and f.index == self.fail_at:
                raise ValueError(f"cannot decode frame {f.index}")
            self.read += 1
            yield f


def pipeline_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("polypviewer-pipeline")]


def wait_no_threads(limit: float = 5.0) -> float:
    t0 = time.monotonic()
    while pipeline_threads() and time.monotonic() - t0 < limit:
        time.sleep(0.01)
    return time.monotonic() - t0
