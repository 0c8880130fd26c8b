"""Time Python's garbage collections during a real review session in the app.

Opens a video in the main window (offscreen), analyses it to the end, then plays it for a few
seconds, and prints how many collections took over 5 ms, the longest, and what one full
collection costs at the end. A full (generation 2) collection holds the GIL, so for that long
no frame is shown.
``--no-freeze`` skips ``gui.memory.freeze_libraries`` to compare (run both, alternating).

Usage: uv run python scripts/gc_pauses.py [VIDEO] [--no-freeze] [--play-s 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

WORK = Path(tempfile.mkdtemp(prefix="polypviewer-gc-"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["XDG_CACHE_HOME"] = str(WORK / "cache")  # a fresh analysis cache
os.environ["XDG_CONFIG_HOME"] = str(WORK / "config")
os.environ["XDG_DATA_HOME"] = str(WORK / "data")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("video", nargs="?")
    p.add_argument("--no-freeze", action="store_true")
    p.add_argument("--play-s", type=float, default=5.0)
    args = p.parse_args()
    from PySide6.QtCore import QTimer
    from PySide6.QtTest import QTest

    from polypviewer.gui import app as gui_app
    from polypviewer.gui import memory
    from polypviewer.paths import resources_dir

    if args.no_freeze:
        memory.freeze_libraries = lambda: False
    video = args.video or str(resources_dir() / "samples" / "demo.mp4")
    pauses: list[tuple[int, float]] = []
    started = {}

    def on_gc(phase, info):
        if phase == "start":
            started["t"] = time.perf_counter()
        else:
            ms = 1e3 * (time.perf_counter() - started["t"])
            if ms > 5:
                pauses.append((info["generation"], ms))

    win = gui_app.create_window(None, "cpu")
    win.show()
    gc.callbacks.append(on_gc)
    t0 = time.perf_counter()
    app = gui_app.make_app()

    def wait(cond, timeout_s=1800.0):
        end = time.monotonic() + timeout_s
        while not cond() and time.monotonic() < end:
            QTest.qWait(50)
        if not cond():
            raise SystemExit("timed out")

    r = win.review
    wait(lambda: r.predictor is not None)
    win.open_path(video, 0)
    wait(lambda: r.media is not None and r.shown == 0)
    r.start_analysis()
    wait(lambda: r.store is not None and r.store.complete and not r.analysing())
    n = r.n
    r.seek(0)
    r.play()
    QTimer.singleShot(int(args.play_s * 1000), app.quit)
    app.exec()
    gc.callbacks.remove(on_gc)
    t = time.perf_counter()
    gc.collect()
    forced_ms = 1e3 * (time.perf_counter() - t)
    full = [ms for g, ms in pauses if g == 2]
    print(f"video {Path(video).name}, {n} frames, {time.perf_counter() - t0:.0f} s, "
          f"freeze {'off' if args.no_freeze else 'on'}, {len(gc.get_objects())} objects tracked")
    print(f"collections over 5 ms: {len(pauses)}; full ones: {len(full)}, longest "
          f"{max(full, default=0):.0f} ms; longest of any {max((ms for _, ms in pauses), default=0):.0f} ms; "
          f"a full collection at the end took {forced_ms:.0f} ms")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
