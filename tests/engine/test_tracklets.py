"""Linking regions into tracklets: the failure modes seen on real model output.

Both cases come from the findings benchmark's tuning sequences: during a blur or water
dropout a polyp's mask breaks into small pieces, and around its edge the model adds specks.
Either used to hand the polyp over to a new tracklet, i.e. a second finding for one polyp.
"""

from __future__ import annotations

from polypviewer.engine.analysis.tracklets import Linker

POLYP = [100, 100, 200, 200]


def _linker() -> Linker:
    return Linker(max_missing=6, min_iou=0.1, max_distance=1.0)


def _run(frames: list[list[list[int]]]) -> tuple[Linker, list[list[int]]]:
    linker = _linker()
    return linker, [linker.update(i, boxes) for i, boxes in enumerate(frames)]


def test_pieces_of_a_polyp_during_a_dropout_do_not_become_its_track():
    frames = ([[POLYP]] * 10 + [[[170, 150, 195, 195]], [[110, 105, 125, 120]]]  # pieces
              + [[POLYP]] * 10)
    linker, ids = _run(frames)
    assert ids[0] == ids[-1] == ids[10] == ids[11]
    assert len(linker.groups()) == 1


def test_a_good_match_is_not_traded_for_two_poor_ones():
    # a speck at the polyp's edge starts a tracklet; next frame the polyp's region has grown
    # over it and a second speck lies further out: the polyp keeps its region
    frames = ([[POLYP]] * 10 + [[POLYP, [195, 205, 205, 215]]]
              + [[[100, 100, 200, 215], [150, 220, 165, 235]]] + [[POLYP]] * 5)
    linker, ids = _run(frames)
    assert ids[11][0] == ids[0][0] and ids[-1] == ids[0]
    assert ids[11][1] != ids[0][0]  # the far speck is not the polyp


def test_a_polyp_that_shrinks_gradually_is_followed():
    # zooming out: the box shrinks a few per cent a frame, which is motion, not a piece
    frames = []
    for i in range(40):
        half = 50 * 0.95 ** i
        frames.append([[150 - half, 150 - half, 150 + half, 150 + half]])
    linker, ids = _run(frames)
    assert {i for row in ids for i in row} == {1}
    assert linker.tracklets[0].box[2] - linker.tracklets[0].box[0] < 20


def test_two_polyps_crossing_paths_keep_their_tracklets():
    frames = [[[10 + 8 * i, 40, 40 + 8 * i, 70], [250 - 8 * i, 120, 280 - 8 * i, 150]]
              for i in range(30)]
    _, ids = _run(frames)
    assert all(row == [1, 2] for row in ids)
