"""Ground truth vs prediction for dataset review: polyp-level matching, table rows, sweeps.

Pixel metrics come from :mod:`.metrics` so the review table, the CLI ``evaluate`` and the
summary panel agree. What is added here is what an annotator asks beyond pixels: which true
polyps were found or missed, which predicted ones are false alarms, and how Dice / precision /
recall would move with another threshold, computed from cached probability maps (no model run).

Ground truth and prediction count polyps by one rule: a region smaller than the minimum area
(a fraction of the image, the prediction's own ``min_area_fraction``) is a speck, not a polyp.
Kvasir-SEG's JPEG masks hold 1-px specks that were otherwise listed as missed polyps; they
stay in the pixel metrics (they are pixels of the mask) and are reported as ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..runtime.inference import FramePrediction, from_probability
from ..runtime.postprocess import DEFAULT_MIN_AREA_FRACTION, min_area_pixels

FRAME_THRESHOLD = 0.5  # frame verdict "polyp" when the frame probability reaches this
MATCH_IOU = 0.1  # a true polyp counts as found when a predicted region overlaps it this much
FRAGMENT_COVER = 0.5  # an unmatched predicted region mostly on a true polyp is a fragment, not an alarm


@dataclass(frozen=True)
class Region:
    """One connected region (8-connected) of a mask; bbox is x0, y0, x1, y1 (exclusive end)."""

    label: int
    bbox: tuple[int, int, int, int]
    area: int


@dataclass
class InstanceMatch:
    """Polyp-level outcome of one image."""

    true: list[Region]
    pred: list[Region]
    found: list[tuple[Region, Region, float]] = field(default_factory=list)  # (true, pred, IoU)
    missed: list[Region] = field(default_factory=list)
    false_alarms: list[Region] = field(default_factory=list)
    ignored: list[Region] = field(default_factory=list)  # ground-truth specks under the minimum area
    min_area: int = 1  # pixels: the rule applied to both masks


def regions(mask: np.ndarray) -> tuple[np.ndarray, list[Region]]:
    """Label image (int32) and its regions, largest first."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    out = [Region(i, (int(stats[i, 0]), int(stats[i, 1]), int(stats[i, 0] + stats[i, 2]),
                      int(stats[i, 1] + stats[i, 3])), int(stats[i, 4])) for i in range(1, n)]
    out.sort(key=lambda r: -r.area)
    return labels, out


def match_instances(gt: np.ndarray, pred: np.ndarray, min_iou: float = MATCH_IOU,
                    min_area_fraction: float = DEFAULT_MIN_AREA_FRACTION) -> InstanceMatch:
    """Match true and predicted regions one-to-one, best IoU first.

    Regions of either mask under ``min_area_fraction`` of the image are specks, not polyps
    (ground-truth ones are listed in ``ignored``). A true polyp is *found* when matched with
    IoU >= ``min_iou``, otherwise *missed*. An unmatched predicted region is a *false alarm*
    unless at least half of it lies on true polyps (a second fragment of a found polyp is
    not an alarm).
    """
    min_area = min_area_pixels(gt.shape[:2], min_area_fraction)
    gl, all_gts = regions(gt)
    gts = [g for g in all_gts if g.area >= min_area]
    ignored = [g for g in all_gts if g.area < min_area]
    pl, preds = regions(pred)
    preds = [p for p in preds if p.area >= min_area]
    out = InstanceMatch(gts, preds, ignored=ignored, min_area=min_area)
    if not gts or not preds:
        out.missed, out.false_alarms = list(gts), list(preds)
        return out
    ng, npd = gl.max() + 1, pl.max() + 1
    inter = np.bincount((gl.astype(np.int64) * npd + pl).ravel(), minlength=ng * npd).reshape(ng, npd)
    pairs = []
    for g in gts:
        for p in preds:
            i = int(inter[g.label, p.label])
            if i:
                pairs.append((i / (g.area + p.area - i), g, p))
    pairs.sort(key=lambda t: -t[0])
    used_g, used_p = set(), set()
    for iou, g, p in pairs:
        if iou >= min_iou and g.label not in used_g and p.label not in used_p:
            used_g.add(g.label)
            used_p.add(p.label)
            out.found.append((g, p, iou))
    out.missed = [g for g in gts if g.label not in used_g]
    on_true = inter[[g.label for g in gts]].sum(axis=0)
    out.false_alarms = [p for p in preds if p.label not in used_p
                        and on_true[p.label] < FRAGMENT_COVER * p.area]
    return out


@dataclass
class ImageRow:
    """One line of the review table; metric values are NaN for an image without a mask."""

    index: int
    name: str
    width: int
    height: int
    has_mask: bool
    dice: float
    iou: float
    precision: float
    recall: float
    n_true: int | None
    n_pred: int
    found: int | None
    missed: int | None
    false_alarms: int | None
    frame_prob: float
    polyp_fraction: float | None  # true polyp area / image area
    metrics: dict = field(default_factory=dict)
    gt_specks: int | None = None  # ground-truth regions under the minimum area, not counted

    @property
    def verdict(self) -> bool:
        return self.frame_prob >= FRAME_THRESHOLD


def image_row(index: int, name: str, pred: FramePrediction, gt: np.ndarray | None,
              min_iou: float = MATCH_IOU) -> ImageRow:
    """One table row; ground truth is counted with the prediction's own minimum area."""
    h, w = pred.mask.shape
    nan = math.nan
    if gt is None:
        return ImageRow(index, name, w, h, False, nan, nan, nan, nan, None, pred.count, None, None,
                        None, pred.frame_prob, None)
    from ..metrics import segmentation_metrics

    gt = gt.astype(bool)
    m = segmentation_metrics(pred.mask, gt)
    match = match_instances(gt, pred.mask, min_iou, pred.min_area_fraction)
    return ImageRow(index, name, w, h, True, float(m["dice"]), float(m["iou"]), float(m["precision"]),
                    float(m["recall"]), len(match.true), pred.count, len(match.found),
                    len(match.missed), len(match.false_alarms), pred.frame_prob,
                    float(gt.mean()), dict(m), len(match.ignored))


@dataclass
class Sweep:
    """Mean per-image metrics over images with a mask, one value per threshold."""

    thresholds: np.ndarray
    dice: np.ndarray
    iou: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    n_images: int

    @property
    def best_threshold(self) -> float:
        return float(self.thresholds[int(np.nanargmax(self.dice))]) if self.n_images else math.nan


def default_thresholds(step: float = 0.05) -> np.ndarray:
    return np.round(np.arange(step, 1.0 - step / 2, step), 4)


def threshold_sweep(items: Iterable[tuple[np.ndarray, float, np.ndarray | None]],
                    thresholds: Iterable[float] | None = None,
                    min_area_fraction: float = DEFAULT_MIN_AREA_FRACTION,
                    cancel=None) -> Sweep:
    """Metrics vs threshold from ``(prob, frame_prob, gt)`` items; images without gt are skipped.

    Each threshold goes through the same post-processing as a real prediction
    (:func:`~.inference.from_probability`, speck removal included), so the value at the
    model's threshold equals the table's mean.
    """
    from ..metrics import segmentation_metrics

    ts = default_thresholds() if thresholds is None else np.asarray(list(thresholds), float)
    keys = ("dice", "iou", "precision", "recall")
    sums = {k: np.zeros(len(ts)) for k in keys}
    n = 0
    for prob, frame_prob, gt in items:
        if gt is None:
            continue
        if cancel is not None and cancel():
            break
        gt = gt.astype(bool)
        for j, t in enumerate(ts):
            m = segmentation_metrics(from_probability(prob, frame_prob, float(t), min_area_fraction).mask, gt)
            for k in keys:
                sums[k][j] += float(m[k])
        n += 1
    mean = {k: (v / n if n else np.full(len(ts), np.nan)) for k, v in sums.items()}
    return Sweep(ts, mean["dice"], mean["iou"], mean["precision"], mean["recall"], n)


def pr_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall of the frame verdict as its threshold falls (recall ascending)."""
    labels = np.asarray(labels, bool)
    order = np.argsort(-np.asarray(scores, float), kind="stable")
    tp = np.cumsum(labels[order])
    fp = np.cumsum(~labels[order])
    pos = max(int(labels.sum()), 1)
    recall = np.concatenate([[0.0], tp / pos])
    precision = np.concatenate([[1.0], tp / np.maximum(tp + fp, 1)])
    return precision, recall


def summary(rows: Iterable[ImageRow]) -> dict:
    """``metrics.aggregate`` over images with a mask: n, mean, std (and pooled ``micro``)."""
    from ..metrics import aggregate

    return aggregate([r.metrics for r in rows if r.has_mask and r.metrics])
