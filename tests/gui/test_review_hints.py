"""Before analysis the app says so (Findings, playback); the Findings list follows the frame."""

from __future__ import annotations

from gui_helpers import SLOW, open_and_wait

from polypviewer.engine.analysis.tracking import Finding
from polypviewer.gui.findings import NOT_ANALYSED, FindingsPanel


def test_unanalysed_video_says_how_to_analyse_and_playback_says_it_is_live(qtbot, make_window, video):
    win = open_and_wait(qtbot, make_window(), video)
    assert win.findings.summary.text() == NOT_ANALYSED
    assert "No polyps" not in win.findings.summary.text()
    messages = []
    win.review.message.connect(lambda text, _err: messages.append(text))
    win.review.play()
    win.review.pause()
    assert any("analysed as it is shown" in m and "Ctrl+R" in m for m in messages)
    with qtbot.waitSignal(win.review.analysis_finished, timeout=SLOW):
        win.review.start_analysis()
    qtbot.waitUntil(lambda: win.findings.summary.text() != NOT_ANALYSED, timeout=SLOW)
    assert "analysed —" not in win.findings.summary.text()  # complete: no "k of n analysed" note
    messages.clear()
    win.review.play()
    win.review.pause()
    assert not any("analysed as it is shown" in m for m in messages)


def _finding(i: int, first: int, last: int) -> Finding:
    return Finding(i, first, last, first / 25, last / 25, (last - first) / 25, last - first + 1,
                   (first + last) // 2, (10, 10, 40, 40), 0.9, 0.8, 500.0)


def test_findings_list_follows_the_frame_without_horizontal_scrolling(qtbot):
    panel = FindingsPanel()
    qtbot.addWidget(panel)
    panel.resize(170, 400)  # narrower than the longest row
    panel.show()
    jumps = []
    panel.jump.connect(jumps.append)
    panel.set_findings([_finding(1, 0, 10), _finding(2, 20, 35), _finding(3, 50, 60)], {})
    panel.show_frame(25)
    assert panel.list.currentRow() == 1
    panel.show_frame(55)
    assert panel.list.currentRow() == 2
    panel.show_frame(40)  # between findings: nothing selected
    assert not panel.list.selectedItems()
    assert jumps == []  # following the frame never seeks
    assert not panel.list.horizontalScrollBar().isVisible()
    assert panel.list.wordWrap()


def test_analysis_slower_than_the_video_names_what_would_keep_up(qtbot, make_window, video):
    """The tiny model has no fast profile: with one view there is nothing to suggest; with
    the flips on video the hint names the setting that runs video at one view."""
    win = open_and_wait(qtbot, make_window(), video)
    fps = win.review.media.fps
    assert win._slower_than_video(fps / 2) == ""
    assert win._slower_than_video(fps * 2) == ""
    old = win.review.predictor
    win.review.load_model(win.review.model_path, None, None, "flips")
    qtbot.waitUntil(lambda: win.review.predictor is not old, timeout=SLOW)
    assert "Test-time views Auto" in win._slower_than_video(fps / 2)
    assert win._slower_than_video(fps * 2) == ""
