"""The batch on local Ray: the same results as in-process, and a worker killed mid-video."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from archive_helpers import write_archive

from polypviewer.archive import db, query
from polypviewer.archive.runner import BatchOptions, _import_ray, run_batch

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # before Ray's first import, as the runner does
pytest.importorskip("ray")
ray = _import_ray()
pytestmark = pytest.mark.timeout(900)  # starts local Ray and a worker twice on 2 cores


@pytest.fixture(scope="module")
def local_ray():
    for attempt in (1, 2):  # Ray gives its raylet 30 s to register: a busy 2-core machine can miss it
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
            break
        except Exception:
            ray.shutdown()
            if attempt == 2:
                raise
    yield
    ray.shutdown()


def _results(database: Path) -> dict:
    """Per content hash: what a reader sees (status, frames, findings, frame probabilities)."""
    c = db.connect(database, readonly=True)
    out = {}
    for r in query.rows(c):
        fs = [tuple(f)[1:] for f in db.findings_of(c, r["id"])]
        probs, counts = db.frame_summary(c, r["id"]) or (np.zeros(0), np.zeros(0))
        out[r["content_hash"]] = (r["status"], r["n_frames"], r["frames_read"], fs,
                                  np.round(probs, 3).tolist(), counts.tolist())
    n = c.execute("SELECT COUNT(*) FROM procedures").fetchone()[0]
    c.close()
    assert n == len(out)
    return out


def _opts(root, database, model, cache, **kw) -> BatchOptions:
    return BatchOptions(roots=(str(root),), database=str(database), model=str(model),
                        device="cpu", cache_dir=str(cache), **kw)


def _analysing_workers() -> list[int]:
    """PIDs of Ray workers executing ``Worker.analyse`` (Ray sets that process title)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if b"ray::Worker.analyse" in (d / "cmdline").read_bytes():
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds Ray's worker processes in /proc")
def test_killed_worker_mid_video_loses_nothing_and_records_once(local_ray, tmp_path, tiny_model_path):
    root = write_archive(tmp_path / "arch", n_videos=4, frames=80)
    clean = tmp_path / "clean.sqlite"
    rep = run_batch(_opts(root, clean, tiny_model_path, tmp_path / "cache-clean", workers=0))
    assert rep.recorded == 5 and rep.failed == 0

    killed = tmp_path / "killed.sqlite"
    done: list[str] = []
    kills: list[int] = []

    def killer() -> None:  # once the first procedure is recorded, kill the worker mid-analysis
        deadline = time.monotonic() + 600  # Ray's first worker can take minutes on a loaded 2-core CPU
        while not done and time.monotonic() < deadline:
            time.sleep(0.01)
        while not kills and time.monotonic() < deadline:
            for pid in _analysing_workers():
                os.kill(pid, signal.SIGKILL)
                kills.append(pid)
                break
            time.sleep(0.005)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    rep = run_batch(_opts(root, killed, tiny_model_path, tmp_path / "cache-killed", workers=1,
                          cpus_per_worker=1), on_record=lambda r: done.append(r.path))
    t.join(5)
    assert kills, "no worker was caught analysing"
    assert (rep.recorded, rep.failed) == (5, 0)
    assert len(done) == len(set(done)) == 5
    assert _results(killed) == _results(clean)
    again = run_batch(_opts(root, killed, tiny_model_path, tmp_path / "cache-killed", workers=1,
                            cpus_per_worker=1))
    assert (again.recorded, again.skipped) == (0, 5)
