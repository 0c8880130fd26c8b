"""Small synthetic archives: a few short videos (``synthetic.write_video``) and an image folder."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from synthetic import synthetic_frame, write_video


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
