"""Helpers for GUI tests: generated media whose frames encode their index, waiting for frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from coded_video import H, W, draw_index, write_video
from coded_video import decode_index as _decode

BITS = 6  # the GUI tests' media have at most 64 frames
SLOW = 180_000  # ms; waits end as soon as the condition holds (CI machines can be very busy)


def code_frame(i: int) -> np.ndarray:
    """RGB frame numbered ``i`` (``coded_video``'s squares), with a polyp-like moving dot."""
    img = draw_index(np.full((H, W, 3), (160, 90, 70), np.uint8), i, BITS)
    cv2.circle(img, (30 + (i * 2) % (W - 60), 65), 14, (235, 180, 160), -1)
    return img


def decode_index(rgb: np.ndarray) -> int:
    return _decode(rgb, BITS)


def make_video(path: Path, n: int) -> Path:
    return write_video(path, (cv2.cvtColor(code_frame(i), cv2.COLOR_RGB2BGR) for i in range(n)))



def open_and_wait(qtbot, win, path, frame: int = 0, analysed: bool = False):
    """Open ``path`` and wait until ``frame`` is shown (and analysed, when asked)."""
    win.open_path(str(path), frame)
    qtbot.waitUntil(lambda: win.review.media is not None and win.review.shown == frame, timeout=SLOW)
    if analysed:
        qtbot.waitUntil(lambda: not win.review.analysing() and win.review.store.complete, timeout=SLOW)
        qtbot.waitUntil(lambda: win.review.prediction is not None, timeout=SLOW)
    return win
