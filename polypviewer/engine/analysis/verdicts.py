"""The reviewer's verdict on each finding (confirmed / false alarm / unsure) and a free note.

Saved as ``verdicts.json`` next to the analysis cache, atomically, the previous file kept as
``verdicts.bak.json``. A verdict is tied to the frames of its finding, not to its number:
finding IDs are renumbered when the threshold or tracking settings change, but the polyp
whose frames include the judged key frame keeps its verdict.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

from .. import fsutil
from ..errors import PolypViewerError
from .tracking import VERDICTS, Finding, TrackResult

FILE = "verdicts.json"
BACKUP = "verdicts.bak.json"


def load(folder: str | Path) -> list[dict]:
    """Entries ``{verdict, note, first_index, last_index, best_index}``; [] if none or unreadable."""
    path = Path(folder) / FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return [e for e in doc.get("verdicts", []) if isinstance(e, dict) and "best_index" in e]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, AttributeError):
        return []  # a damaged file must not stop the review; the backup is still there


def save(folder: str | Path, entries: list[dict]) -> None:
    path = Path(folder) / FILE
    try:
        if path.is_file():
            shutil.copy2(path, path.with_name(BACKUP))
        fsutil.write_json(path, {"format": "polypviewer-verdicts", "version": 1,
                                 "verdicts": entries})
    except OSError as e:
        raise PolypViewerError(f"cannot save the verdicts in {path}: {e.strerror or e}") from e


def _match(f: Finding, entries: list[dict], used: set[int]) -> int | None:
    """The entry judging ``f``: same key frame, else the key frame inside f with most overlap."""
    best, key = None, None
    for k, e in enumerate(entries):
        if k in used or not f.first_index <= int(e["best_index"]) <= f.last_index:
            continue
        overlap = min(f.last_index, int(e.get("last_index", e["best_index"]))) - \
            max(f.first_index, int(e.get("first_index", e["best_index"])))
        cand = (int(e["best_index"]) == f.best_index, overlap)
        if key is None or cand > key:
            best, key = k, cand
    return best


def apply(result: TrackResult, entries: list[dict]) -> TrackResult:
    """``result`` with each finding's verdict and note filled in."""
    used: set[int] = set()
    out = []
    for f in result.findings:
        k = _match(f, entries, used)
        if k is None:
            out.append(replace(f, verdict="", note=""))
            continue
        used.add(k)
        e = entries[k]
        out.append(replace(f, verdict=str(e.get("verdict", "")), note=str(e.get("note", ""))))
    return replace(result, findings=out)


def set_verdict(folder: str | Path, finding: Finding, verdict: str, note: str = "") -> list[dict]:
    """Record the verdict on ``finding`` (replacing an earlier one on it); returns the entries."""
    if verdict not in VERDICTS and verdict != "":
        raise PolypViewerError(f"unknown verdict {verdict!r}; choose from {', '.join(VERDICTS)}")
    entries = load(folder)
    k = _match(finding, entries, set())
    if k is not None:
        del entries[k]
    if verdict or note.strip():
        entries.append({"verdict": verdict, "note": note.strip(), "first_index": finding.first_index,
                        "last_index": finding.last_index, "best_index": finding.best_index})
    save(folder, entries)
    return entries
