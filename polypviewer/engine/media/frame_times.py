"""Moving through a video by seconds: by the frames' own presentation times where known.

``index / fps`` is wrong on variable-frame-rate recordings (phones, screen captures, some
endoscopy recorders), so "10 s on" must read the times the analysis stored. Frames whose time is
not known yet (not analysed) fall back to the nominal frame rate.
"""

from __future__ import annotations

import numpy as np


def frame_at_offset(times: np.ndarray | None, index: int, seconds: float,
                    fps: float | None) -> int:
    """The frame ``seconds`` after (or, negative, before) frame ``index``.

    ``times``: presentation time per index (NaN where unknown). Uses them when every frame
    between ``index`` and the answer has a time; otherwise ``index + seconds * fps``. The
    result is not clipped to the video's length (the caller's seek does that).
    """
    fallback = index + int(round(seconds * (fps or 1.0)))
    if times is None or not 0 <= index < len(times) or seconds == 0:
        return fallback
    t = np.asarray(times, np.float64)
    target = t[index] + seconds
    if not np.isfinite(target):
        return fallback
    if seconds > 0:
        span = t[index + 1:]
        ends = np.flatnonzero(~np.isfinite(span))
        known = span[:ends[0]] if ends.size else span  # the run of timed frames after index
        hit = np.flatnonzero(known >= target - 1e-9)
        return index + 1 + int(hit[0]) if hit.size else fallback
    span = t[:index][::-1]
    ends = np.flatnonzero(~np.isfinite(span))
    known = span[:ends[0]] if ends.size else span  # the run of timed frames before index
    hit = np.flatnonzero(known <= target + 1e-9)
    return index - 1 - int(hit[0]) if hit.size else fallback
