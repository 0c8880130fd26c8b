"""One tracking path: the cached findings, JSON, CSV, overlays, MP4 and report give the same IDs."""

from __future__ import annotations

import csv
import json
import re

import cv2
import numpy as np
import pytest
from findings_fixtures import FPS, write_procedure

from polypviewer.engine.analysis import verdicts
from polypviewer.engine.analysis.findings_cache import FILE, findings_for_store
from polypviewer.engine.analysis.tracking import DEFAULT_SETTINGS
from polypviewer.engine.errors import PolypViewerError
from polypviewer.engine.export.overlay import DEFAULT_STYLE, draw_overlay
from polypviewer.engine.export.writers import ExportOptions, export
from polypviewer.engine.media.sources import open_source


@pytest.fixture
def procedure(tmp_path):
    video, store = write_procedure(tmp_path / "proc")
    return video, store, findings_for_store(store, video, 0.5, 0.001, FPS)


def _items(video, store):
    src = open_source(video)
    return ((f, store.get(f.index, 0.5, 0.001)) for f in src if store.has(f.index))


def test_findings_are_cached_beside_the_analysis_and_reused(procedure, monkeypatch):
    video, store, result = procedure
    assert [(f.id, f.first_index, f.last_index) for f in result.findings] == [(1, 0, 24), (2, 35, 59)]
    assert result.ids_per_frame[27] == [0]  # flicker: drawn, never numbered
    assert (store.folder / FILE).is_file()
    from polypviewer.engine.analysis import findings_cache

    monkeypatch.setattr(findings_cache, "_compute", lambda *a: pytest.fail("recomputed"))
    again = findings_for_store(store, video, 0.5, 0.001, FPS)
    assert again.findings == result.findings and again.ids_per_frame == result.ids_per_frame
    monkeypatch.undo()
    other = findings_for_store(store, video, 0.5, 0.001, FPS,
                               DEFAULT_SETTINGS.__class__(min_duration_s=10.0))
    assert other.findings == []  # other settings: computed afresh, not the cached answer


def test_ids_agree_across_json_csv_overlays_mp4_and_report(procedure, tmp_path):
    video, store, result = procedure
    out = tmp_path / "out"
    export(_items(video, store), out,
           ExportOptions(("json", "csv", "overlays", "mp4", "report"), fps=FPS, source_name=video.name),
           track=result, n_frames=store.n_frames)
    expected = {i: v for i, v in result.ids_per_frame.items()}

    doc = json.loads((out / "predictions.json").read_text())
    assert {fr["index"]: [r["finding_id"] for r in fr["instances"]] for fr in doc["frames"]} == expected
    assert [f["id"] for f in doc["findings"]] == [1, 2]
    assert doc["coverage"]["complete"] and doc["frames"][0]["frame"] == 1

    with open(out / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {int(r["index"]): [int(t) for t in r["finding_ids"].split()] for r in rows} == expected

    src = open_source(video)
    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    for i in (5, 27, 45):
        frame, pred = src[i], store.get(i, 0.5, 0.001)
        right = draw_overlay(frame.rgb, pred, style=DEFAULT_STYLE, track_ids=expected[i])
        wrong = draw_overlay(frame.rgb, pred, style=DEFAULT_STYLE,
                             track_ids=[t + 1 for t in expected[i]])
        png = cv2.cvtColor(cv2.imread(str(out / "overlays" / f"{frame.name}.png")), cv2.COLOR_BGR2RGB)
        assert np.array_equal(png, right)
        cap.set(cv2.CAP_PROP_POS_FRAMES, i)
        ok, bgr = cap.read()
        assert ok
        mp4 = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.int32)
        assert np.abs(mp4 - right).sum() < np.abs(mp4 - wrong).sum()  # its labels are these IDs
    cap.release()

    html = (out / "report.html").read_text()
    assert [int(x) for x in re.findall(r"<b>Finding #(\d+)</b>", html)] == [1, 2]
    assert [int(x) for x in re.findall(r"key frame: frame (\d+) at ", html)] == [
        f.best_index + 1 for f in result.findings]
    assert "frames 1-25" in html and "frames 36-60" in html  # frame numbers start at 1
    summary = (out / "summary.txt").read_text().splitlines()
    assert summary[0].startswith("Whole source analysed: 64 of 64 frames")


def test_a_partial_analysis_says_so_first_and_nothing_analysed_is_refused(procedure, tmp_path):
    video, store, result = procedure
    src = open_source(video)
    part = ((src[i], store.get(i, 0.5, 0.001)) for i in range(10))
    export(part, tmp_path / "part", ExportOptions(("report",), fps=FPS), track=result, n_frames=64)
    html = (tmp_path / "part" / "report.html").read_text()
    body = html[html.index("<body>") + len("<body>"):]
    assert body.startswith("<p class='coverage partial'>PARTIAL ANALYSIS: only 10 of 64 frames")
    assert (tmp_path / "part" / "summary.txt").read_text().startswith("PARTIAL ANALYSIS")
    with pytest.raises(PolypViewerError, match="no frame was analysed"):
        export(iter(()), tmp_path / "none", ExportOptions(("report",), fps=FPS), track=result, n_frames=64)
    assert not (tmp_path / "none").exists()


def test_verdicts_are_saved_with_the_analysis_and_false_alarms_leave_the_counts(procedure, tmp_path):
    video, store, result = procedure
    first, second = result.findings
    verdicts.set_verdict(store.folder, second, "false alarm", "a fold")
    verdicts.set_verdict(store.folder, first, "confirmed")
    verdicts.set_verdict(store.folder, first, "unsure", "check histology")  # replaces
    assert (store.folder / verdicts.BACKUP).is_file()
    judged = findings_for_store(store, video, 0.5, 0.001, FPS)
    assert [(f.verdict, f.note) for f in judged.findings] == [("unsure", "check histology"),
                                                              ("false alarm", "a fold")]
    assert [f.id for f in judged.counted] == [1]
    # another threshold renumbers nothing here but recomputes: verdicts follow the frames
    again = findings_for_store(store, video, 0.45, 0.001, FPS)
    assert [f.verdict for f in again.findings] == ["unsure", "false alarm"]
    export(_items(video, store), tmp_path / "out", ExportOptions(("report", "json"), fps=FPS),
           track=judged, n_frames=64)
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Findings: 1 finding (1 marked false alarm, not counted)" in html
    assert "a fold" in html and "check histology" in html
    doc = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert [f["verdict"] for f in doc["findings"]] == ["unsure", "false alarm"]
    with pytest.raises(PolypViewerError, match="unknown verdict"):
        verdicts.set_verdict(store.folder, first, "maybe")
