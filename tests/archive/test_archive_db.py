from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from polypviewer.archive import db
from polypviewer.engine.errors import PolypViewerError


def _rec(h: str = "h1", **kw) -> db.ProcedureRecord:
    base = dict(path="/a/p.mp4", kind="video", content_hash=h, model_name="m", model_sha256="s",
                settings_hash="x", settings={"input_size": 64}, status="done", n_frames=4,
                frames_read=4, fps=10.0, duration_s=0.4,
                findings=[{"id": 1, "first_index": 0, "last_index": 3, "first_time_s": 0.0,
                           "last_time_s": 0.3, "duration_s": 0.3, "n_frames": 4, "best_index": 2,
                           "peak_confidence": 0.9, "mean_area": 120.0, "area_fraction": 0.01}],
                frame_probs=np.array([0.1, 0.9, np.nan, 0.8], np.float32), counts=np.array([0, 1, -1, 1]))
    base.update(kw)
    return db.ProcedureRecord(**base)


def test_record_is_written_once_with_findings_and_frames(tmp_path):
    c = db.connect(tmp_path / "r.sqlite")
    assert db.record(c, _rec())
    assert not db.record(c, _rec(path="/elsewhere/copy.mp4"))  # same content, model, settings
    assert db.record(c, _rec(settings_hash="other"))  # other settings: a new result
    (pid,) = c.execute("SELECT id FROM procedures WHERE settings_hash='x'").fetchone()
    (f,) = db.findings_of(c, pid)
    assert (f["finding_id"], f["best_index"], f["area_fraction"]) == (1, 2, 0.01)
    probs, counts = db.frame_summary(c, pid)
    assert np.isnan(probs[2]) and probs[1] == pytest.approx(0.9, abs=1e-3)
    assert counts.tolist() == [0, 1, 0, 1]
    assert db.done_keys(c, "s", "x") == {"h1"}


def test_old_schema_is_migrated_and_keeps_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    raw = sqlite3.connect(path)
    db.migrate(raw, target=1)
    raw.execute("INSERT INTO procedures (path, kind, content_hash, model_name, model_sha256, "
                "settings_hash, settings, status, started_at, finished_at) "
                "VALUES ('/v.mp4', 'video', 'h0', 'm', 's', 'x', '{}', 'done', 't', 't')")
    raw.execute("INSERT INTO findings (procedure_id, finding_id, first_index, last_index, n_frames, "
                "best_index, peak_confidence, mean_area) VALUES (1, 1, 0, 2, 3, 1, 0.7, 50)")
    raw.commit()
    raw.close()
    ro = db.connect(path, readonly=True)  # readers migrate an old file too
    assert ro.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
    (f,) = db.findings_of(ro, 1)
    assert f["peak_confidence"] == 0.7 and f["neoplastic_probability"] is None
    ro.close()
    c = db.connect(path)
    assert db.done_keys(c, "s", "x") == {"h0"}


def test_newer_or_damaged_database_gives_one_clear_error(tmp_path):
    newer = tmp_path / "newer.sqlite"
    raw = sqlite3.connect(newer)
    raw.execute(f"PRAGMA user_version = {db.SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(PolypViewerError, match="newer than this PolypViewer"):
        db.connect(newer)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(PolypViewerError, match="junk.sqlite"):
        db.connect(junk)
    with pytest.raises(PolypViewerError, match="no results database"):
        db.connect(tmp_path / "missing.sqlite", readonly=True)


def test_rows_keep_only_the_procedures_the_filters_name(tmp_path):
    from polypviewer.archive.query import Filters, rows

    c = db.connect(tmp_path / "r.sqlite")
    db.record(c, _rec("h1", path="/a/one.mp4", finished_at="2024-03-01T10:00:00"))
    db.record(c, _rec("h2", path="/a/two.mp4", model_name="other", finished_at="2024-03-02T23:59:00"))
    db.record(c, _rec("h3", path="/a/three.mp4", status="failed", finished_at="2024-03-03T08:00:00"))

    def paths(**kw) -> list[str]:
        return [r["path"] for r in rows(c, Filters(**kw))]

    assert paths() == ["/a/one.mp4", "/a/three.mp4", "/a/two.mp4"]
    assert paths(model="other") == ["/a/two.mp4"]
    assert paths(model="m", status="done") == ["/a/one.mp4"]
    assert paths(since="2024-03-02") == ["/a/three.mp4", "/a/two.mp4"]
    assert paths(until="2024-03-02") == ["/a/one.mp4", "/a/two.mp4"]  # the whole last day
    assert paths(since="2024-03-02", until="2024-03-02", status="failed") == []
