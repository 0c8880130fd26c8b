"""Segmentation and frame-level metrics, with the empty-mask cases defined once for everyone.

This is the only module that counts: per image (``segmentation_metrics``), per image over a
stack of model-size maps (``stack_metrics``, ``mean_metrics_at`` for training and its
threshold sweep), pooled over a set (``aggregate``) and per frame (AUC, ROC, confusion
matrix, no scikit-learn). Empty masks are normal in colonoscopy (frames without a polyp), so
every zero-denominator case has a fixed value instead of NaN or a warning. The rule: *a ratio
whose denominator is zero had nothing it could get wrong, so it is 1* -- with one exception,
**precision of an empty prediction is 1 only when the truth is empty too**; on an image with a
polyp it is 0. Otherwise a model that misses a polyp entirely would score precision 1 on that
image, and mean precision would reward predicting nothing:

=========================  ====  ====  =========  ======  ====  ===========
case                       dice  iou   precision  recall  f2    specificity
=========================  ====  ====  =========  ======  ====  ===========
both empty                 1     1     1          1       1     (as usual)
gt empty, pred not         0     0     0          1       0     (as usual)
gt not empty, pred empty   0     0     0          0       0     (as usual)
gt covers the whole image  ...   ...   ...        ...     ...   1 if no FP
=========================  ====  ====  =========  ======  ====  ===========

Dice, IoU and F2 are computed from counts (``2TP/(2TP+FP+FN)`` etc.), so they are 0 whenever
exactly one mask is empty, and they are what tells a missed polyp from a correct empty frame.
Pixel accuracy is always defined. The frame confusion matrix follows the same precision rule
(no frame called positive: precision 1 only if no positive frame was missed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
from scipy.stats import rankdata

METRICS = ("dice", "iou", "precision", "recall", "f2", "accuracy", "specificity")
COUNTS = ("tp", "fp", "fn", "tn")


def _ratio(num, den):
    """num/den elementwise, with 1.0 where the denominator is empty (see the module docstring)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.ones(np.broadcast(num, den).shape, dtype=np.float64)
    return np.divide(num, den, out=out, where=den != 0)


def _precision(tp, fp, fn):
    """tp/(tp+fp); with no positive prediction: 1 if nothing was missed, else 0."""
    tp, fp, fn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, fn))
    return np.where(tp + fp == 0, (fn == 0).astype(np.float64), _ratio(tp, tp + fp))


def _from_counts(tp, fp, fn, tn) -> dict:
    """The seven ``METRICS`` from counts: floats for scalar counts, arrays for arrays."""
    scalar = np.ndim(tp) == 0
    tp, fp, fn, tn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, fn, tn))
    out = {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn),
        "iou": _ratio(tp, tp + fp + fn),
        "precision": _precision(tp, fp, fn),
        "recall": _ratio(tp, tp + fn),
        "f2": _ratio(5 * tp, 5 * tp + 4 * fn + fp),
        "accuracy": _ratio(tp + tn, tp + fp + fn + tn),
        "specificity": _ratio(tn, tn + fp),
    }
    return {k: float(v) for k, v in out.items()} if scalar else out


def segmentation_metrics(pred: np.ndarray, gt: np.ndarray) -> dict:
    """Metrics of one image; masks are bool (anything else counts as ``!= 0``), same shape.

    Returns the seven ``METRICS`` as floats and the pixel counts ``tp, fp, fn, tn`` as ints
    (the counts let ``aggregate`` pool pixels over a whole set).
    """
    p = np.asarray(pred).astype(bool, copy=False)
    g = np.asarray(gt).astype(bool, copy=False)
    if p.shape != g.shape:
        raise ValueError(f"prediction {p.shape} and ground truth {g.shape} differ in shape")
    if p.size == 0:
        raise ValueError("empty masks have no pixels to compare")
    tp = int(np.count_nonzero(p & g))
    fp = int(np.count_nonzero(p)) - tp
    fn = int(np.count_nonzero(g)) - tp
    tn = int(p.size) - tp - fp - fn
    return {**_from_counts(tp, fp, fn, tn), "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def mask_dice(a: np.ndarray, b: np.ndarray) -> float:
    """Pooled Dice of two boolean mask stacks; 1.0 when both are empty."""
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def stack_counts(pred: np.ndarray, gt: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image pixel counts ``tp, fp, fn, tn`` (int64 arrays) of (N, H, W) mask stacks."""
    p = np.asarray(pred).astype(bool, copy=False)
    g = np.asarray(gt).astype(bool, copy=False)
    if p.shape != g.shape or p.ndim != 3:
        raise ValueError(f"prediction {p.shape} and ground truth {g.shape} must be equal (N, H, W)")
    axes = (1, 2)
    tp = np.count_nonzero(p & g, axis=axes).astype(np.int64)
    fp = np.count_nonzero(p, axis=axes) - tp
    fn = np.count_nonzero(g, axis=axes) - tp
    tn = p.shape[1] * p.shape[2] - tp - fp - fn
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn}


def stack_metrics(pred: np.ndarray, gt: np.ndarray) -> dict[str, np.ndarray]:
    """``segmentation_metrics`` of every image of (N, H, W) stacks at once: arrays of N values."""
    c = stack_counts(pred, gt)
    return _from_counts(c["tp"], c["fp"], c["fn"], c["tn"])


def group_mean(per_image: np.ndarray, groups: np.ndarray | None = None) -> float:
    """Mean of per-image values; with ``groups`` (a group index per image) the mean of each
    group's mean, so a large group (a big source in a multi-source holdout) does not dominate."""
    v = np.asarray(per_image, dtype=np.float64)
    if groups is None:
        return float(v.mean())
    g = np.asarray(groups)
    if g.shape != v.shape:
        raise ValueError(f"groups {g.shape} and values {v.shape} differ in shape")
    return float(np.mean([v[g == k].mean() for k in np.unique(g)]))


def mean_metrics_at(probs: np.ndarray, gt: np.ndarray, thresholds: Sequence[float],
                    keys: Sequence[str] = ("dice", "iou", "precision", "recall"),
                    groups: np.ndarray | None = None) -> list[dict]:
    """Mean per-image ``keys`` of ``probs >= t`` against ``gt`` for each threshold ``t``.

    Plain thresholding of same-size maps (training's validation at model size); the review's
    sweep adds post-processing at full resolution (``analysis.compare.threshold_sweep``).
    ``groups``: means of group means (``group_mean``).
    """
    rows = []
    for t in thresholds:
        m = stack_metrics(np.asarray(probs) >= t, gt)
        rows.append({"threshold": float(t), **{k: group_mean(m[k], groups) for k in keys}})
    return rows


def evaluate_masks(pred: np.ndarray, gt: np.ndarray) -> dict:
    """Like ``segmentation_metrics`` but scored at the ground truth's own resolution.

    A prediction of another size (e.g. saved at model size) is resized with nearest
    neighbour first, so the ground truth is never resampled.
    """
    p = np.asarray(pred).astype(bool, copy=False)
    g = np.asarray(gt).astype(bool, copy=False)
    if p.ndim != 2 or g.ndim != 2:
        raise ValueError(f"masks must be 2-D, got {p.shape} and {g.shape}")
    if p.shape != g.shape:
        p = cv2.resize(p.astype(np.uint8), (g.shape[1], g.shape[0]),
                       interpolation=cv2.INTER_NEAREST).astype(bool)
    return segmentation_metrics(p, g)


def aggregate(rows: list[dict]) -> dict:
    """Summarise per-image results: ``{"n", "mean", "std", "micro"}``.

    ``mean``/``std`` (population std) are over images for each metric present in the rows;
    ``micro`` pools the pixel counts of all images (large polyps weigh more) and is only
    given when the rows carry counts. No rows -> ``n == 0`` and empty dicts.
    """
    out: dict = {"n": len(rows), "mean": {}, "std": {}, "micro": {}}
    if not rows:
        return out
    for key in METRICS:
        vals = [float(r[key]) for r in rows if key in r]
        if vals:
            arr = np.asarray(vals, dtype=np.float64)
            out["mean"][key] = float(arr.mean())
            out["std"][key] = float(arr.std())
    if all(all(k in r for k in COUNTS) for r in rows):
        totals = {k: int(sum(int(r[k]) for r in rows)) for k in COUNTS}
        pooled = _from_counts(totals["tp"], totals["fp"], totals["fn"], totals["tn"])
        out["micro"] = {k: pooled[k] for k in ("precision", "recall", "f2", "dice", "iou")}
        out["micro"].update(totals)
    return out


def _labels_scores(labels: Sequence, scores: Sequence) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and scores {s.shape} must be 1-D and the same length")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0/1 (or bool)")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    return y.astype(bool), s


def frame_auc(labels: Sequence, scores: Sequence) -> float:
    """ROC AUC of frame scores (Mann-Whitney U, ties count half).

    NaN when only one class is present: the AUC is undefined there, and 0.5 would look like
    a real (useless) result.
    """
    y, s = _labels_scores(labels, scores)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(s)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def roc_curve(labels: Sequence, scores: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)``: one point per distinct score, thresholds descending.

    The first point is ``(0, 0)`` at threshold ``+inf``; a frame is positive when
    ``score >= threshold``. Rates are 0 for a class that is absent.
    """
    y, s = _labels_scores(labels, scores)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last = np.r_[np.nonzero(np.diff(s_sorted))[0], y.size - 1] if y.size else np.array([], int)
    tps = np.cumsum(y_sorted)[last] if y.size else np.array([], int)
    fps = (last + 1) - tps
    n_pos, n_neg = int(y.sum()), int(y.size - y.sum())
    tpr = np.r_[0.0, tps / n_pos if n_pos else np.zeros(len(tps))]
    fpr = np.r_[0.0, fps / n_neg if n_neg else np.zeros(len(fps))]
    thresholds = np.r_[np.inf, s_sorted[last]]
    return fpr.astype(np.float64), tpr.astype(np.float64), thresholds


def confusion_matrix(labels: Sequence, scores: Sequence, threshold: float = 0.5) -> dict:
    """Frame counts at ``score >= threshold`` plus sensitivity, specificity, accuracy.

    Rates with an empty denominator are 1, precision as in the module docstring.
    """
    y, s = _labels_scores(labels, scores)
    p = s >= threshold
    tp = int(np.count_nonzero(p & y))
    fp = int(np.count_nonzero(p & ~y))
    fn = int(np.count_nonzero(~p & y))
    tn = int(np.count_nonzero(~p & ~y))
    return {
        "threshold": float(threshold), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "sensitivity": float(_ratio(tp, tp + fn)),
        "specificity": float(_ratio(tn, tn + fp)),
        "precision": float(_precision(tp, fp, fn)),
        "accuracy": float(_ratio(tp + tn, y.size)),
    }


def findings_scores(truth: Sequence[int], pairs: Sequence[Sequence[tuple[int, int]]], fps: float,
                    confirm_hits: int = 1, long_s: float = 1.0) -> dict:
    """Finding-level scores of one tracked video against its per-frame truth.

    ``truth[i]``: the true polyp on screen in frame i (0 = none). ``pairs[i]``: (finding ID,
    true polyp) for each predicted region of frame i, with finding 0 for a region in no finding
    and polyp 0 for one on no true polyp. A finding belongs to the polyp most of its regions
    lie on, or is a false finding when most lie on none. A polyp is found when a finding
    belongs to it; an ID switch is a change of the finding seen on the same polyp; the time to
    detection runs from its first frame on screen to the frame where ``confirm_hits`` of its
    regions in findings have been seen (when a live view would have shown it).
    """
    per_finding: dict[int, dict[int, int]] = {}
    for row in pairs:
        for fid, gid in row:
            if fid:
                c = per_finding.setdefault(fid, {})
                c[gid] = c.get(gid, 0) + 1
    owner = {}
    for fid, c in per_finding.items():
        on = {g: n for g, n in c.items() if g}
        if on and sum(on.values()) * 2 >= sum(c.values()):
            owner[fid] = max(on, key=lambda g: (on[g], -g))
    polyps = sorted({int(t) for t in truth if t})
    rows = {}
    for p in polyps:
        frames = [i for i, t in enumerate(truth) if t == p]
        seen = [min(f for f, g in pairs[i] if g == p and f) for i in range(len(pairs))
                if any(g == p and f for f, g in pairs[i])]
        hit_frames = [i for i in range(len(pairs)) if any(g == p and f for f, g in pairs[i])]
        switches = sum(a != b for a, b in zip(seen, seen[1:]))
        latency = ((hit_frames[confirm_hits - 1] - frames[0]) / fps
                   if len(hit_frames) >= confirm_hits else None)
        rows[p] = {"on_screen_s": len(frames) / fps, "found": p in owner.values(),
                   "findings": sum(1 for o in owner.values() if o == p), "id_switches": switches,
                   "latency_s": latency}
    n_false = len(per_finding) - len(owner)
    free_min = sum(1 for t in truth if not t) / fps / 60.0
    found = sum(r["found"] for r in rows.values())
    lat = [r["latency_s"] for r in rows.values() if r["latency_s"] is not None]
    return {"polyps": len(polyps), "findings": len(per_finding), "true_findings": len(owner),
            "false_findings": n_false, "found": found,
            "sensitivity": _ratio(found, len(polyps)),
            "missed_long": sum(1 for r in rows.values()
                               if not r["found"] and r["on_screen_s"] >= long_s),
            "id_switches": sum(r["id_switches"] for r in rows.values()),
            "polyp_free_min": free_min,
            "false_per_min": n_false / free_min if free_min > 0 else math.nan,
            "median_latency_s": float(np.median(lat)) if lat else math.nan, "per_polyp": rows}
