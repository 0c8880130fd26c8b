"""Tracking: hysteresis, short gaps, re-identification, split/merge; findings and segments."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from polypviewer.engine.analysis.appearance import FrameAppearance
from polypviewer.engine.analysis.tracking import (
    TrackingSettings,
    TrackResult,
    per_image,
    segments,
    track,
)
from polypviewer.engine.runtime.postprocess import find_instances

SHAPE = (120, 200)
S = TrackingSettings(enter_hits=3, enter_window=5, enter_confidence=0.5, max_missing=2,
                     reid_gap_s=2.0, reid_similarity=0.6, min_duration_s=0.2)


def _instances(centres, r=12, shape=SHAPE, conf=None):
    mask = np.zeros(shape, np.uint8)
    prob = np.zeros(shape, np.float32)
    for k, (x, y) in enumerate(centres):
        cv2.circle(mask, (int(x), int(y)), r, 1, -1)
        cv2.circle(prob, (int(x), int(y)), r, conf[k] if conf else 0.8, -1)
    insts, _ = find_instances(mask > 0, prob)
    return sorted(insts, key=lambda i: i.centroid[0])


def _ids(result, frames):
    return {t for i, _, insts in frames for t in result.ids_per_frame[i]}


def test_moving_blob_keeps_its_id_through_a_two_frame_gap():
    frames = []
    for i in range(20):
        insts = [] if i in (8, 9) else _instances([(20 + 6 * i, 60)], conf=[0.5 + 0.02 * i])
        frames.append((i, i / 25.0, insts))
    result = track(frames, S, frame_area=SHAPE[0] * SHAPE[1])
    assert _ids(result, frames) == {1}
    assert result.ids_per_frame[8] == []
    (f,) = result.findings
    assert (f.id, f.first_index, f.last_index, f.n_frames) == (1, 0, 19, 18)
    assert f.first_time_s == 0.0 and f.duration_s == pytest.approx(19 / 25)
    assert f.best_index == 19 and f.peak_confidence == pytest.approx(0.88, abs=1e-4)
    assert f.mean_confidence == pytest.approx(np.mean([0.5 + 0.02 * i for i in range(20)
                                                       if i not in (8, 9)]), abs=1e-3)
    assert f.size_fraction == pytest.approx(np.pi * 12 ** 2 / (SHAPE[0] * SHAPE[1]), rel=0.1)
    assert f.best_bbox == frames[19][2][0].bbox
    assert result.n_analysed == result.n_frames == 20 and result.complete


def test_flicker_of_one_to_three_frames_never_becomes_a_finding():
    rng = np.random.default_rng(0)
    frames, i = [], 0
    for _ in range(12):  # bursts of 1-3 frames at random places, separated by quiet frames
        n = int(rng.integers(1, 4))
        spot = (float(rng.integers(20, 180)), float(rng.integers(20, 100)))
        for _ in range(n):
            frames.append((i, i / 25.0, _instances([spot], r=6)))
            i += 1
        for _ in range(3):
            frames.append((i, i / 25.0, []))
            i += 1
    s = TrackingSettings(enter_hits=4, enter_window=6, enter_confidence=0.5, max_missing=2,
                         min_duration_s=0.0)
    result = track(frames, s)
    assert result.findings == []
    assert _ids(result, frames) <= {0}


def test_hysteresis_enters_after_n_of_m_frames():
    # seen in 3 of 5 frames (two misses inside the window): a finding; 2 of 5: not
    seen = [0, 1, 3, 6, 8]  # frames 0,1,3 fall in one window of 5
    frames = [(i, i / 25.0, _instances([(60, 60)]) if i in seen else []) for i in range(12)]
    assert len(track(frames, S).findings) == 1
    sparse = [0, 3, 6, 9]
    frames = [(i, i / 25.0, _instances([(60, 60)]) if i in sparse else []) for i in range(12)]
    assert track(frames, TrackingSettings(enter_hits=3, enter_window=5, enter_confidence=0.5,
                                          max_missing=3, min_duration_s=0.0)).findings == []


def test_entering_needs_confident_regions_staying_does_not():
    weak = [(i, i / 25.0, _instances([(60 + i, 60)], conf=[0.6])) for i in range(30)]
    s = TrackingSettings(enter_hits=3, enter_window=5, enter_confidence=0.85, min_duration_s=0.2)
    assert track(weak, s).findings == []  # a long but hesitant region: not a finding
    mixed = [(i, i / 25.0, _instances([(60 + i, 60)], conf=[0.95 if 5 <= i < 9 else 0.6]))
             for i in range(30)]
    (f,) = track(mixed, s).findings
    assert (f.first_index, f.last_index) == (0, 29)  # once in, the weak frames belong to it


def test_no_finding_is_shorter_than_the_minimum_duration():
    frames = [(i, i / 25.0, _instances([(60, 60)]) if 2 <= i < 8 else []) for i in range(30)]
    frames += [(i, i / 25.0, _instances([(150, 60)]) if i < 50 else []) for i in range(30, 60)]
    s = TrackingSettings(enter_hits=3, enter_window=5, enter_confidence=0.5, max_missing=2,
                         min_duration_s=0.5, reid_gap_s=0.0)
    result = track(frames, s)
    assert [(f.first_index, f.last_index) for f in result.findings] == [(30, 49)]
    assert all(f.duration_s >= s.min_duration_s for f in result.findings)
    assert set(result.ids_per_frame[4]) == {0}  # the short one is drawn without a number


def _coloured(i: int, centre, colour) -> np.ndarray:
    rgb = np.full(SHAPE + (3,), (150, 70, 60), np.uint8)
    if centre is not None:
        cv2.circle(rgb, (int(centre[0]), int(centre[1])), 12, colour, -1)
    return rgb


def _video(plan):
    """Frames and their appearance from (centre or None, colour) per frame."""
    rgbs = [_coloured(i, c, col) for i, (c, col) in enumerate(plan)]
    frames = [(i, i / 25.0, _instances([c]) if c is not None else []) for i, (c, _) in enumerate(plan)]
    return frames, FrameAppearance(lambda i: rgbs[i])


def _gap_video(second_colour, gap: int):
    """A polyp in view, gone for ``gap`` frames (the scope turned), then one elsewhere."""
    plan = [((40 + i, 60), (230, 170, 150)) for i in range(15)] + [(None, None)] * gap
    return _video(plan + [((150 - i, 50), second_colour) for i in range(15)])


def test_a_polyp_back_within_the_gap_keeps_its_finding_a_different_one_does_not():
    frames, look = _gap_video((230, 170, 150), gap=20)  # 0.8 s away: same colour, same finding
    result = track(frames, S, appearance=look)
    assert [f.id for f in result.findings] == [1] and _ids(result, frames) == {1}
    frames, look = _gap_video((90, 200, 90), gap=20)  # a green "polyp": another finding
    result = track(frames, S, appearance=look)
    assert [f.id for f in result.findings] == [1, 2]
    assert result.ids_per_frame[0] == [1] and result.ids_per_frame[len(frames) - 1] == [2]


def _three_visits(a, b, n_middle: int):
    """Polyp colour ``a`` for 15 frames, 5 empty, ``b`` for ``n_middle``, 5 empty, ``a`` again."""
    return _video([((40 + i, 60), a) for i in range(15)] + [(None, None)] * 5
                  + [((100 + i, 60), b) for i in range(n_middle)] + [(None, None)] * 5
                  + [((150 - i, 50), a) for i in range(15)])


def test_a_polyp_seen_in_between_ends_the_first_ones_reidentification():
    # A, then a different polyp B, then one that looks like A within the gap: the scope has
    # moved on along the colon, so it is a third polyp (merging would hide one from the count)
    a, b = (230, 170, 150), (90, 200, 90)
    frames, look = _three_visits(a, b, 15)
    result = track(frames, S, appearance=look)
    assert [(f.first_index, f.last_index) for f in result.findings] == [(0, 14), (20, 34), (40, 54)]
    # a blip too short to be a finding in between does not end it
    frames, look = _three_visits(a, b, 4)
    result = track(frames, S, appearance=look)
    assert [(f.first_index, f.last_index) for f in result.findings] == [(0, 43)]


def test_beyond_the_reidentification_gap_it_is_a_new_finding():
    frames, look = _gap_video((230, 170, 150), gap=60)  # 2.4 s > reid_gap_s
    assert len(track(frames, S, appearance=look).findings) == 2


def test_without_appearance_a_polyp_back_where_it_left_keeps_its_finding():
    frames = [(i, i / 25.0, [] if 10 <= i < 25 else _instances([(60 + (i > 20), 60)]))
              for i in range(40)]
    assert len(track(frames, S).findings) == 1


def test_a_mask_that_splits_and_merges_keeps_one_finding():
    frames = []
    for i in range(40):
        if 12 <= i < 24:  # the mask splits in two pieces, then joins again
            insts = _instances([(80 + i - 10, 60), (80 + i + 10, 60)], r=8)
        else:
            insts = _instances([(80 + i, 60)], r=20)
        frames.append((i, i / 25.0, insts))
    result = track(frames, S)
    assert len(result.findings) == 1
    assert all(result.ids_per_frame[i] == [1] * len(frames[i][2]) for i in range(40))


def test_two_pieces_that_merge_into_one_region_are_one_finding():
    frames = []
    for i in range(40):
        insts = (_instances([(70, 60), (110, 60)], r=10) if i < 15 else
                 _instances([(90, 60)], r=34))
        frames.append((i, i / 25.0, insts))
    result = track(frames, S)
    assert len(result.findings) == 1 and _ids(result, frames) == {1}


def test_two_polyps_side_by_side_get_two_stable_ids():
    frames = [(i, i / 25.0, _instances([(30 + 2 * i, 40), (170 - 2 * i, 80)])) for i in range(20)]
    result = track(frames, S)
    assert [f.id for f in result.findings] == [1, 2]
    assert all(result.ids_per_frame[i] == [1, 2] for i in range(20))


def test_frames_must_arrive_in_order():
    with pytest.raises(ValueError):
        track([(3, None, []), (3, None, [])], S)


def test_cadx_probability_is_the_mean_over_the_finding_when_regions_carry_it():
    frames = []
    for i in range(10):
        (inst,) = _instances([(60 + i, 60)])
        region = SimpleNamespace(bbox=inst.bbox, area=inst.area, centroid=inst.centroid,
                                 confidence=inst.confidence,
                                 neoplastic_probability=0.6 if i < 5 else 0.8)
        frames.append((i, i / 25.0, [region]))
    (f,) = track(frames, S).findings
    assert f.neoplastic_probability == pytest.approx(0.7)
    frames = [(i, i / 25.0, _instances([(60 + i, 60)])) for i in range(10)]
    assert track(frames, S).findings[0].neoplastic_probability is None


def test_track_result_round_trips_through_its_cached_form():
    frames, look = _gap_video((90, 200, 90), gap=5)
    result = track(frames, S, appearance=look, n_frames=100)
    again = TrackResult.from_dict(result.to_dict(), [i for i, _, _ in frames])
    assert again.findings == result.findings and again.ids_per_frame == result.ids_per_frame
    assert again.settings == S and (again.n_analysed, again.n_frames) == (len(frames), 100)
    assert not again.complete


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
    assert len(track(frames, S).findings) <= 1  # what video tracking would do with them
    result = per_image(frames)
    assert [f.id for f in result.findings] == [1, 2, 3, 4]
    assert [f.best_index for f in result.findings] == [0, 2, 2, 3]
    assert result.ids_per_frame == {0: [1], 1: [], 2: [2, 3], 3: [4]}
    f = result.findings[2]
    assert (f.first_index, f.last_index, f.n_frames, f.duration_s) == (2, 2, 1, None)
    assert f.peak_confidence == pytest.approx(0.6)
