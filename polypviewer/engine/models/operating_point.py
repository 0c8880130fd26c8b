"""The frame verdict's operating point: how it is chosen and the one place it is read.

A frame head's 0.5 is not calibrated: on real no-polyp frames it fires far too often. The
point is chosen on holdout negatives (a specificity floor, because false alarms are what
users stop trusting a tool for) and stored as ``frame_threshold`` in the model metadata.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ModelFileError

DEFAULT_FRAME_THRESHOLD = 0.5  # a frame head without a stored operating point
MIN_SPECIFICITY = 0.97  # the rule: lowest threshold keeping this share of negatives negative


def choose_frame_threshold(negatives, positives, min_specificity: float = MIN_SPECIFICITY) -> dict:
    """Lowest threshold with specificity >= ``min_specificity`` on the negative scores.

    Returns the threshold with the specificity reached and the sensitivity it gives on the
    positive scores (the figures to report with it).
    """
    neg = np.sort(np.asarray(negatives, np.float64))[::-1]
    pos = np.asarray(positives, np.float64)
    if not len(neg) or not len(pos):
        raise ValueError("choosing a frame threshold needs negative and positive holdout frames")
    allowed = math.floor((1.0 - min_specificity) * len(neg) + 1e-9)  # false alarms permitted
    # just above the (allowed + 1)-th highest negative score: that one and all below are negative
    t = float(np.nextafter(neg[allowed], np.inf)) if allowed < len(neg) else 0.0
    t = min(max(t, 0.0), 1.0)
    return {"frame_threshold": t, "rule": f"specificity >= {min_specificity:g} on negatives",
            "specificity": float((neg < t).mean()), "sensitivity": float((pos >= t).mean()),
            "n_negative": int(len(neg)), "n_positive": int(len(pos))}


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
