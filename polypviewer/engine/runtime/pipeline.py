"""Real-time analysis: decode, preprocess, inference and post-processing overlap in threads.

A naive loop leaves the model idle while the next frame is decoded and resized, and the CPU
cores idle while the model runs. Here each stage is one thread joined to the next by a
bounded queue, so stages overlap (torch, onnxruntime and cv2 release the GIL) and memory
stays flat for a procedure of any length. One thread per stage keeps results in order.

``analyse`` yields ``(frame, prediction)`` pairs (batched, in order, nothing dropped);
``analyse_into`` hands them to a sink instead. Every caller that runs a model over more than
one frame (the viewer's video analysis, the dataset review, ``predict``, ``evaluate``,
``export``) goes through these two, so each gets the same ONNX lanes and stage overlap.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..media.sources import Frame, Source
from .backends import Backend, forward_adaptive, make_backend, suggest_batch_size
from .inference import FramePrediction, Predictor
from .preprocess import Letterbox

log = logging.getLogger(__name__)

STAGES = ("decode", "preprocess", "inference", "postprocess", "render")
POLL_S = 0.05  # how often a blocked stage looks at the stop/cancel flags
JOIN_S = 60.0  # a model call in progress cannot be interrupted; wait for it this long
GPU_WORKERS = 6  # pre/post-processing threads with a GPU (see default_workers)


@dataclass
class StageTimes:
    """Busy seconds per stage, frames done, wall time and the fullest each queue got."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    frames: int = 0
    wall_s: float = 0.0
    batches: int = 0
    queue_peak: dict[str, int] = field(default_factory=dict)
    queue_capacity: dict[str, int] = field(default_factory=dict)

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds  # one writer per stage

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    def per_frame_ms(self) -> dict[str, float]:
        n = max(1, self.frames)
        return {k: 1000.0 * v / n for k, v in self.seconds.items()}

    def as_dict(self) -> dict:
        return {"frames": self.frames, "wall_s": round(self.wall_s, 4), "fps": round(self.fps, 3),
                "batches": self.batches,
                "stage_s": {k: round(v, 4) for k, v in self.seconds.items()},
                "stage_ms_per_frame": {k: round(v, 3) for k, v in self.per_frame_ms().items()},
                "queue_peak": dict(self.queue_peak), "queue_capacity": dict(self.queue_capacity)}


@dataclass(frozen=True)
class AnalysisOptions:
    """How ``analyse`` runs; values only (callbacks, cancel and stats are passed apart).

    ``batch_size`` None: ``CPU_BATCH`` on CPU, from free memory on CUDA (halved on
    out-of-memory). ``queue_size`` bounds every queue (frames; batch queues hold
    ``queue_size // batch_size`` batches). Frames ``start``..``stop``, or exactly ``indices``
    (in that order; a contiguous run still decodes sequentially). ``keep_prob=False`` drops
    ``prediction.prob`` (an 8 MB float map per HD frame; then ``rethreshold`` is unavailable).
    ``workers`` threads share pre- and post-processing, order kept; None =
    ``default_workers(backend)``. ``parallel_render`` lets them share ``render`` too: only for
    one that is thread-safe and order-free (drawing), never one that writes a file.
    ``backend`` is the kind ``make_backend`` gets when a Predictor is passed.
    """

    batch_size: int | None = None
    queue_size: int = 16
    start: int = 0
    stop: int | None = None
    indices: tuple[int, ...] | None = None
    keep_prob: bool = True
    workers: int | None = None
    parallel_render: bool = False
    backend: str = "auto"


DEFAULT_OPTIONS = AnalysisOptions()


class _Queue(queue.Queue):
    """A bounded queue that remembers its highest fill level (proof that memory stays flat)."""

    peak = 0

    def _put(self, item) -> None:
        super()._put(item)
        self.peak = max(self.peak, self._qsize())


_END = object()  # end of stream, passed down the stages
_HALT = object()  # returned by a get when stopping early (cancel, error, consumer left)


def _per_frame(cadx: np.ndarray | None, frames: list) -> list:
    """The neoplastic maps of a batch, one per frame (None each for one-channel models)."""
    return [None] * len(frames) if cadx is None else list(cadx[:len(frames)])


def _frames(source, options: AnalysisOptions) -> Iterator[Frame]:
    """The frames ``options`` asks for, the fastest way the source allows."""
    if options.indices is None:
        yield from _range(source, options.start, options.stop)
    elif isinstance(source, Source):  # a run decodes sequentially; unreadable frames recorded
        yield from source.frames(options.indices)
    else:
        for i in options.indices:
            yield source[i]


def _range(source, start: int, stop: int | None) -> Iterator[Frame]:
    """Frames ``start``..``stop`` (sequential decoding for videos)."""
    try:
        n = len(source)
    except TypeError:  # a plain iterable
        yield from itertools.islice(source, start, stop)
        return
    stop = n if stop is None else max(0, min(stop, n))
    start = max(0, start)
    if isinstance(source, Source):  # skips and records unreadable frames (sources.py)
        yield from source.frames(range(start, stop))
    elif start == 0 and stop == n:
        yield from source
    else:
        for i in range(start, stop):
            yield source[i]


class _Run:
    """The threads and queues of one ``analyse`` call."""

    def __init__(self, source, backend: Backend, options: AnalysisOptions,
                 cancel: threading.Event | None, render: Callable | None,
                 model_output: Callable | None, stats: StageTimes) -> None:
        """``options`` has its batch size, queue size and workers resolved (see ``analyse``)."""
        self.options, self.model_output = options, model_output
        self.parallel_render = options.parallel_render
        workers = options.workers
        # map() keeps order, so several threads per stage never reorder frames
        self.pool = ThreadPoolExecutor(workers, "polypviewer-pipeline-cpu") if workers > 1 else None
        self.source, self.backend, self.bs = source, backend, options.batch_size
        self.cancel, self.keep_prob = cancel, options.keep_prob
        self.render, self.stats = render, stats
        queue_size = options.queue_size
        batches = max(1, queue_size // self.bs)
        self.queues = {"frames": _Queue(queue_size), "batches": _Queue(batches),
                       "results": _Queue(batches), "out": _Queue(queue_size)}
        if render is not None:
            self.queues["rendered"] = _Queue(queue_size)
        self.halt = threading.Event()
        self.error: BaseException | None = None
        self.threads: list[threading.Thread] = []

    # -- plumbing ---------------------------------------------------------------------------
    def halted(self) -> bool:
        return self.halt.is_set() or (self.cancel is not None and self.cancel.is_set())

    def put(self, name: str, item) -> bool:
        q = self.queues[name]
        while not self.halted():
            try:
                q.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                pass
        return False

    def get(self, name: str):
        q = self.queues[name]
        while not self.halted():
            try:
                return q.get(timeout=POLL_S)
            except queue.Empty:
                pass
        return _HALT

    def spawn(self, name: str, fn: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - handed to the consumer, never lost
                if self.error is None:
                    self.error = e
                self.halt.set()

        t = threading.Thread(target=guarded, name=f"polypviewer-pipeline-{name}", daemon=True)
        self.threads.append(t)
        t.start()

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.spawn("decode", self.decode)
        self.spawn("preprocess", self.preprocess)
        self.spawn("inference", self.inference)
        self.spawn("postprocess", self.postprocess)
        if self.render is not None:
            self.spawn("render", self.render_stage)

    def shutdown(self) -> None:
        self.halt.set()
        deadline = time.monotonic() + JOIN_S
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                log.warning("pipeline thread %s did not stop in time", t.name)
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        self.stats.wall_s = time.perf_counter() - self.t0
        for k, q in self.queues.items():
            self.stats.queue_peak[k] = q.peak
            self.stats.queue_capacity[k] = q.maxsize

    # -- stages -----------------------------------------------------------------------------
    def decode(self) -> None:
        it = _frames(self.source, self.options)
        while not self.halted():
            t = time.perf_counter()
            frame = next(it, _END)
            self.stats.add("decode", time.perf_counter() - t)
            if not self.put("frames", frame) or frame is _END:
                return

    def _map(self, fn: Callable, items: list) -> list:
        return list(self.pool.map(fn, items)) if self.pool is not None else [fn(x) for x in items]

    def preprocess(self) -> None:
        prepare = self.backend.predictor.prepare
        frames: list[Frame] = []
        while True:
            frame = self.get("frames")
            if frame is _HALT:
                return
            if frame is not _END:
                frames.append(frame)
            if frames and (len(frames) >= self.bs or frame is _END):
                t = time.perf_counter()
                done = self._map(lambda f: prepare(f.rgb), frames)
                batch = (frames, np.stack([img for img, _ in done]), [box for _, box in done])
                self.stats.add("preprocess", time.perf_counter() - t)
                if not self.put("batches", batch):
                    return
                frames = []
            if frame is _END:
                self.put("batches", _END)
                return

    def inference(self) -> None:
        lanes = max(1, int(getattr(self.backend, "lanes", 1)))
        if lanes > 1:
            self._inference_lanes(lanes)
            return
        while True:
            item = self.get("batches")
            if item is _HALT:
                return
            if item is _END:
                self.put("results", _END)
                return
            frames, arr, boxes = item
            t = time.perf_counter()
            probs, fprobs, cadx = forward_adaptive(self.backend, arr)
            self.stats.add("inference", time.perf_counter() - t)
            self.stats.batches += 1
            if not self.put("results", (frames, boxes, probs, fprobs, _per_frame(cadx, frames))):
                return

    def _inference_lanes(self, lanes: int) -> None:
        """Up to ``lanes`` model calls at once; results still leave in frame order."""
        pool = ThreadPoolExecutor(lanes, "polypviewer-pipeline-lane")
        pending: collections.deque = collections.deque()
        lock = threading.Lock()  # StageTimes expects one writer per stage

        def call(arr: np.ndarray):
            t = time.perf_counter()
            out = forward_adaptive(self.backend, arr, lane=True)
            with lock:
                self.stats.add("inference", (time.perf_counter() - t) / lanes)  # per-lane share
            return out

        def drain(keep: int) -> bool:
            while len(pending) > keep:
                (frames, boxes), fut = pending.popleft()
                probs, fprobs, cadx = fut.result()
                self.stats.batches += 1
                if not self.put("results", (frames, boxes, probs, fprobs, _per_frame(cadx, frames))):
                    return False
            return True

        try:
            while True:
                item = self.get("batches")
                if item is _HALT:
                    return
                if item is _END:
                    if drain(0):
                        self.put("results", _END)
                    return
                frames, arr, boxes = item
                pending.append(((frames, boxes), pool.submit(call, arr)))
                if not drain(lanes - 1):
                    return
        finally:  # calls already running finish here, so analyse() never outlives its model calls
            pool.shutdown(wait=True, cancel_futures=True)

    def postprocess(self) -> None:
        nxt = "out" if self.render is None else "rendered"
        while True:
            item = self.get("results")
            if item is _HALT:
                return
            if item is _END:
                self.put(nxt, _END)
                return
            t = time.perf_counter()
            if self.model_output is not None:
                # a consumer that stores model-size maps (the analysis cache) needs nothing
                # at full resolution: skip that work (and keep its calls in order, unthreaded)
                for frame, box, prob, fprob, cadx in zip(*item):
                    if cadx is None:  # one-channel models: the consumer's call is unchanged
                        self.model_output(frame, prob, float(fprob), box)
                    else:
                        self.model_output(frame, prob, float(fprob), box, cadx=cadx)
                preds = [None] * len(item[0])
            else:
                preds = self._map(self._finish, list(zip(*item)))
            self.stats.add("postprocess", time.perf_counter() - t)
            for frame, pred in zip(item[0], preds):
                if not self.put(nxt, (frame, pred)):
                    return

    def _finish(self, args) -> FramePrediction:
        _, box, prob, fprob, cadx = args
        pred = self.backend.finish(prob, float(fprob), box) if cadx is None else \
            self.backend.finish(prob, float(fprob), box, cadx_model=cadx)
        if not self.keep_prob:
            pred.prob = None
        return pred

    def render_stage(self) -> None:
        parallel = self.parallel_render and self.pool is not None
        while True:
            item = self.get("rendered")
            if item is _HALT:
                return
            items = [item]
            while parallel and item is not _END and len(items) < self.bs:
                try:  # whatever is already waiting, drawn together by the worker threads
                    item = self.queues["rendered"].get_nowait()
                except queue.Empty:
                    break
                items.append(item)
            work = [x for x in items if x is not _END]
            if work:
                t = time.perf_counter()
                if parallel:
                    self._map(lambda x: self.render(*x), work)
                else:
                    self.render(*work[0])
                self.stats.add("render", time.perf_counter() - t)
            for x in items:
                if not self.put("out", x) or x is _END:
                    return


def default_workers(backend: Backend) -> int:
    """Threads for preprocessing and post-processing: 1 on CPU, where the model needs every
    core; several on a GPU, where these stages are the limit (H200: 311 -> 508 frames/s
    with 6, docs/performance.md)."""
    if backend.predictor.device.type == "cpu":
        return 1
    return max(1, min(GPU_WORKERS, (os.cpu_count() or 1) - 2))


def as_backend(predictor_or_backend: Predictor | Backend, kind: str = "auto") -> Backend:
    """A Backend as is; a Predictor wrapped with ``make_backend(kind)``."""
    if isinstance(predictor_or_backend, Predictor):
        return make_backend(predictor_or_backend, kind)
    return predictor_or_backend


def analyse(source: Iterable[Frame], predictor_or_backend: Predictor | Backend,
            options: AnalysisOptions = DEFAULT_OPTIONS, *,
            cancel: threading.Event | None = None,
            render: Callable[[Frame, FramePrediction], object] | None = None,
            model_output: Callable[[Frame, np.ndarray, float, Letterbox], object] | None = None,
            stats: StageTimes | None = None,
            ) -> Iterator[tuple[Frame, FramePrediction | None]]:
    """Yield ``(frame, prediction)`` for the frames ``options`` selects, in order, none dropped.

    ``source`` is a Source (or anything indexable with ``len``) or a plain iterable of
    objects with ``.rgb`` (passed through untouched, so callers may carry their own fields).
    ``cancel`` set, or the consumer leaving the loop, stops every thread within about one
    model call; an exception in any stage is raised here unchanged. ``render(frame, pred)``
    runs in its own stage (e.g. overlays); ``stats`` collects per-stage seconds and queue
    peaks. ``model_output(frame, prob_model, frame_prob, letterbox)`` receives the model-size
    maps (plus ``cadx=`` the neoplastic map, only for models with that channel) instead of
    full-resolution post-processing (then the yielded prediction is None): the analysis
    cache stores exactly that.
    """
    backend = as_backend(predictor_or_backend, options.backend)
    batch_size = options.batch_size
    if batch_size is None:
        batch_size = backend.batch_size or suggest_batch_size(backend)
    batch_size = max(1, int(batch_size))
    if backend.batch_size is None or backend.batch_size > batch_size:
        backend.batch_size = batch_size
    workers = default_workers(backend) if options.workers is None else options.workers
    resolved = dataclasses.replace(options, batch_size=batch_size,
                                   queue_size=max(1, int(options.queue_size)),
                                   workers=max(1, int(workers)))
    run = _Run(source, backend, resolved, cancel, render, model_output,
               stats if stats is not None else StageTimes())
    run.start()
    try:
        while True:
            item = run.get("out")
            if item is _END or item is _HALT:
                break
            run.stats.frames += 1
            yield item
        if run.error is not None:
            raise run.error
    finally:
        run.shutdown()


class Sink(Protocol):
    """Takes full-resolution predictions, one frame at a time, in order."""

    def put(self, frame: Frame, pred: FramePrediction) -> None:
        ...


class StoreSink:
    """Model-size maps and frame times into an ``AnalysisStore`` (``AnalysisStore.put``).

    A sink with ``put_model`` skips full-resolution post-processing altogether: the store
    keeps model-size maps (and the neoplastic map of models with that channel) and finishes
    them when a frame is shown.
    """

    def __init__(self, store) -> None:
        self.store = store

    def put_model(self, frame: Frame, prob: np.ndarray, frame_prob: float, box: Letterbox,
                  cadx: np.ndarray | None = None) -> None:
        self.store.put(frame.index, prob, frame_prob, box, cadx=cadx, time_s=frame.time_s)

    def flush(self) -> None:
        self.store.flush()


def analyse_into(sink: Sink | StoreSink, source: Iterable[Frame],
                 predictor_or_backend: Predictor | Backend,
                 options: AnalysisOptions = DEFAULT_OPTIONS,
                 cancel: threading.Event | None = None, *,
                 stats: StageTimes | None = None) -> Iterator[Frame]:
    """``analyse`` pushed into ``sink``; yields each frame once the sink has it (for progress).

    ``sink.put(frame, pred)`` runs on the caller's thread, so a sink needs no locking; a sink
    with ``put_model`` gets model-size maps from the post-processing thread instead. A sink's
    ``flush()``, if it has one, runs at the end, also after a cancel or an error.
    """
    model_output = getattr(sink, "put_model", None)
    results = analyse(source, predictor_or_backend, options, cancel=cancel,
                      model_output=model_output, stats=stats)
    try:
        for frame, pred in results:
            if model_output is None:
                sink.put(frame, pred)
            yield frame
    finally:
        results.close()  # every stage has stopped before the sink is flushed
        flush = getattr(sink, "flush", None)
        if flush is not None:
            flush()
