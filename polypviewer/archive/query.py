"""Questions asked of a results database: the audit summary, filtered rows, CSV."""

from __future__ import annotations

import csv
import io
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ..engine import fsutil


@dataclass(frozen=True)
class Filters:
    model: str | None = None  # model name
    since: str | None = None  # ISO date (inclusive), on the analysis time
    until: str | None = None  # ISO date (inclusive)
    min_confidence: float | None = None  # only findings at least this confident count
    status: str | None = None  # done / partial / failed


# Filters field -> its condition on procedures; a field left empty adds none
_CONDITIONS = (("model", "p.model_name = ?"),
               ("since", "p.finished_at >= ?"),
               ("until", "p.finished_at < date(?, '+1 day')"),
               ("status", "p.status = ?"))


def _where(f: Filters) -> tuple[str, list]:
    used = [(sql, getattr(f, name)) for name, sql in _CONDITIONS if getattr(f, name)]
    return " AND ".join(sql for sql, _ in used), [value for _, value in used]


COLUMNS = ("id", "path", "status", "duration_s", "n_frames", "frames_read", "findings",
           "max_confidence", "model_name", "finished_at", "analysis_s", "error")


def rows(c: sqlite3.Connection, f: Filters = Filters()) -> list[dict]:
    """One dict per procedure; ``findings`` counts those at or above ``min_confidence``."""
    where, params = _where(f)
    thr = f.min_confidence if f.min_confidence is not None else -1.0
    sql = ("SELECT p.*, (SELECT COUNT(*) FROM findings x WHERE x.procedure_id = p.id"
           " AND x.peak_confidence >= ?) AS findings,"
           " (SELECT MAX(peak_confidence) FROM findings x WHERE x.procedure_id = p.id) AS max_confidence"
           " FROM procedures p" + (f" WHERE {where}" if where else "") + " ORDER BY p.path")
    return [dict(r) for r in c.execute(sql, (thr, *params))]


def summary(c: sqlite3.Connection, f: Filters = Filters()) -> dict:
    """The raw material of a detection-rate audit (not an adenoma detection rate: no histology)."""
    rs = rows(c, f)
    done = [r for r in rs if r["status"] == "done"]
    hours = sum(r["duration_s"] or 0.0 for r in done) / 3600
    with_finding = sum(1 for r in done if r["findings"] > 0)
    n_find = sum(r["findings"] for r in done)
    return {
        "procedures": len(rs),
        "done": len(done),
        "partial": sum(1 for r in rs if r["status"] == "partial"),
        "failed": sum(1 for r in rs if r["status"] == "failed"),
        "hours_of_video": round(hours, 3),
        "findings": n_find,
        "findings_per_procedure": round(n_find / len(done), 3) if done else None,
        "procedures_with_finding": with_finding,
        "share_with_finding": round(with_finding / len(done), 4) if done else None,
        "models": sorted({r["model_name"] for r in rs}),
    }


def format_summary(s: dict, f: Filters) -> str:
    conf = f" (findings with peak confidence >= {f.min_confidence:g})" if f.min_confidence is not None else ""
    share = "-" if s["share_with_finding"] is None else f"{100 * s['share_with_finding']:.1f} %"
    per = "-" if s["findings_per_procedure"] is None else f"{s['findings_per_procedure']:.2f}"
    return "\n".join([
        f"procedures            {s['procedures']} ({s['done']} done, {s['partial']} partial, {s['failed']} failed)",
        f"hours of video        {s['hours_of_video']:.2f}",
        f"findings{conf}  {s['findings']}",
        f"findings / procedure  {per}",
        f"with >= 1 finding     {s['procedures_with_finding']} ({share} of done procedures)",
        f"models                {', '.join(s['models']) or '-'}",
        "Findings are the model's, not a reviewer's: false alarms count until reviewed in the app.",
    ])


def write_csv(path: str | Path, rs: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    w.writeheader()
    w.writerows(rs)
    fsutil.write_bytes(Path(path), buf.getvalue().encode("utf-8"))


def procedure(c: sqlite3.Connection, pid: int) -> sqlite3.Row | None:
    return c.execute("SELECT * FROM procedures WHERE id = ?", (pid,)).fetchone()

