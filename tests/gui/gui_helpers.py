"""Helpers for GUI tests: generated media whose frames encode their index, waiting for frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

W, H, BITS, FPS = 160, 96, 6, 25.0
SLOW = 180_000  # ms; waits end as soon as the condition holds (CI machines can be very busy)
CELL = W // 8


def code_frame(i: int) -> np.ndarray:
    """RGB frame whose index is written as black/white squares (survives mp4 compression)."""
    img = np.full((H, W, 3), (160, 90, 70), np.uint8)
    for b in range(BITS):
        img[8:8 + CELL, b * CELL + 2:(b + 1) * CELL - 2] = 255 if (i >> b) & 1 else 0
    cv2.circle(img, (30 + (i * 2) % (W - 60), 65), 14, (235, 180, 160), -1)
    return img


def decode_index(rgb: np.ndarray) -> int:
    i = 0
    for b in range(BITS):
        if rgb[8 + 4:8 + CELL - 4, b * CELL + 6:(b + 1) * CELL - 6].mean() > 128:
            i |= 1 << b
    return i


def make_video(path: Path, n: int) -> Path:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (W, H))
    assert w.isOpened()
    for i in range(n):
        w.write(cv2.cvtColor(code_frame(i), cv2.COLOR_RGB2BGR))
    w.release()
    return path



def open_and_wait(qtbot, win, path, frame: int = 0, analysed: bool = False):
    """Open ``path`` and wait until ``frame`` is shown (and analysed, when asked)."""
    win.open_path(str(path), frame)
    qtbot.waitUntil(lambda: win.review.media is not None and win.review.shown == frame, timeout=SLOW)
    if analysed:
        qtbot.waitUntil(lambda: not win.review.analysing() and win.review.store.complete, timeout=SLOW)
        qtbot.waitUntil(lambda: win.review.prediction is not None, timeout=SLOW)
    return win
