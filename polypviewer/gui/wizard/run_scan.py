"""Listing the runs folder without re-reading it: each run is read again only when the files
that decide what the Runs panel shows (status, settings, best metrics) changed size or mtime.
Runs in a worker thread (``RunsPanel``); a scan of an unchanged folder only stats files.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from .runs import COMMAND_FILE, DONE_FILES, EVENTS_FILE, RunInfo, is_run_dir, read_run

WATCHED = (EVENTS_FILE, COMMAND_FILE, "config.json", "metrics.json", "checkpoint.pt", *DONE_FILES)


def _signature(run: Path) -> tuple:
    sig = []
    for name in WATCHED:
        try:
            st = os.stat(run / name)
            sig.append((name, st.st_mtime_ns, st.st_size))
        except OSError:
            continue
    return tuple(sig)


class RunScanner:
    """Keeps the RunInfo of every run with the signature it was read at."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one scan at a time
        self._known: dict[Path, tuple[tuple, bool, RunInfo]] = {}
        self.reads = 0  # runs read in full since the start (a measure for tests)

    def scan(self, root: Path, live: set[str]) -> tuple[list[RunInfo], bool]:
        """(runs newest first, whether anything changed since the last scan)."""
        with self._lock:
            found: dict[Path, tuple[tuple, bool, RunInfo]] = {}
            changed = False
            try:
                entries = [Path(e.path) for e in os.scandir(root) if e.is_dir()]
            except OSError:
                entries = []
            for run in entries:
                sig, is_live = _signature(run), str(run) in live
                old = self._known.get(run)
                if old is not None and old[0] == sig and old[1] == is_live:
                    found[run] = old
                    continue
                if not is_run_dir(run):
                    continue
                self.reads += 1
                found[run] = (sig, is_live, read_run(run, is_live))
                changed = True
            changed = changed or found.keys() != self._known.keys()
            self._known = found
            runs = sorted((info for _, _, info in found.values()), key=lambda r: r.mtime, reverse=True)
            return runs, changed
