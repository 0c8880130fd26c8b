"""Stepping by seconds follows the frames' own times on variable-frame-rate video."""

from __future__ import annotations

import numpy as np

from polypviewer.engine.media.frame_times import frame_at_offset

# 10 frames at 25 fps, then 10 at 5 fps
VFR = np.array([k * 0.04 for k in range(10)] + [0.4 + k * 0.2 for k in range(10)])


def test_steps_by_the_stored_times_both_ways():
    assert frame_at_offset(VFR, 19, -1.0, 25.0) == 14  # 2.2 s -> the frame at 1.2 s
    assert frame_at_offset(VFR, 0, 1.0, 25.0) == 13  # 0 s -> the first frame at >= 1.0 s
    assert frame_at_offset(VFR, 5, 0.1, 25.0) == 8  # within the 25 fps part: 0.3 s -> 0.32 s
    assert frame_at_offset(VFR, 12, -0.25, 25.0) == 10  # 0.8 s -> the last frame at <= 0.55 s


def test_falls_back_to_the_frame_rate_where_times_are_unknown():
    times = VFR.copy()
    times[15] = np.nan  # a frame not analysed yet on the way
    assert frame_at_offset(times, 10, 2.0, 5.0) == 20  # 10 + 2 s * 5 fps, not read past the gap
    assert frame_at_offset(None, 10, -1.0, 25.0) == -15  # the seek clips it to frame 0
    assert frame_at_offset(np.full(20, np.nan), 3, 1.0, None) == 4  # no rate: 1 frame a second
    assert frame_at_offset(VFR, 19, 1.0, 5.0) == 24  # past the last timed frame: by the rate
