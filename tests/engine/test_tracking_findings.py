"""Tracking: one stable ID per polyp through motion and short gaps; findings and segments."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from polypviewer.engine.analysis.tracking import Tracker, per_image, segments, track
from polypviewer.engine.runtime.postprocess import find_instances


def _instances(centres, r=12, shape=(120, 200), conf=None):
    mask = np.zeros(shape, np.uint8)
    prob = np.zeros(shape, np.float32)
    for k, (x, y) in enumerate(centres):
        cv2.circle(mask, (int(x), int(y)), r, 1, -1)
        cv2.circle(prob, (int(x), int(y)), r, conf[k] if conf else 0.8, -1)
    insts, _ = find_instances(mask > 0, prob)
    return sorted(insts, key=lambda i: i.centroid[0])


def test_moving_blob_keeps_its_id_through_a_two_frame_gap():
    frames = []
    for i in range(20):
        insts = [] if i in (8, 9) else _instances([(20 + 6 * i, 60)], conf=[0.5 + 0.02 * i])
        frames.append((i, i / 25.0, insts))
    result = track(frames, max_gap=2, min_length=3)
    ids = {t for i, _, insts in frames for t in result.ids_per_frame[i]}
    assert ids == {1}
    assert result.ids_per_frame[8] == []
    (f,) = result.findings
    assert (f.id, f.first_index, f.last_index, f.n_frames) == (1, 0, 19, 18)
    assert f.first_time_s == 0.0 and f.last_time_s == pytest.approx(19 / 25)
    assert f.duration_s == pytest.approx(19 / 25)
    assert f.best_index == 19 and f.peak_confidence == pytest.approx(0.88, abs=1e-4)
    assert f.mean_area == pytest.approx(np.pi * 12 ** 2, rel=0.1)


def test_gap_longer_than_tolerance_starts_a_new_finding():
    frames = [(i, None, [] if 5 <= i < 10 else _instances([(50 + i, 60)])) for i in range(15)]
    result = track(frames, max_gap=2, min_length=3)
    assert [f.id for f in result.findings] == [1, 2]
    assert result.findings[0].last_index == 4 and result.findings[1].first_index == 10
    assert result.findings[0].duration_s is None  # stills have no time


def test_two_blobs_get_two_stable_ids():
    tracker = Tracker(max_gap=1)
    seen = []
    for i in range(12):
        insts = _instances([(30 + 2 * i, 40), (170 - 2 * i, 80)])
        seen.append(tracker.update(i, insts))
    assert all(ids == seen[0] for ids in seen) and len(set(seen[0])) == 2
    assert len(tracker.findings(min_length=3)) == 2


def test_flicker_is_not_a_finding_and_gets_id_zero():
    frames = [(i, None, _instances([(40 + i, 60)])) for i in range(6)]
    frames.append((6, None, _instances([(46, 60), (180, 20)], r=6)))
    result = track(frames, min_length=3)
    assert len(result.findings) == 1
    assert sorted(result.ids_per_frame[6]) == [0, 1]


def test_frames_must_arrive_in_order():
    tracker = Tracker()
    tracker.update(3, [])
    with pytest.raises(ValueError):
        tracker.update(3, [])


def test_segments_merge_gaps_and_drop_short_runs():
    p = np.array([0, .9, .9, .1, .9, .9, .9, 0, np.nan, 0, .8, 0, 0, .7, .7, .7])
    assert segments(p, 0.5) == [(1, 2), (4, 6), (10, 10), (13, 15)]
    assert segments(p, 0.5, gap=1) == [(1, 6), (10, 10), (13, 15)]
    assert segments(p, 0.5, min_len=3, gap=1) == [(1, 6), (13, 15)]
    assert segments(np.full(5, np.nan), 0.5) == []


def test_stills_are_never_linked_and_single_images_count():
    """Unrelated images: the same spot in three files is three findings, not one track."""
    frames = [(0, None, _instances([(50, 60)])), (1, None, []),
              (2, None, _instances([(52, 60), (150, 40)], conf=[0.9, 0.6])),
              (3, None, _instances([(50, 61)]))]
    linked = track(frames)  # what video tracking would do with them
    assert len(linked.findings) <= 1
    result = per_image(frames)
    assert [f.id for f in result.findings] == [1, 2, 3, 4]
    assert [f.best_index for f in result.findings] == [0, 2, 2, 3]
    assert result.ids_per_frame == {0: [1], 1: [], 2: [2, 3], 3: [4]}
    f = result.findings[2]
    assert (f.first_index, f.last_index, f.n_frames, f.duration_s) == (2, 2, 1, None)
    assert f.peak_confidence == pytest.approx(0.6)
