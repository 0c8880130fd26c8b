"""The Findings panel lists what the report counts, with the viewer's IDs; verdicts count."""

from __future__ import annotations

import json
import re
from dataclasses import replace

from gui_helpers import SLOW, open_and_wait

from polypviewer.gui.findings import NOT_ANALYSED


def _export(qtbot, win, kind, out):
    qtbot.waitUntil(lambda: win.exporter.task is None or not win.exporter.task.running(),
                    timeout=SLOW)
    with qtbot.waitSignal(win.exporter.finished, timeout=SLOW) as blocker:
        assert win.exporter.export(kind, str(out)) is not None
    assert blocker.args == [str(out)]


def _report_count(path) -> int:
    html = path.read_text()  # a report is one file under the name given
    m = re.search(r"<h2[^>]*>Findings: (\d+) finding", html)
    return int(m.group(1)) if m else 0


def test_panel_count_equals_the_report_and_ids_agree_with_the_json(qtbot, make_window, video,
                                                                      tmp_path):
    win = make_window()
    open_and_wait(qtbot, win, video)
    assert win.findings.summary.text() == NOT_ANALYSED  # a video is analysed on request
    assert "of 8 frames" in win.findings.settings_label.text()
    assert "consecutive frames" in win.findings.settings_label.toolTip()
    # the tiny random model is never confident: make its frames positive and let them count
    win.review.findings.tracking = replace(win.review.findings.tracking, enter_confidence=0.0)
    win.review.set_threshold(0.01)
    win.review.start_analysis()  # Analysis > Analyse procedure
    qtbot.waitUntil(lambda: win.review.store.complete and win.review.findings.track is not None
                    and win.review.findings.track.complete, timeout=SLOW)
    track = win.review.findings.track
    assert track.findings, "the random model at threshold 0.01 finds something"
    assert win.findings.list.count() == len(track.findings)
    _export(qtbot, win, "report", tmp_path / "r1.html")
    assert _report_count(tmp_path / "r1.html") == win.findings.count() == len(track.findings)

    _export(qtbot, win, "json", tmp_path / "t.json")  # the per-frame regions, one file
    doc = json.loads((tmp_path / "t.json").read_text())
    exported = {fr["index"]: [r["finding_id"] for r in fr["instances"]] for fr in doc["frames"]}
    assert exported == {i: v for i, v in track.ids_per_frame.items()}
    shown = win.review.shown
    qtbot.waitUntil(lambda: win.review.findings.ids() is not None, timeout=SLOW)
    assert win.review.findings.ids() == exported[shown]  # the viewer's boxes carry the same IDs

    # the reviewer dismisses the first finding: it leaves the panel's and the report's count
    win.findings.list.setCurrentRow(0)
    win.findings.verdict.setCurrentText("false alarm")
    win.findings.verdict.activated.emit(win.findings.verdict.currentIndex())
    qtbot.waitUntil(lambda: win.findings.count() == len(track.findings) - 1, timeout=SLOW)
    assert "marked false alarm" in win.findings.summary.text()
    _export(qtbot, win, "report", tmp_path / "r2.html")
    assert _report_count(tmp_path / "r2.html") == win.findings.count()
    assert "false alarm" in (tmp_path / "r2.html").read_text()


def test_panel_times_of_a_vfr_video_are_the_reports(qtbot, make_window, tmp_path):
    """30 frames at 25 fps, then 30 at 5 fps: the last frame is shown at 7.0 s (index / fps
    would say 2.36 s); the panel and the report both list the finding until then."""
    from reliability.media_helpers import write_mkv  # the reliability tests' VFR file

    times_ms = [k * 40 if k < 30 else 1200 + (k - 30) * 200 for k in range(60)]
    video = write_mkv(tmp_path / "vfr.mkv", times_ms)
    win = make_window()
    open_and_wait(qtbot, win, video)
    win.review.findings.tracking = replace(win.review.findings.tracking, enter_confidence=0.0)
    win.review.set_threshold(0.01)
    win.review.start_analysis()
    qtbot.waitUntil(lambda: win.review.store.complete and win.review.findings.track is not None
                    and win.review.findings.track.complete, timeout=SLOW)
    (finding,) = win.review.findings.track.findings
    assert (finding.first_index, finding.last_index) == (0, 59)
    shown = win.findings.list.item(0).text()
    assert "00:00.00 – 00:07.00  (7.0 s)" in shown, shown
    _export(qtbot, win, "report", tmp_path / "r.html")
    assert "00:00.0 to 00:07.0 (7.0 s)" in (tmp_path / "r.html").read_text()
    win.review.seek(59)
    qtbot.waitUntil(lambda: win.review.shown == 59, timeout=SLOW)
    win.review.step_seconds(-1)  # J: back to 6.0 s, which is frame 55 (1-based), not 59 - fps
    qtbot.waitUntil(lambda: win.review.shown == 54, timeout=SLOW)


def test_cards_show_the_neoplastic_probability_for_stills_and_video_as_research():
    from polypviewer.engine.analysis.tracking import Finding
    from polypviewer.gui.findings import describe

    f = Finding(3, 4, 9, 0.16, 0.36, 0.2, 6, 7, (1, 2, 30, 40), 0.9, 0.8, 500.0, 0.02, 0.73)
    for text in (describe(f), describe(f, "img_07.png")):
        assert "neoplastic 0.73 (research)" in text
    plain = replace(f, neoplastic_probability=None)
    assert "neoplastic" not in describe(plain) + describe(plain, "img_07.png")


def test_stills_say_they_are_counted_per_region_not_tracked(qtbot, make_window, image_folder):
    win = make_window()
    open_and_wait(qtbot, win, image_folder)
    assert "each region of each image is its own finding" in win.findings.settings_label.text()
    assert "not tracked" in win.findings.settings_label.toolTip()
    assert "of 8 frames" not in win.findings.settings_label.text()
