"""The timeline draws a video's findings as spans over a curve and stills' per image."""

from __future__ import annotations

import numpy as np
from gui_helpers import SLOW, open_and_wait
from PySide6.QtCore import Qt

from polypviewer.gui.timeline import Timeline


def _blocks(tl: Timeline) -> list[tuple[tuple[float, float], str]]:
    return [(tuple(round(v, 3) for v in item.getRegion()), text.toPlainText())
            for item, text in zip(tl.segment_items, tl.label_items) if item.isVisible()]


def _has_line(curve) -> bool:
    return curve.opts["pen"].style() != Qt.PenStyle.NoPen


def test_video_findings_are_spans_over_a_curve(qtbot):
    tl = Timeline()
    qtbot.addWidget(tl)
    tl.set_length(12)
    tl.set_data(np.linspace(0, 1, 12), np.ones(12), 0.5, [(2, 5, 1), (6, 9, 2)])
    assert _blocks(tl) == [((2.5, 6.5), "#1"), ((6.5, 10.5), "#2")]
    assert _has_line(tl.prob_curve) and tl.prob_curve.opts["symbol"] is None


def test_stills_get_one_block_per_image_apart_from_the_next(qtbot):
    tl = Timeline()
    qtbot.addWidget(tl)
    tl.set_length(5, stills=True)
    # image 2 (index 1) holds findings 2 and 3, image 3 finding 4, image 4 finding 5
    tl.set_data(np.array([0.1, 0.9, 0.8, 0.7, 0.0]), np.array([0, 2, 1, 1, 0]), 0.5,
                [(1, 1, 2), (1, 1, 3), (2, 2, 4), (3, 3, 5)])
    blocks = _blocks(tl)
    assert [label for _, label in blocks] == ["#2 #3", "#4", "#5"]
    for ((_, right), _), ((left, _), _) in zip(blocks, blocks[1:]):
        assert left > right  # a gap between neighbouring images
    assert all(lo < k + 1 < hi for k, ((lo, hi), _) in zip((1, 2, 3), blocks))
    assert not _has_line(tl.prob_curve) and tl.prob_curve.opts["symbol"] == "o"
    assert tl.segments == [(1, 1), (1, 1), (2, 2), (3, 3)]  # Finding ◂ ▸ still steps by finding

    tl.set_length(5)  # a video opened next draws curves again
    assert _has_line(tl.prob_curve) and tl.prob_curve.opts["symbol"] is None


def test_a_folder_opens_in_stills_mode_and_a_video_does_not(qtbot, make_window, image_folder,
                                                           video):
    win = open_and_wait(qtbot, make_window(), image_folder)
    qtbot.waitUntil(lambda: win.timeline.stills, timeout=SLOW)
    open_and_wait(qtbot, win, video)
    qtbot.waitUntil(lambda: not win.timeline.stills, timeout=SLOW)
