"""A cheap appearance cue to re-identify a polyp that left the view for a moment.

Position alone cannot tell whether the region seen after the scope turned away is the same
polyp: it comes back anywhere. Its colour can: a hue-saturation histogram of the centre of
its box (mostly polyp, little mucosa), compared with the Bhattacharyya coefficient (1 = the
same distribution). Frames are read only for the few regions that are candidates for
re-identification, so tracking a cached analysis stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

H_BINS, S_BINS = 16, 4
CORE = 0.6  # the central share of the box (per side) that is described


def descriptor(rgb: np.ndarray, bbox: Sequence[int]) -> np.ndarray:
    """Normalised hue-saturation histogram (H_BINS x S_BINS) of the centre of ``bbox``."""
    x0, y0, x1, y1 = (int(v) for v in bbox)
    mx, my = (x1 - x0) * (1 - CORE) / 2, (y1 - y0) * (1 - CORE) / 2
    a0, b0 = int(x0 + mx), int(y0 + my)
    a1, b1 = max(int(x1 - mx), a0 + 1), max(int(y1 - my), b0 + 1)
    patch = rgb[b0:b1, a0:a1]
    if patch.size == 0:
        return np.full(H_BINS * S_BINS, 1.0 / (H_BINS * S_BINS))
    hsv = cv2.cvtColor(np.ascontiguousarray(patch), cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [H_BINS, S_BINS], [0, 180, 0, 256]).ravel()
    return hist / max(float(hist.sum()), 1.0)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya coefficient of two normalised histograms: 1 identical, 0 disjoint."""
    return float(np.sqrt(np.asarray(a) * np.asarray(b)).sum())


class FrameAppearance:
    """``appearance(index, bbox)`` for tracking, reading frames with ``read_rgb(index)``.

    Descriptors are memoised, so each frame is read at most once per tracking run.
    """

    def __init__(self, read_rgb: Callable[[int], np.ndarray]) -> None:
        self.read_rgb = read_rgb
        self._cache: dict[tuple[int, tuple[int, ...]], np.ndarray] = {}
        self._frame: tuple[int, np.ndarray] | None = None

    def __call__(self, index: int, bbox: Sequence[int]) -> np.ndarray:
        key = (int(index), tuple(int(v) for v in bbox))
        if key not in self._cache:
            if self._frame is None or self._frame[0] != index:
                self._frame = (index, self.read_rgb(index))
            self._cache[key] = descriptor(self._frame[1], bbox)
        return self._cache[key]


class SourceAppearance(FrameAppearance):
    """Appearance read from a source path (video); the source opens on first use."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.source = None
        super().__init__(self._read)

    def _read(self, index: int) -> np.ndarray:
        if self.source is None:
            from ..media.sources import open_source

            self.source = open_source(self.path)
        return self.source[index].rgb

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None
