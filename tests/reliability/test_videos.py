"""Damaged and variable-frame-rate videos: frames-read-of-announced said everywhere, true times."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from analysis_job import run_analysis_job
from coded_video import decode_index, make_video
from media_helpers import write_mkv

from polypviewer.cli.common import EXIT_INCOMPLETE
from polypviewer.cli.main import main
from polypviewer.engine.media.sources import open_source
from polypviewer.engine.media.video import VideoReader

# 30 frames at 25 fps, then 30 at 5 fps: index / fps puts frame 59 at 2.36 s, it is shown at 7.0 s
VFR_MS = [k * 40 if k < 30 else 1200 + (k - 30) * 200 for k in range(60)]


@pytest.fixture(scope="module")
def vfr(tmp_path_factory) -> Path:
    return write_mkv(tmp_path_factory.mktemp("vfr") / "vfr.mkv", VFR_MS)


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> Path:
    """An MP4 whose header announces 60 frames, zeroed from 10 % to 43 % of the file."""
    d = tmp_path_factory.mktemp("damaged")
    data = bytearray(make_video(d / "full.mp4", 60).read_bytes())
    n = len(data)
    data[n // 10:n // 10 + n // 3] = bytes(n // 3)
    (d / "mid.mp4").write_bytes(bytes(data))
    return d / "mid.mp4"


@pytest.fixture(scope="module")
def truncated_mkv(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cut")
    data = write_mkv(d / "whole.mkv", [k * 40 for k in range(60)]).read_bytes()
    (d / "cut.mkv").write_bytes(data[: int(len(data) * 0.3)])
    return d / "cut.mkv"


def test_vfr_times_are_presentation_timestamps(vfr):
    with open_source(vfr) as src:
        frames = list(src.frames())
        assert [decode_index(f.rgb) for f in frames] == list(range(60))
        assert [round(f.time_s * 1000) for f in frames] == VFR_MS
        assert src[59].time_s == pytest.approx(7.0, abs=1e-3)
        assert src.problems() == []  # the duration x fps estimate is not read as damage


def test_vfr_random_access_has_true_time(vfr):
    with VideoReader(vfr) as r:
        r.read(45)
        assert r.time_of(45) == pytest.approx(VFR_MS[45] / 1000, abs=1e-3)


def test_vfr_export_reports_true_finding_times(vfr, tmp_path, tiny_model_path):
    out = tmp_path / "exp"
    rc = main(["export", str(vfr), "--format", "json", "--out", str(out),
               "--model", str(tiny_model_path), "--device", "cpu"])
    assert rc == 0
    doc = json.loads((out / "predictions.json").read_text())
    frames = doc["frames"]
    assert frames[59]["time_s"] == pytest.approx(7.0, abs=1e-3)
    assert frames[30]["time_s"] == pytest.approx(1.2, abs=1e-3)


def test_vfr_findings_of_the_cache_have_presentation_times(vfr, tiny_model_path):
    """The cache keeps each frame's time, so a finding read back from it (what the Findings
    panel and the report list) starts and ends when the video shows it, not at index / fps."""
    from polypviewer.engine.analysis.findings_cache import findings_for_store
    from polypviewer.engine.analysis.procedure import analyse_store
    from polypviewer.engine.analysis.tracking import TrackingSettings
    from polypviewer.engine.runtime.inference import Predictor
    from polypviewer.engine.runtime.results import AnalysisStore

    pred = Predictor(tiny_model_path, device="cpu")
    with open_source(vfr) as src:
        assert analyse_store(AnalysisStore.open(src, pred), src, pred)
        store = AnalysisStore.open(src, pred)  # read back from disk
        assert [round(t * 1000) for t in store.frame_times] == VFR_MS
        # the tiny random model is never confident: every frame's region counts at 0.01
        track = findings_for_store(store, vfr, 0.01, 0.001, src.fps,
                                   TrackingSettings(enter_confidence=0.0))
    (finding,) = track.findings
    assert (finding.first_index, finding.last_index) == (0, 59)
    assert finding.first_time_s == pytest.approx(0.0, abs=1e-3)
    assert finding.last_time_s == pytest.approx(7.0, abs=1e-3)  # index / fps: 2.36
    assert finding.duration_s == pytest.approx(7.0, abs=1e-3)


def test_damaged_mp4_says_frames_read_of_announced(damaged, capfd):
    with open_source(damaged) as src:
        n = sum(1 for _ in src.frames())
        assert 0 < n < 60
        (line,) = src.problems()
    assert "mid.mp4" in line and f"only {n} of the 60 frames" in line
    out, err = capfd.readouterr()
    assert err == "" and out == ""  # no FFmpeg/OpenCV log lines


def test_truncated_mkv_says_how_much_was_read(truncated_mkv):
    with open_source(truncated_mkv) as src:
        n = len(src)
        assert 0 < n < 40
        (line,) = src.problems()
    assert "cut.mkv" in line and f"only {n} frames" in line and "2.4 s" in line


def test_predict_on_damaged_video_warns_and_exits_incomplete(damaged, tmp_path, tiny_model_path, capsys):
    out = tmp_path / "pred"
    rc = main(["predict", str(damaged), "--out", str(out), "--model", str(tiny_model_path),
               "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == EXIT_INCOMPLETE
    assert "mid.mp4" in err and "of the 60 frames" in err
    rows = (out / "predictions.csv").read_text().splitlines()[1:]
    assert 0 < len(rows) < 60


def test_export_on_damaged_video_puts_it_in_report_and_json(damaged, tmp_path, tiny_model_path, capsys):
    out = tmp_path / "exp"
    rc = main(["export", str(damaged), "--format", "json,report", "--out", str(out),
               "--model", str(tiny_model_path), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == EXIT_INCOMPLETE and "of the 60 frames" in err
    doc = json.loads((out / "predictions.json").read_text())
    assert any("of the 60 frames" in s for s in doc["settings"]["input problems"])
    assert "of the 60 frames" in (out / "report.html").read_text()


def test_gui_analysis_job_reports_the_damage(damaged, tiny_model_path):
    """The viewer's analysis job (run in its worker thread) hands the problem to the window."""
    ok, progress, _store = run_analysis_job(damaged, tiny_model_path)
    assert ok is True  # done as far as the file can be read, not "cancelled"
    assert any("of the 60 frames" in line for p in progress for line in p.problems)
