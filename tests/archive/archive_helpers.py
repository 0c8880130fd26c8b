"""Small synthetic archives: a few short videos and an image folder, written in the test."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from synthetic import synthetic_frame


def write_video(path: Path, n: int = 12, seed: int = 0, fps: float = 10.0) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (128, 96))
    assert w.isOpened()
    for _ in range(n):
        rgb, _ = synthetic_frame(rng)
        w.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    w.release()
    return path


def write_archive(root: Path, n_videos: int = 3, frames: int = 12) -> Path:
    for k in range(n_videos):
        write_video(root / f"room{k % 2}" / f"proc{k}.mp4", n=frames, seed=k)
    stills = root / "stills" / "case7"
    stills.mkdir(parents=True)
    rng = np.random.default_rng(99)
    for k in range(3):
        rgb, _ = synthetic_frame(rng)
        cv2.imwrite(str(stills / f"img{k}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return root
