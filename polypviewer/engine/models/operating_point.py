"""The frame verdict's operating point: how it is chosen and the one place it is read.

A frame head's 0.5 is not calibrated: on real no-polyp frames it fires far too often. The
point is chosen on holdout frames (a specificity floor first, because false alarms are what
users stop trusting a tool for, then a sensitivity floor) and stored as ``frame_threshold`` in
the model metadata.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ModelFileError

DEFAULT_FRAME_THRESHOLD = 0.5  # a frame head without a stored operating point
MIN_SPECIFICITY = 0.97  # the floor: at most 3 % of negatives may be called "polyp"
MIN_SENSITIVITY = 0.98  # the other floor: at most 2 % of polyp frames may be missed


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _bounds(negatives, positives, min_specificity: float, min_sensitivity: float):
    """(lowest, highest) admissible threshold and the sorted scores."""
    neg = np.sort(np.asarray(negatives, np.float64))[::-1]
    pos = np.sort(np.asarray(positives, np.float64))
    if not len(neg) or not len(pos):
        raise ValueError("choosing a frame threshold needs negative and positive holdout frames")
    allowed = math.floor((1.0 - min_specificity) * len(neg) + 1e-9)  # false alarms permitted
    # just above the (allowed + 1)-th highest negative score: that one and all below are negative
    lo = float(np.nextafter(neg[allowed], np.inf)) if allowed < len(neg) else 0.0
    missed = math.floor((1.0 - min_sensitivity) * len(pos) + 1e-9)  # misses permitted
    hi = float(pos[missed]) if missed < len(pos) else 1.0  # that positive is still found
    return lo, hi, neg, pos


def choose_frame_threshold(negatives, positives, min_specificity: float = MIN_SPECIFICITY,
                           min_sensitivity: float = MIN_SENSITIVITY) -> dict:
    """The frame threshold, from holdout scores of negative and positive frames.

    The specificity floor gives the lowest admissible threshold and the sensitivity floor the
    highest. When both can be met, the point is their midpoint in logit space: equal margin
    against both errors, so frames unlike the holdout's (whole frames where the negatives were
    crops) do not fall straight over an edge. When they cannot, specificity wins. Returns the
    threshold with the specificity and sensitivity it reaches.
    """
    return choose_frame_threshold_over({None: (negatives, positives)}, min_specificity,
                                       min_sensitivity)


def choose_frame_threshold_over(scores: dict, min_specificity: float = MIN_SPECIFICITY,
                                min_sensitivity: float = MIN_SENSITIVITY) -> dict:
    """One threshold for several analysis sizes, ``{size: (negatives, positives)}``.

    A model's profiles (accurate and fast) share its one ``frame_threshold``, and a smaller
    size scores normal mucosa higher, so the floors must hold at each: the lowest threshold
    is the highest of the sizes' specificity bounds, the highest the lowest of their
    sensitivity bounds, then the same midpoint (specificity wins when they cross). The
    specificity and sensitivity reached are the worst over the sizes, and per size.
    """
    bounds = {size: _bounds(n, p, min_specificity, min_sensitivity) for size, (n, p) in scores.items()}
    lo = max(b[0] for b in bounds.values())
    hi = min(b[1] for b in bounds.values())
    t = lo if hi <= lo else 1.0 / (1.0 + math.exp(-(_logit(lo) + _logit(hi)) / 2))
    t = min(max(t, lo), 1.0)
    rule = (f"specificity >= {min_specificity:g} on negatives, then the logit midpoint to "
            f"sensitivity >= {min_sensitivity:g} on positives")
    reached = {size: (float((neg < t).mean()), float((pos >= t).mean()))
               for size, (_, _, neg, pos) in bounds.items()}
    any_size = next(iter(bounds.values()))
    op = {"frame_threshold": t, "rule": rule, "lowest": lo, "highest": hi,
          "specificity": min(v[0] for v in reached.values()),
          "sensitivity": min(v[1] for v in reached.values()),
          "n_negative": int(len(any_size[2])), "n_positive": int(len(any_size[3]))}
    if len(bounds) > 1:
        op["rule"] += " at every size"
        op["per_size"] = {str(size): {"lowest": b[0], "highest": b[1], "specificity": reached[size][0],
                                      "sensitivity": reached[size][1]}
                          for size, b in bounds.items()}
    return op


def resolve_frame_threshold(metadata: dict, pixel_threshold: float,
                            has_head: bool = True) -> float:
    """The verdict threshold of a model: its stored ``frame_threshold``; else 0.5 for a frame
    head; else (frame probability = the highest pixel probability) the pixel threshold."""
    v = metadata.get("frame_threshold")
    if v is None:
        return DEFAULT_FRAME_THRESHOLD if has_head else float(pixel_threshold)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
        raise ModelFileError(f"model {metadata.get('name', '?')}: frame_threshold must be a "
                             f"number from 0 to 1, not {v!r}")
    return float(v)
