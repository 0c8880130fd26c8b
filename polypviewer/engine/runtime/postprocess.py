"""From a probability map to what a clinician sees: a mask and counted polyps (seed 002)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

DEFAULT_MIN_AREA_FRACTION = 0.001  # specks under 0.1 % of the frame are not counted


@dataclass(frozen=True)
class Instance:
    """One connected polyp region in one frame; coordinates in original pixels."""

    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive end)
    area: int
    centroid: tuple[float, float]  # x, y
    confidence: float  # mean probability inside the region
    # mean P(neoplastic | polyp) inside the region, for models with that channel; research
    # output, not a diagnosis
    neoplastic_probability: float | None = None

    def to_dict(self) -> dict:
        d = {"bbox": list(self.bbox), "area": self.area,
             "centroid": [round(self.centroid[0], 1), round(self.centroid[1], 1)],
             "confidence": round(self.confidence, 4)}
        if self.neoplastic_probability is not None:
            d["neoplastic_probability"] = round(self.neoplastic_probability, 4)
        return d


def min_area_pixels(shape: tuple[int, int], fraction: float = DEFAULT_MIN_AREA_FRACTION) -> int:
    return max(1, int(round(shape[0] * shape[1] * fraction)))


def find_instances(mask: np.ndarray, prob: np.ndarray | None = None, min_area: int = 1,
                   cadx: np.ndarray | None = None) -> tuple[list[Instance], np.ndarray]:
    """Connected components (8-connected) at least ``min_area`` pixels, largest first.

    ``cadx``: the neoplastic-probability map (same shape) when the model has one.
    Returns the instances and the mask with the dropped specks removed.
    """
    cleaned = mask.astype(bool)  # a copy; dropped specks are erased below
    # label only inside the box around every mask pixel: exactly the same regions, and on an
    # HD frame with one polyp 3-5x faster (OpenCV's stats pass costs ~8 ns per pixel scanned)
    ox, oy, bw, bh = cv2.boundingRect(cleaned.view(np.uint8))
    if bw == 0:
        return [], cleaned
    n, labels, stats, cents = cv2.connectedComponentsWithStats(
        cleaned[oy:oy + bh, ox:ox + bw].view(np.uint8), connectivity=8)
    out = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        # work inside the component's box only: full-frame passes per component cost ms on HD
        inside = labels[y:y + h, x:x + w] == i
        x, y = x + ox, y + oy
        if area < min_area:
            cleaned[y:y + h, x:x + w][inside] = False
            continue
        conf = float(prob[y:y + h, x:x + w][inside].mean()) if prob is not None else 1.0
        neo = float(cadx[y:y + h, x:x + w][inside].mean()) if cadx is not None else None
        out.append(Instance((x, y, x + w, y + h), area,
                            (float(cents[i][0]) + ox, float(cents[i][1]) + oy), conf, neo))
    out.sort(key=lambda inst: -inst.area)
    return out, cleaned
