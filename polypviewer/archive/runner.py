"""Running a batch: workers (Ray actors, or in-process) analyse procedures, the driver records them.

One model load per worker. Only the driver touches the database, one transaction per finished
procedure, so killing the batch (Ctrl-C, kill -9, a node dying) loses at most the procedures in
flight, and a re-run skips what is recorded. A Ray worker that dies is restarted and its
procedure retried (``max_task_retries``); the analysis cache lets the retry resume.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..engine.errors import PolypViewerError
from . import db
from .discover import KINDS, Candidate, content_hash, discover
from .procedure import analyse_procedure, settings_for

TASK_RETRIES = 2


@dataclass(frozen=True)
class BatchOptions:
    roots: tuple[str, ...]
    database: str
    model: str | None = None
    device: str = "auto"
    input_size: int | str | None = None  # pixels or a profile name (engine/models/profiles.py)
    threshold: float | None = None
    workers: int | None = None  # Ray actors; None = as many as the cluster's CPUs allow; 0 = no Ray
    cpus_per_worker: float = 2.0
    gpus_per_worker: float = 0.0
    address: str | None = None  # Ray cluster; None = RAY_ADDRESS or a local Ray instance
    keep_maps: bool = True
    cache_dir: str | None = None
    tta: str = "auto"  # test-time views (engine/runtime/views.py): auto = the app's, per kind
    retry_failed: bool = False


class Worker:
    """Loads the model once and analyses procedures one after another (the body of a Ray actor)."""

    def __init__(self, model: str | None, device: str, input_size: int | str | None,
                 threshold: float | None, cache_dir: str | None, keep_maps: bool,
                 threads: int | None = None, tta: str = "auto") -> None:
        import torch

        from ..engine.runtime.inference import Predictor

        if threads:
            torch.set_num_threads(max(1, int(threads)))
        self.predictor = Predictor(model, device=device, threshold=threshold,
                                   input_size=input_size, tta=tta)
        self.threads = int(threads) if threads else None
        self.backends: dict[str, object] = {}  # per test-time views, made on first use
        self.cache_dir, self.keep_maps = cache_dir, keep_maps

    def _for(self, kind: str):
        """The predictor and backend for procedures of ``kind``: stills may get the flips, as
        in the app, so that the app finds the batch's cache when it opens one."""
        from ..engine.runtime.backends import make_backend

        p = self.predictor.for_media(kind)
        if p.tta not in self.backends:
            self.backends[p.tta] = make_backend(p, threads=self.threads)
        return p, self.backends[p.tta]

    def identity(self) -> dict[str, tuple[str, str, str, dict]]:
        """Per kind of procedure: (model name, weights sha256, settings hash, settings), what
        'done' is checked against."""
        loaded = self.predictor.loaded
        sha = loaded.metadata.get("weights_sha256") or ""
        out = {}
        for kind in KINDS:
            s = settings_for(self.predictor.for_media(kind))
            out[kind] = (loaded.name, sha, s.digest(), s.as_dict())
        return out

    def pid(self) -> int:
        return os.getpid()

    def analyse(self, c: Candidate, chash: str) -> db.ProcedureRecord:
        predictor, backend = self._for(c.kind)
        return analyse_procedure(c.path, c.kind, chash, predictor, backend,
                                 cache_root=self.cache_dir, keep_maps=self.keep_maps)


@dataclass
class BatchReport:
    found: int = 0
    skipped: int = 0
    recorded: int = 0
    failed: int = 0
    frames: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    errors: list[tuple[str, str]] = field(default_factory=list)


class Progress:
    """One terminal line every couple of seconds: procedures, frames/s, procedures/hour, ETA."""

    def __init__(self, total: int, total_bytes: int, out=sys.stderr, every_s: float = 2.0) -> None:
        self.total, self.total_bytes, self.out, self.every = total, max(1, total_bytes), out, every_s
        self.t0 = self.last = time.perf_counter()
        self.done = self.failed = self.frames = self.bytes = 0

    def add(self, rec: db.ProcedureRecord, size: int) -> None:
        self.done += 1
        self.failed += rec.status == "failed"
        self.frames += rec.frames_read or 0
        self.bytes += size
        self.show(force=self.done == self.total)

    def line(self) -> str:
        el = max(time.perf_counter() - self.t0, 1e-6)
        left = self.total_bytes - self.bytes
        eta = el / self.bytes * left if self.bytes else None
        eta_s = "?" if eta is None else (f"{eta / 60:.0f} min" if eta >= 90 else f"{eta:.0f} s")
        return (f"batch: {self.done}/{self.total} procedures ({self.failed} failed), "
                f"{self.frames} frames at {self.frames / el:.1f} frames/s, "
                f"{self.done / el * 3600:.0f} procedures/hour, ETA {eta_s}")

    def show(self, force: bool = False) -> None:
        now = time.perf_counter()
        if force or now - self.last >= self.every:
            self.last = now
            print(self.line(), file=self.out, flush=True)


def _failed(c: Candidate, chash: str, identity: dict, error: str) -> db.ProcedureRecord:
    name, sha, shash, settings = identity[c.kind]
    return db.ProcedureRecord(path=c.path, kind=c.kind, content_hash=chash, model_name=name,
                              model_sha256=sha, settings_hash=shash, settings=settings,
                              status="failed", error=error)


def _jobs(opts: BatchOptions, conn, identity, report: BatchReport) -> list[tuple[Candidate, str]]:
    cands = discover(opts.roots)
    report.found = len(cands)
    done = {}
    for kind, (_, sha, shash, _) in identity.items():
        if opts.retry_failed:
            with conn:
                conn.execute("DELETE FROM procedures WHERE status != 'done' AND model_sha256=? "
                             "AND settings_hash=?", (sha, shash))
        done[kind] = db.done_keys(conn, sha, shash)
    jobs, seen = [], set()
    for c in cands:
        try:
            h = content_hash(c)
        except OSError as e:
            report.errors.append((c.path, f"unreadable: {e.strerror or e}"))
            continue
        if h in done[c.kind] or h in seen:  # recorded already, or twice in the archive
            report.skipped += 1
            continue
        seen.add(h)
        jobs.append((c, h))
    return jobs


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def run_batch(opts: BatchOptions, *, out=sys.stderr,
              on_record: Callable[[db.ProcedureRecord], None] | None = None) -> BatchReport:
    """Analyse every procedure under ``opts.roots`` not yet in ``opts.database``."""
    report = BatchReport()
    conn = db.connect(opts.database)
    old_term = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    if old_term is not None:  # SIGTERM stops like Ctrl-C: finished procedures stay recorded
        signal.signal(signal.SIGTERM, _interrupt)
    t0 = time.perf_counter()
    try:
        runner = _run_local if opts.workers == 0 else _run_ray
        runner(opts, conn, report, out, on_record)
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        conn.close()
        report.seconds = time.perf_counter() - t0
    return report


def _store(conn, rec, c, progress, report, on_record) -> None:
    if db.record(conn, rec):
        report.recorded += 1
        report.frames += rec.frames_read or 0
        if rec.status == "failed":
            report.failed += 1
            report.errors.append((rec.path, rec.error or "failed"))
    if on_record is not None:
        on_record(rec)
    progress.add(rec, c.size)


def _run_local(opts, conn, report, out, on_record) -> None:
    w = Worker(opts.model, opts.device, opts.input_size, opts.threshold, opts.cache_dir,
               opts.keep_maps, tta=opts.tta)
    identity = w.identity()
    jobs = _jobs(opts, conn, identity, report)
    progress = Progress(len(jobs), sum(c.size for c, _ in jobs), out)
    for c, h in jobs:
        _store(conn, w.analyse(c, h), c, progress, report, on_record)


def _import_ray():
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # workers use this environment as is
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as e:
        raise PolypViewerError("Ray is not installed: run `uv sync --extra cluster` "
                               "(or `pip install 'polypviewer[cluster]'`), or use --workers 0 "
                               "to analyse in this process") from e
    return ray


def _run_ray(opts, conn, report, out, on_record) -> None:
    ray = _import_ray()
    address = opts.address or os.environ.get("RAY_ADDRESS")
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        except Exception as e:  # noqa: BLE001 - Ray's own exceptions vary; say what failed
            ray.shutdown()
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            raise PolypViewerError(f"cannot start or reach {where}: {e}") from e
    try:
        cpus = float(ray.cluster_resources().get("CPU", 1))
        n = opts.workers or max(1, int(cpus // max(opts.cpus_per_worker, 0.01)))
        actor_cls = ray.remote(num_cpus=opts.cpus_per_worker, num_gpus=opts.gpus_per_worker,
                               max_restarts=-1, max_task_retries=TASK_RETRIES)(Worker)
        threads = max(1, int(opts.cpus_per_worker)) if opts.gpus_per_worker == 0 else None
        actors = [actor_cls.remote(opts.model, opts.device, opts.input_size, opts.threshold,
                                   opts.cache_dir, opts.keep_maps, threads, opts.tta)
                  for _ in range(n)]
        identity = ray.get(actors[0].identity.remote())
        jobs = _jobs(opts, conn, identity, report)
        progress = Progress(len(jobs), sum(c.size for c, _ in jobs), out)
        queue = list(reversed(jobs))
        pending: dict = {}

        def submit(actor) -> None:
            if queue:
                c, h = queue.pop()
                pending[actor.analyse.remote(c, h)] = (actor, c, h)

        for a in actors:  # two each: the next procedure waits in the actor, no idle round trip
            submit(a)
            submit(a)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=progress.every)
            for ref in ready:
                actor, c, h = pending.pop(ref)
                try:
                    rec = ray.get(ref)
                except ray.exceptions.RayError as e:  # retries exhausted: this procedure failed
                    rec = _failed(c, h, identity, f"worker failed: {type(e).__name__}: {e}"[:500])
                _store(conn, rec, c, progress, report, on_record)
                submit(actor)
            progress.show()
    finally:
        if started_here:
            ray.shutdown()
