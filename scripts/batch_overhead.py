"""Ray's overhead for archive batches: the same videos in one process and on local Ray.

Makes an archive of short videos in a throwaway folder: pieces of the bundled demo clip, and,
for each DATASET given, a slow pan over a few of its images (a "procedure" of stills). Then
runs ``batch --workers 0`` (the single-process pipeline) and ``batch`` on local Ray (one
worker with every core) on it, ROUNDS times alternating which goes first, each into a fresh
database and cache, and prints frames/s of each, the overhead and the peak RSS of the Ray
worker process.

Usage: uv run --extra cluster python scripts/batch_overhead.py [DATASET ...] [--videos 24]
       [--frames 80] [--rounds 2] [--model NAME]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
WORK = Path(tempfile.mkdtemp(prefix="polypviewer-batch-"))


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def make_archive(root: Path, datasets: list[Path], videos: int, frames: int) -> int:
    import cv2
    import numpy as np

    from polypviewer.paths import resources_dir

    demo = cv2.VideoCapture(str(resources_dir() / "samples" / "demo.mp4"))
    clip = []
    while True:
        ok, f = demo.read()
        if not ok:
            break
        clip.append(f)
    total = 0
    sources = [("demo", None)] + [("ds", d) for d in datasets]
    for k in range(videos):
        kind, d = sources[k % len(sources)]
        out = root / f"room{k % 3}" / f"procedure{k:03d}.mp4"
        out.parent.mkdir(parents=True, exist_ok=True)
        w = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (640, 480))
        if kind == "demo":
            start = (k * 37) % max(1, len(clip) - frames)
            for f in clip[start:start + frames]:
                w.write(f)
        else:
            imgs = sorted((d / "images").iterdir())[k:k + 4]
            for i in range(frames):
                img = cv2.imread(str(imgs[i * len(imgs) // frames]))
                h, wd = img.shape[:2]
                s = max(640 / wd, 480 / h) * 1.2
                big = cv2.resize(img, (int(wd * s) + 1, int(h * s) + 1))
                dx = int((big.shape[1] - 640) * (i % 40) / 40)
                w.write(np.ascontiguousarray(big[:480, dx:dx + 640]))
        w.release()
        total += frames
    return total


def rss_watch(stop: threading.Event, peaks: dict) -> None:
    """Peak RSS (MB) of Ray worker processes running our Worker, sampled every 0.2 s."""
    while not stop.is_set():
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                if b"ray::Worker" not in (d / "cmdline").read_bytes():
                    continue
                for line in (d / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        mb = int(line.split()[1]) / 1024
                        peaks[d.name] = max(peaks.get(d.name, 0.0), mb)
            except OSError:
                pass
        stop.wait(0.2)


def run_once(mode: str, root: Path, model: str | None, k: int) -> tuple[float, float]:
    """(frames/s over the whole run, frames/s from the first finished procedure to the last).

    The second leaves out starting the worker and loading its model, which a real archive
    batch pays once for thousands of procedures.
    """
    from polypviewer.archive.runner import BatchOptions, run_batch

    opts = BatchOptions(roots=(str(root),), database=str(WORK / f"{mode}{k}.sqlite"), model=model,
                        device="cpu", workers=0 if mode == "process" else 1,
                        cpus_per_worker=float(os.cpu_count() or 2),
                        cache_dir=str(WORK / f"cache-{mode}{k}"))
    marks: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    rep = run_batch(opts, out=open(os.devnull, "w"),
                    on_record=lambda r: marks.append((time.perf_counter(), r.frames_read or 0)))
    el = time.perf_counter() - t0
    assert rep.failed == 0 and rep.recorded > 1, rep
    steady = sum(n for _, n in marks[1:]) / (marks[-1][0] - marks[0][0])
    return rep.frames / el, steady


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("datasets", nargs="*", type=Path)
    ap.add_argument("--videos", type=int, default=24)
    ap.add_argument("--frames", type=int, default=80)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--model")
    a = ap.parse_args()
    import ray

    root = WORK / "archive"
    n = make_archive(root, a.datasets, a.videos, a.frames)
    print(f"CPU {cpu_model()}, {os.cpu_count()} cores; {a.videos} videos, {n} frames in {root}")
    t0 = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    print(f"local Ray started in {time.perf_counter() - t0:.1f} s (not counted below)")
    rates = {"process": [], "ray": []}
    steady = {"process": [], "ray": []}
    peaks: dict = {}
    stop = threading.Event()
    watcher = threading.Thread(target=rss_watch, args=(stop, peaks), daemon=True)
    watcher.start()
    for k in range(a.rounds):
        order = ["process", "ray"] if k % 2 == 0 else ["ray", "process"]
        for mode in order:
            whole, run = run_once(mode, root, a.model, k)
            rates[mode].append(whole)
            steady[mode].append(run)
            print(f"round {k + 1} {mode:8s} {whole:6.1f} frames/s whole run, {run:6.1f} once running",
                  flush=True)
    stop.set()
    ray.shutdown()
    for what, d in (("whole run (worker start and model load included)", rates),
                     ("once running (first to last finished procedure)", steady)):
        p, r = statistics.median(d["process"]), statistics.median(d["ray"])
        print(f"median, {what}: single process {p:.1f} frames/s, Ray {r:.1f} frames/s, "
              f"overhead {100 * (1 - r / p):.1f} %")
    if peaks:
        print(f"peak RSS per Ray worker: {max(peaks.values()):.0f} MB")


if __name__ == "__main__":
    main()
