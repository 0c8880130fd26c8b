"""Small synthetic inputs shared by the CLI tests (images, folders; videos: ``synthetic``)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
from synthetic import synthetic_frame


def write_images(folder: Path, n: int = 3, seed: int = 0, size: tuple[int, int] = (96, 128)) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        img, _ = synthetic_frame(rng, h=size[0], w=size[1])
        p = folder / f"frame{i}.png"
        cv2.imwrite(str(p), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        out.append(p)
    return out


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]
