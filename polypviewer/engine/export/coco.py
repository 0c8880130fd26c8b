"""COCO instance annotations of predicted masks: polygons (or RLE for holed regions) that
pycocotools rasterises back to the same pixels, and the writer of ``coco.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from .. import fsutil
from .format_writers import Writer

COCO_CATEGORY = {"id": 1, "name": "polyp", "supercategory": "polyp"}


def mask_polygons(mask: np.ndarray) -> list[list[float]]:
    """Outer boundary polygons (x, y, x, y, ...) of a bool mask, holes filled.

    Traced on a 2x nearest-upscaled copy so the polygon runs between pixel centres and pixel
    edges: pycocotools rasterises it back to exactly the same pixels.
    """
    m = mask.astype(np.uint8)
    if not m.any():
        return []
    big = cv2.resize(m, (m.shape[1] * 2, m.shape[0] * 2), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours:
        pts = c.reshape(-1, 2).astype(np.float64) / 2.0 + 0.25
        if len(pts) >= 3:  # a polygon needs three corners
            out.append([round(float(v), 2) for v in pts.ravel()])
    return out


def mask_rle(mask: np.ndarray) -> dict:
    """Uncompressed COCO RLE (column-major run lengths starting with background)."""
    flat = mask.astype(np.uint8).ravel(order="F")
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def coco_annotations(mask: np.ndarray, prob: np.ndarray | None, image_id: int, first_id: int,
                     holes: str = "fill") -> list[dict]:
    """One annotation per 8-connected region; ``holes="rle"`` stores holed regions exactly."""
    m = mask.astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    anns = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        comp = labels[y:y + h, x:x + w] == i
        seg: list | dict
        if holes == "rle" and _has_hole(comp):
            full = np.zeros(mask.shape, bool)
            full[y:y + h, x:x + w] = comp
            seg = mask_rle(full)
        else:
            seg = [[v + (x if k % 2 == 0 else y) for k, v in enumerate(p)]
                   for p in mask_polygons(comp)]
            seg = [[round(v, 2) for v in p] for p in seg]
            if not seg:
                continue
        ann = {"id": first_id + len(anns), "image_id": image_id, "category_id": 1,
               "segmentation": seg, "area": area, "bbox": [x, y, w, h], "iscrowd": 0}
        if prob is not None:
            ann["score"] = round(float(prob[y:y + h, x:x + w][comp].mean()), 4)
        anns.append(ann)
    return anns


def _has_hole(comp: np.ndarray) -> bool:
    _, hier = cv2.findContours(comp.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return hier is not None and bool((hier[0][:, 3] >= 0).any())


class CocoWriter(Writer):
    """coco.json: one annotation per region of every frame, written at the end."""

    def __init__(self, root: Path, file_name: Callable, info: dict, holes: str):
        self.path, self.file_name, self.info, self.holes = root / "coco.json", file_name, info, holes
        self.images: list[dict] = []
        self.anns: list[dict] = []

    def add(self, frame, pred, name, ids):
        image_id = len(self.images) + 1
        h, w = pred.mask.shape
        self.images.append({"id": image_id, "file_name": self.file_name(frame, name),
                            "width": int(w), "height": int(h)})
        self.anns += coco_annotations(pred.mask, pred.prob, image_id, len(self.anns) + 1, self.holes)

    def finish(self):
        coco = {"info": self.info, "licenses": [], "categories": [COCO_CATEGORY],
                "images": self.images, "annotations": self.anns}
        fsutil.write_text(self.path, json.dumps(coco, separators=(",", ":")))
        return [self.path.name]
