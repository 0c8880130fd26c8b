"""The procedure report reads for a clinician: plain settings, procedure header, readable labels,
sizes as a share of the frame, timeline labels that never overlap, printed in page blocks."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest

from polypviewer.engine.analysis.tracking import Finding, TrackingSettings, track
from polypviewer.engine.export.overlay import DEFAULT_STYLE
from polypviewer.engine.export.report import FINDINGS_PER_PAGE, ReportBuilder, _ids_text
from polypviewer.engine.export.report_text import percent, setting_rows
from polypviewer.engine.export.writers import ExportOptions, export
from polypviewer.engine.media.sources import Frame
from polypviewer.engine.runtime.inference import from_probability

H, W = 90, 120


def _video(n=12, radius=12):
    """One polyp in frames 0-8, most confident in frame 8 (0-based)."""
    items = []
    for i in range(n):
        rgb = np.full((H, W, 3), (150, 70, 60), np.uint8)
        prob = np.zeros((H, W), np.float32)
        if i < 9:
            cv2.circle(prob, (30 + 4 * i, 45), radius, 0.6 + 0.03 * i, -1)
        items.append((Frame(i, i / 25.0, rgb, f"clip_{i:06d}"), from_probability(prob, prob.max(), 0.5)))
    return items


def _report(tmp_path, **kw):
    items = _video()
    # the findings come from the one tracking path; the clip's polyp lasts 0.32 s at
    # confidences 0.60-0.84, under the defaults for counting one
    found = track(((f.index, f.time_s, p.instances) for f, p in items),
                  TrackingSettings(min_duration_s=0.2, enter_confidence=0.5), frame_area=H * W, n_frames=len(items))
    options = ExportOptions(("report", "json"), fps=25.0, source_name="clip.mp4",
                            settings={"threshold": 0.5, "min_area_fraction": 0.001, "tta": False,
                                      "input": "video"}, **kw)
    res = export(items, tmp_path / "out", options, track=found, n_frames=len(items))
    return res, (tmp_path / "out" / "report.html").read_text()


def test_settings_are_in_plain_language(tmp_path):
    _, html = _report(tmp_path)
    assert "min_area_fraction" not in html and "tta" not in html
    assert "Smallest region counted" in html and "0.1% of the frame" in html
    assert "Detection threshold" in html and "at least 50% likely" in html
    assert "Source type</th><td>recorded video" in html


def test_test_time_views_read_as_the_app_names_them():
    assert setting_rows({"tta": "flips"}) == [("Test-time views", "4 views (flipped both ways)")]
    assert setting_rows({"tta": "off"}) == [("Test-time views", "one view")]
    assert setting_rows({"tta": True}) == [("Test-time views", "2 views (flipped left-right)")]


def test_unknown_setting_keeps_a_readable_name():
    assert setting_rows({"batch_size": 4}) == [("Batch size", "4")]


def test_procedure_header_shows_only_filled_fields_escaped(tmp_path):
    res, html = _report(tmp_path, procedure={"procedure_id": "COL-17", "date": "",
                                             "operator": "Dr <B> & co", "note": "prep ok\nrepeat in 3 y"})
    assert "Procedure ID</th><td>COL-17" in html
    assert "Dr &lt;B&gt; &amp; co" in html and "<B>" not in html
    assert "prep ok<br>repeat in 3 y" in html
    assert "Procedure date" not in html  # left empty: not shown
    doc = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert doc["procedure"] == {"procedure_id": "COL-17", "operator": "Dr <B> & co",
                                "note": "prep ok\nrepeat in 3 y"}


def test_no_procedure_no_header_table(tmp_path):
    res, html = _report(tmp_path)
    assert "procedure'" not in html and "Procedure ID" not in html
    assert "procedure" not in json.loads((tmp_path / "out" / "predictions.json").read_text())


def test_key_frame_and_frames_are_numbered_from_one_and_size_is_a_share(tmp_path):
    res, html = _report(tmp_path)
    (f,) = res.findings
    assert f.best_index == 8
    assert "key frame: frame 9 at 00:00.3" in html  # frame 8 (0-based) at 8/25 s
    assert f"frames {f.first_index + 1}-{f.last_index + 1}" in html
    assert "clip_000008" not in html  # the internal frame name is not the label
    share = percent(f.mean_area / (H * W))
    assert f"mean size: about {share} of the frame" in html
    assert not re.search(r"\d px", html)


def test_percent_reads_well():
    assert [percent(v) for v in (0.001, 0.0041, 0.034, 0.25, 0.0)] == ["0.1%", "0.41%", "3.4%", "25%", "0%"]


def test_ids_text_shortens_runs():
    assert _ids_text([3]) == "#3"
    assert _ids_text([4, 3]) == "#3, #4"
    assert _ids_text([3, 4, 5, 6, 9]) == "#3-6, #9"


def _crowded(n: int, spacing: int) -> ReportBuilder:
    b = ReportBuilder(DEFAULT_STYLE)
    n_frames = n * spacing + 20
    b.index = list(range(n_frames))
    b.time = [i / 25.0 for i in b.index]
    b.prob = [0.8] * n_frames
    b.count = [1] * n_frames
    return b


def _findings(n: int, spacing: int) -> list[Finding]:
    return [Finding(id=k + 1, first_index=k * spacing, last_index=k * spacing + 3,
                    first_time_s=k * spacing / 25, last_time_s=(k * spacing + 3) / 25, duration_s=0.12,
                    n_frames=4, best_index=k * spacing + 1, best_bbox=(0, 0, 10, 10),
                    peak_confidence=0.9, mean_confidence=0.8, mean_area=100.0)
            for k in range(n)]


@pytest.mark.parametrize("n, spacing", [(3, 200), (12, 3), (40, 1), (7, 30)])
def test_timeline_labels_never_overlap_and_name_every_finding(n, spacing):
    b = _crowded(n, spacing)
    fig = b.timeline_figure(_findings(n, spacing))
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    labels = [t for ax in fig.axes for t in ax.texts if t.get_text().startswith("#")]
    boxes = [t.get_window_extent(renderer) for t in labels]
    for i, a in enumerate(boxes):
        assert 0 <= a.x0 and a.x1 <= fig.bbox.width and a.y1 <= fig.bbox.height
        for b2 in boxes[i + 1:]:
            assert not a.overlaps(b2)
    named = set()
    for t in labels:
        for part in t.get_text().split(", "):
            lo, _, hi = part.lstrip("#").partition("-")
            named.update(range(int(lo), int(hi or lo) + 1))
    assert named == set(range(1, n + 1))
    if spacing >= 30:  # room enough: one label per finding
        assert len(labels) == n


def test_findings_come_in_page_blocks(tmp_path):
    b = _crowded(9, 10)
    b.best = {k: ("", "", "") for k in range(1, 10)}
    html = b.html(_findings(9, 10), header={"source": "clip.mp4"}, metrics={})
    blocks = re.findall(r"<table class='block'[^>]*>", html)
    assert len(blocks) == -(-9 // FINDINGS_PER_PAGE)
    assert all("page-break-before:always" in t for t in blocks[1:])
    # findings start on their own page; the heading counts them (false alarms apart)
    assert "page-break-before:always'>Findings: 9 findings" in html
    assert "@page" in html and "<script" not in html


def test_neoplastic_probability_is_labelled_research_in_the_report(tmp_path):
    items = []
    for f, p in _video():
        cadx = np.full((H, W), 0.8, np.float32)
        items.append((f, from_probability(p.prob, p.frame_prob, 0.5, cadx=cadx)))
    found = track(((f.index, f.time_s, p.instances) for f, p in items),
                  TrackingSettings(min_duration_s=0.2, enter_confidence=0.5), frame_area=H * W,
                  n_frames=len(items))
    export(items, tmp_path / "out", ExportOptions(("report",), fps=25.0), track=found,
           n_frames=len(items))
    html = (tmp_path / "out" / "report.html").read_text()
    assert "neoplastic probability 0.80 (research only, not a diagnosis)" in html
    plain, _ = _report(tmp_path / "plain")
    assert "neoplastic" not in (tmp_path / "plain" / "out" / "report.html").read_text()
