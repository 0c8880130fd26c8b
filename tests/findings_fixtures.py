"""A small analysed "procedure" without a model: a video and an analysis cache filled by hand.

Two polyps one after the other with a one-frame flicker between them (the flicker once shifted
the IDs of every later finding in the exports), so finding numbers are not trivially 1.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from polypviewer.engine.runtime.preprocess import letterbox
from polypviewer.engine.runtime.results import AnalysisStore

H, W, FPS, SIZE = 96, 128, 25.0, 64
BG, PINK, PALE = (150, 70, 60), (235, 175, 150), (200, 200, 90)


def plan(i: int) -> list[tuple[int, int, int, tuple]]:
    """(x, y, radius, colour) of the polyps in frame ``i``; the second looks different."""
    if i < 25:
        return [(30 + 2 * i, 50, 14, PINK)]
    if i == 27:
        return [(8, 88, 5, PINK)]  # flicker, away from where the polyp left
    if 35 <= i < 60:  # back after longer than tracking bridges by position alone
        return [(105 - i, 60, 12, PALE)]
    return []


def draw(i: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``i`` of the plan (RGB) and its hand-drawn polyp probability map."""
    rgb = np.full((H, W, 3), BG, np.uint8)
    prob = np.zeros((H, W), np.float32)
    for x, y, r, colour in plan(i):
        cv2.circle(rgb, (x, y), r, colour, -1)
        cv2.circle(prob, (x, y), r, 0.99, -1)
    return rgb, prob


def write_procedure(root: Path, n: int = 64) -> tuple[Path, AnalysisStore]:
    root.mkdir(parents=True, exist_ok=True)
    video = root / "procedure.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (W, H))
    assert writer.isOpened()
    store = AnalysisStore(root / "analysis", {"size": SIZE, "threshold": 0.5,
                                              "min_area_fraction": 0.001, "n_frames": n})
    for i in range(n):
        rgb, prob = draw(i)
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        small, box = letterbox(prob, SIZE, cv2.INTER_LINEAR)
        store.put(i, small, float(prob.max()), box)
    writer.release()
    store.complete = True
    return video, store
