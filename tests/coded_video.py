"""Frames that carry their own index as black/white squares, which survive lossy compression,
so a test can tell exactly which frame a reader, a seek or the viewer returned.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

W, H, BITS = 160, 96, 7
CELL = W // 8


def draw_index(img: np.ndarray, i: int, bits: int = BITS) -> np.ndarray:
    """Write ``i`` into ``img`` (in place) as ``bits`` squares along the top."""
    for b in range(bits):
        img[8:8 + CELL, b * CELL + 2:(b + 1) * CELL - 2] = 255 if (i >> b) & 1 else 0
    return img


def decode_index(rgb: np.ndarray, bits: int = BITS) -> int:
    i = 0
    for b in range(bits):
        if rgb[8 + 4:8 + CELL - 4, b * CELL + 6:(b + 1) * CELL - 6].mean() > 128:
            i |= 1 << b
    return i


def code_frame(i: int) -> np.ndarray:
    """BGR frame numbered ``i``, with a dot that moves from frame to frame."""
    img = draw_index(np.full((H, W, 3), (40, 90, 160), np.uint8), i)
    cv2.circle(img, (10 + (i * 3) % (W - 20), 70), 8, (200, 200, 255), -1)
    return img


def write_video(path: Path, frames: Iterable[np.ndarray], fourcc: str = "mp4v",
                fps: float = 25.0) -> Path:
    """A video of BGR ``frames`` (all W x H) through OpenCV's writer."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (W, H))
    assert w.isOpened(), f"cannot write {fourcc} in this OpenCV"
    for frame in frames:
        w.write(frame)
    w.release()
    return path


def make_video(path: Path, n: int, fourcc: str = "mp4v", fps: float = 25.0) -> Path:
    return write_video(path, (code_frame(i) for i in range(n)), fourcc, fps)
