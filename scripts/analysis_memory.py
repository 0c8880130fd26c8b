"""Time the app's own video analysis and watch its memory, e.g. over a long 1080p recording.

Runs exactly what Analysis -> Analyse procedure runs (``gui.jobs.analyse_source``: the
pipeline storing model-size maps in the analysis cache), with a throwaway cache folder, and
prints frames/s, the process RSS every 2 s and the size the cache reached on disk.

Usage: uv run python scripts/analysis_memory.py [VIDEO] [--model NAME] [--device cpu]
       [--hd-loops K]

Without VIDEO it uses the bundled demo clip. ``--hd-loops K`` first writes a 1920x1080 copy
of the input (scaled to 1080 px high, centred, black sides) played K times into the
throwaway folder and analyses that: how docs/performance.md measured flat memory.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

WORK = Path(tempfile.mkdtemp(prefix="polypviewer-memory-"))
os.environ["XDG_CACHE_HOME"] = str(WORK / "cache")  # a fresh analysis cache, deleted by hand
os.environ["XDG_DATA_HOME"] = str(WORK / "data")


def write_hd(src: Path, loops: int, out: Path) -> Path:
    """The input scaled to 1080 px high on a 1920x1080 canvas, ``loops`` times over.

    Streams frame by frame, so writing the test video never inflates the peak RSS reported.
    """
    import cv2
    import numpy as np

    writer = None
    for _ in range(loops):
        cap = cv2.VideoCapture(str(src))
        if writer is None:
            fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (1920, 1080))
        while True:
            ok, f = cap.read()
            if not ok:
                break
            w = min(1920, round(f.shape[1] * 1080 / f.shape[0]))
            canvas = np.zeros((1080, 1920, 3), np.uint8)
            x0 = (1920 - w) // 2
            canvas[:, x0:x0 + w] = cv2.resize(f, (w, 1080), interpolation=cv2.INTER_CUBIC)
            writer.write(canvas)
        cap.release()
    if writer is not None:
        writer.release()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("video", nargs="?")
    p.add_argument("--model")
    p.add_argument("--device", default="cpu")
    p.add_argument("--hd-loops", type=int, default=0, metavar="K")
    a = p.parse_args()

    from polypviewer import paths
    from polypviewer.cli.bench import peak_rss_mb, rss_mb
    from polypviewer.engine.media.sources import open_source
    from polypviewer.engine.runtime.inference import Predictor
    from polypviewer.engine.runtime.results import AnalysisStore
    from polypviewer.gui import jobs

    video = Path(a.video) if a.video else paths.resources_dir() / "samples" / "demo.mp4"
    if a.hd_loops > 0:
        video = write_hd(video, a.hd_loops, WORK / "hd.mp4")
    predictor = Predictor(a.model, device=a.device)
    src = open_source(video)
    n, shape = len(src), src[0].rgb.shape
    store = AnalysisStore.open(src, predictor, n_frames=n)
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(rss_mb())
            time.sleep(2)

    threading.Thread(target=sample, daemon=True).start()
    t0 = time.perf_counter()
    for _ in jobs.analyse_source(str(video), predictor, store, n, threading.Event()):
        pass
    wall = time.perf_counter() - t0
    done.set()
    src.close()
    cache = sum(f.stat().st_size for f in (WORK / "cache").rglob("*") if f.is_file())
    print(f"{predictor.name} on {predictor.device_note}: {n} frames of {video.name} "
          f"({shape[1]}x{shape[0]}) in {wall:.1f} s = {n / wall:.1f} frames/s")
    print("RSS MB every 2 s:", " ".join(f"{s:.0f}" for s in samples))
    print(f"peak RSS {peak_rss_mb():.0f} MB; "
          f"analysis cache on disk {cache / 2**20:.1f} MB ({cache / max(n, 1) / 1024:.1f} kB per frame)")
    print(f"throwaway folder (delete when done): {WORK}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
