"""Per-polyp CADx outcomes: the model's neoplastic probability against a class map.

Research output, not a diagnosis. A class map holds 0 background, 1 neoplastic, 2
non-neoplastic per pixel (BKAI-IGH NeoPolyp's ``classes/``). Each true polyp takes its
majority class; a found polyp (matched as in :func:`.compare.match_instances`) is scored with
the ``neoplastic_probability`` of the predicted region that found it, where the model has a
class channel (``None`` otherwise, and then nothing is scored).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import MediaError
from ..media.imageio import read_raw
from ..runtime.inference import FramePrediction
from .compare import MATCH_IOU, match_instances, regions

NEOPLASTIC, NON_NEOPLASTIC = 1, 2
RESEARCH_NOTE = "research only, not a diagnosis"  # beside every neoplastic probability shown


def neoplastic_text(probability: float | None, short: bool = False) -> str:
    """How every view and export names a polyp's CADx output ("" for models without it)."""
    if probability is None:
        return ""
    if short:
        return f"neoplastic {probability:.2f} (research)"
    return f"neoplastic probability {probability:.2f} ({RESEARCH_NOTE})"


def read_class_map(path: str | Path, shape: tuple[int, int]) -> np.ndarray:
    """A class map as uint8 (H, W); one clear error naming the file when it does not fit."""
    arr = read_raw(path)
    if arr.ndim == 3:  # a grey PNG saved with colour channels: all channels carry the class
        arr = arr[..., 0]
    if arr.shape != tuple(shape):
        raise MediaError(f"class map {Path(path).name} is {arr.shape[1]}x{arr.shape[0]} but its "
                         f"image is {shape[1]}x{shape[0]}")
    if arr.max(initial=0) > NON_NEOPLASTIC:
        raise MediaError(f"class map {Path(path).name} holds values above {NON_NEOPLASTIC} "
                         "(expected 0 background, 1 neoplastic, 2 non-neoplastic)")
    return arr.astype(np.uint8, copy=False)


def polyp_classes(gt: np.ndarray, classes: np.ndarray, pred: FramePrediction,
                  min_iou: float = MATCH_IOU) -> list[dict]:
    """One entry per true polyp with a known class: ``{"neoplastic", "found", "probability"}``.

    ``probability`` is the matching predicted region's ``neoplastic_probability`` (None when
    the polyp was missed or the model gives none). A tie between the classes counts as
    neoplastic, the class that must not be missed.
    """
    labels, trues = regions(gt)
    match = match_instances(gt, pred.mask, min_iou)
    by_bbox = {inst.bbox: inst for inst in pred.instances}
    found = {g.label: p for g, p, _ in match.found}
    out = []
    for g in trues:
        inside = classes[labels == g.label]
        neo = int(np.count_nonzero(inside == NEOPLASTIC))
        non = int(np.count_nonzero(inside == NON_NEOPLASTIC))
        if neo == non == 0:
            continue  # class unknown for this polyp
        region = found.get(g.label)
        inst = by_bbox.get(region.bbox) if region is not None else None
        prob = getattr(inst, "neoplastic_probability", None) if inst is not None else None
        out.append({"neoplastic": neo >= non, "found": region is not None,
                    "probability": None if prob is None else round(float(prob), 6)})
    return out
