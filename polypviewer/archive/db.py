"""The results database: one SQLite file (WAL) per archive, schema versioned with migrations.

Only the batch driver writes (one connection, one transaction per procedure), so a killed
batch leaves every finished procedure whole and none half-written; readers (CLI queries, the
GUI's archive view) open it read-only. A procedure is identified by its content hash, the
model's weights hash and a hash of the analysis settings: the same three never get two rows.
"""

from __future__ import annotations

import json
import sqlite3
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine.errors import PolypViewerError

SCHEMA_VERSION = 2


def _v1(c: sqlite3.Connection) -> None:
    c.executescript("""
        CREATE TABLE procedures (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL,
            kind TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            model_name TEXT NOT NULL,
            model_sha256 TEXT NOT NULL,
            settings_hash TEXT NOT NULL,
            settings TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('done', 'partial', 'failed')),
            error TEXT,
            n_frames INTEGER,
            frames_read INTEGER,
            fps REAL,
            duration_s REAL,
            analysis_s REAL,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            worker TEXT,
            UNIQUE (content_hash, model_sha256, settings_hash)
        );
        CREATE TABLE findings (
            procedure_id INTEGER NOT NULL REFERENCES procedures(id) ON DELETE CASCADE,
            finding_id INTEGER NOT NULL,
            first_index INTEGER NOT NULL,
            last_index INTEGER NOT NULL,
            first_time_s REAL,
            last_time_s REAL,
            duration_s REAL,
            n_frames INTEGER NOT NULL,
            best_index INTEGER NOT NULL,
            peak_confidence REAL NOT NULL,
            mean_area REAL NOT NULL,
            PRIMARY KEY (procedure_id, finding_id)
        );
        CREATE TABLE frames (
            procedure_id INTEGER PRIMARY KEY REFERENCES procedures(id) ON DELETE CASCADE,
            n INTEGER NOT NULL,
            probs BLOB NOT NULL,   -- zlib(float16[n]); NaN = not analysed
            counts BLOB NOT NULL   -- zlib(uint8[n]); polyp regions per frame, capped at 255
        );
        CREATE INDEX procedures_path ON procedures(path);
    """)


def _v2(c: sqlite3.Connection) -> None:
    """Finding details the review shows too: mean confidence, size share, CADx."""
    c.executescript("""
        ALTER TABLE findings ADD COLUMN mean_confidence REAL;
        ALTER TABLE findings ADD COLUMN area_fraction REAL;
        ALTER TABLE findings ADD COLUMN neoplastic_probability REAL;
        CREATE INDEX procedures_model ON procedures(model_name, finished_at);
    """)


# MIGRATIONS[k] takes a database at version k to k + 1.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2]
assert len(MIGRATIONS) == SCHEMA_VERSION


def _version(c: sqlite3.Connection) -> int:
    return int(c.execute("PRAGMA user_version").fetchone()[0])


def migrate(c: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema to ``target``, one transaction per step; returns the old version."""
    old = _version(c)
    if old > SCHEMA_VERSION:
        raise PolypViewerError(f"results database has schema {old}, newer than this PolypViewer "
                               f"({SCHEMA_VERSION}): update PolypViewer to read it")
    for k in range(old, target):
        with c:
            MIGRATIONS[k](c)
            c.execute(f"PRAGMA user_version = {k + 1}")
    return old


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open (or, writable, create) the database and migrate it; one clear error if it can't."""
    path = Path(path)
    try:
        if readonly:
            if not path.is_file():
                raise PolypViewerError(f"no results database at {path}")
            c = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            if _version(c) != SCHEMA_VERSION:
                c.close()
                c = sqlite3.connect(path, timeout=30)  # an old file: migrate it once
                migrate(c)
                c.close()
                c = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            c = sqlite3.connect(path, timeout=30)
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")
            migrate(c)
        c.execute("PRAGMA foreign_keys=ON")
        c.row_factory = sqlite3.Row
        return c
    except sqlite3.DatabaseError as e:
        raise PolypViewerError(f"cannot use results database {path}: {e}") from e
    except OSError as e:
        raise PolypViewerError(f"cannot open results database {path}: {e.strerror or e}") from e


@dataclass
class ProcedureRecord:
    """Everything the batch learns about one procedure (plain data: it crosses processes)."""

    path: str
    kind: str
    content_hash: str
    model_name: str
    model_sha256: str
    settings_hash: str
    settings: dict
    status: str
    error: str | None = None
    n_frames: int | None = None
    frames_read: int | None = None
    fps: float | None = None
    duration_s: float | None = None
    analysis_s: float | None = None
    started_at: str = ""
    finished_at: str = ""
    worker: str | None = None
    findings: list[dict] | None = None
    frame_probs: np.ndarray | None = None  # float32 (n,), NaN = not analysed
    counts: np.ndarray | None = None  # int (n,)


def done_keys(c: sqlite3.Connection, model_sha256: str, settings_hash: str) -> set[str]:
    """Content hashes already recorded (done, partial or failed) for this model and settings."""
    rows = c.execute("SELECT content_hash FROM procedures WHERE model_sha256=? AND settings_hash=?",
                     (model_sha256, settings_hash))
    return {r[0] for r in rows}


FINDING_COLUMNS = ("finding_id", "first_index", "last_index", "first_time_s", "last_time_s",
                   "duration_s", "n_frames", "best_index", "peak_confidence", "mean_area",
                   "mean_confidence", "area_fraction", "neoplastic_probability")


def record(c: sqlite3.Connection, r: ProcedureRecord) -> bool:
    """Write one procedure with its findings and frames atomically; False if already there."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    with c:
        cur = c.execute(
            "INSERT OR IGNORE INTO procedures (path, kind, content_hash, model_name, model_sha256,"
            " settings_hash, settings, status, error, n_frames, frames_read, fps, duration_s,"
            " analysis_s, started_at, finished_at, worker) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (r.path, r.kind, r.content_hash, r.model_name, r.model_sha256, r.settings_hash,
             json.dumps(r.settings, sort_keys=True), r.status, r.error, r.n_frames, r.frames_read,
             r.fps, r.duration_s, r.analysis_s, r.started_at or now, r.finished_at or now, r.worker))
        if cur.rowcount == 0:
            return False
        pid = cur.lastrowid
        for f in r.findings or []:
            row = {"finding_id": f.get("id", f.get("finding_id")), **f}
            c.execute(f"INSERT INTO findings (procedure_id, {', '.join(FINDING_COLUMNS)}) "
                      f"VALUES (?, {', '.join('?' * len(FINDING_COLUMNS))})",
                      (pid, *[row.get(k) for k in FINDING_COLUMNS]))
        if r.frame_probs is not None:
            probs = np.asarray(r.frame_probs, np.float32)
            counts = np.clip(np.nan_to_num(np.asarray(r.counts if r.counts is not None else
                                                      np.zeros(len(probs)), float), nan=0), 0, 255)
            c.execute("INSERT INTO frames (procedure_id, n, probs, counts) VALUES (?,?,?,?)",
                      (pid, len(probs), zlib.compress(probs.astype(np.float16).tobytes()),
                       zlib.compress(counts.astype(np.uint8).tobytes())))
    return True


def frame_summary(c: sqlite3.Connection, procedure_id: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(frame probabilities float32, region counts int) of one procedure, or None."""
    row = c.execute("SELECT n, probs, counts FROM frames WHERE procedure_id=?", (procedure_id,)).fetchone()
    if row is None:
        return None
    probs = np.frombuffer(zlib.decompress(row["probs"]), np.float16).astype(np.float32)
    counts = np.frombuffer(zlib.decompress(row["counts"]), np.uint8).astype(int)
    return probs, counts


def findings_of(c: sqlite3.Connection, procedure_id: int) -> list[sqlite3.Row]:
    return list(c.execute("SELECT * FROM findings WHERE procedure_id=? ORDER BY finding_id", (procedure_id,)))
