"""analyse() with a backend that has ``lanes > 1``: several model calls at once, same results.

The inference stage submits up to ``lanes`` ``forward(batch, lane=True)`` calls to a thread
pool; frames must still leave in order, none dropped, and cancel, errors and leaving the loop
must still stop every thread.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from pipeline_helpers import CountingSource, make_frames, pipeline_threads, wait_no_threads

from polypviewer.engine.runtime.backends import TorchBackend, onnx_backend
from polypviewer.engine.runtime.backends.onnx_backend import OnnxBackend
from polypviewer.engine.runtime.inference import Predictor
from polypviewer.engine.runtime.pipeline import AnalysisOptions, StageTimes, analyse


class LaneError(RuntimeError):
    pass


class LaneBackend:
    """A real TorchBackend behind ``lanes`` concurrent slots, with delays and bookkeeping.

    ``delays``: seconds slept before each call (by call number, cycled), to shuffle which lane
    finishes first. ``fail_on``: the call number (1-based) that raises instead.
    """

    kind = "torch"

    def __init__(self, predictor, lanes: int = 3, delays=(0.0,), fail_on: int | None = None):
        self.inner = TorchBackend(predictor)
        self.predictor, self.lanes, self.batch_size = predictor, lanes, None
        self.note = "test lanes"
        self.delays, self.fail_on = list(delays), fail_on
        self.lock = threading.Lock()
        self.calls = 0
        self.lane_flags: list[bool] = []
        self.active = 0
        self.max_active = 0
        self.error: LaneError | None = None

    def forward(self, batch, lane=False):
        with self.lock:
            self.calls += 1
            n = self.calls
            self.lane_flags.append(lane)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            time.sleep(self.delays[(n - 1) % len(self.delays)])
            if n == self.fail_on:
                self.error = LaneError(f"lane call {n} exploded")
                raise self.error
            return self.inner.forward(batch)
        finally:
            with self.lock:
                self.active -= 1

    def finish(self, *a, **k):
        return self.inner.finish(*a, **k)


@pytest.fixture(scope="module")
def predictor(tiny_model_path):
    return Predictor(tiny_model_path, device="cpu")


@pytest.fixture(autouse=True)
def _no_threads_left_behind():
    yield
    wait_no_threads()  # a failed test must not leave lane threads to the next one


def test_lanes_keep_order_and_results(predictor):
    """Random per-call delays make lanes finish out of order; output must not notice."""
    frames = make_frames(24)
    delays = np.random.default_rng(42).uniform(0.0, 0.03, 64).tolist()
    lanes = LaneBackend(predictor, lanes=3, delays=delays)
    stats = StageTimes()
    out = list(analyse(frames, lanes, AnalysisOptions(batch_size=2), stats=stats))
    ref = list(analyse(frames, LaneBackend(predictor, lanes=1), AnalysisOptions(batch_size=2)))

    assert [f.index for f, _ in out] == list(range(24))  # in order, none dropped
    assert all(f is g for (f, _), g in zip(out, frames, strict=True))
    for (_, a), (_, b) in zip(out, ref, strict=True):
        assert np.array_equal(a.mask, b.mask)
        assert np.allclose(a.prob, b.prob, atol=1e-6)
        assert a.frame_prob == pytest.approx(b.frame_prob, abs=1e-6)
    assert lanes.calls == 12 and all(lanes.lane_flags)  # every call was a lane call
    assert lanes.max_active >= 2  # calls really overlapped
    assert lanes.max_active <= 3  # never more than `lanes` at once
    assert stats.batches == 12 and stats.frames == 24
    assert wait_no_threads() < 5 and not pipeline_threads()


def test_lanes_one_runs_unthreaded_calls(predictor):
    """The same backend with lanes=1 takes the plain path: no lane=True calls, one at a time."""
    backend = LaneBackend(predictor, lanes=1, delays=[0.005])
    out = list(analyse(make_frames(6), backend, AnalysisOptions(batch_size=2)))
    assert [f.index for f, _ in out] == list(range(6))
    assert backend.lane_flags == [False] * 3 and backend.max_active == 1


def test_onnx_lanes_match_one_lane(predictor, monkeypatch):
    """ONNX with 2 lanes (a shared 1-thread session) gives what the every-core session gives."""
    made = []
    real_session = onnx_backend._session

    def session(model, threads, providers=None):
        made.append(threads)
        return real_session(model, threads, providers)

    monkeypatch.setattr(onnx_backend, "_session", session)
    frames = make_frames(10, seed=5)
    one = OnnxBackend(predictor, lanes=1)
    two = OnnxBackend(predictor, lanes=2)
    assert (one.lanes, two.lanes) == (1, 2)
    flags = []
    real_forward = two.forward

    def spy(batch, lane=False):
        flags.append(lane)
        return real_forward(batch, lane=lane)

    two.forward = spy
    made.clear()
    stats = StageTimes()
    a = list(analyse(frames, one, AnalysisOptions(batch_size=2)))
    b = list(analyse(frames, two, AnalysisOptions(batch_size=2), stats=stats))

    assert [f.index for f, _ in b] == list(range(10))
    assert flags == [True] * 5 and stats.batches == 5
    assert made == [1]  # the lanes shared one single-threaded session, made once
    for (_, pa), (_, pb) in zip(a, b, strict=True):
        assert np.abs(pa.prob - pb.prob).max() < 1e-5
        assert pa.frame_prob == pytest.approx(pb.frame_prob, abs=1e-5)
        assert (pa.mask != pb.mask).mean() < 0.01  # only pixels within 1e-5 of the threshold
    assert wait_no_threads() < 5 and not pipeline_threads()


def test_cancel_with_lanes_stops_all_threads(predictor):
    backend = LaneBackend(predictor, lanes=3, delays=[0.05])
    cancel = threading.Event()
    src = CountingSource(make_frames(100))
    got = []
    t0 = time.monotonic()
    for frame, _ in analyse(src, backend, AnalysisOptions(batch_size=1, queue_size=4), cancel=cancel):
        got.append(frame.index)
        if len(got) == 2:
            cancel.set()
    assert got == [0, 1]
    assert time.monotonic() - t0 < 5.0
    assert wait_no_threads() < 5.0 and not pipeline_threads()
    assert backend.active == 0
    assert src.read < 40 and backend.calls < 40  # stopped, did not run through the source


def test_error_in_a_lane_reaches_the_consumer_unchanged(predictor):
    backend = LaneBackend(predictor, lanes=3, delays=[0.01, 0.03, 0.0], fail_on=3)
    seen = []
    with pytest.raises(LaneError, match="lane call 3 exploded") as info:
        for frame, _ in analyse(make_frames(20), backend, AnalysisOptions(batch_size=2)):
            seen.append(frame.index)
    assert info.value is backend.error  # the very object raised in the lane
    assert seen == list(range(len(seen))) and len(seen) < 20
    assert wait_no_threads() < 5.0 and not pipeline_threads()
    assert backend.active == 0


def test_leaving_the_loop_with_lanes_joins_threads(predictor):
    """Like the one-lane path: when the loop is left, no model call started for it still runs.

    Call 1 is quick (frame 0 arrives at ~0.1 s), calls 2 and 3 are then already running;
    call 3 lasts 1.5 s, so it is still in flight when the loop is left unless analyse()
    waits for it.
    """
    backend = LaneBackend(predictor, lanes=3, delays=[0.1, 0.3, 1.5])
    got = []
    for frame, _ in analyse(make_frames(30), backend, AnalysisOptions(batch_size=1)):
        got.append(frame.index)
        break  # the generator is closed here (its only reference is gone)
    assert got == [0]
    assert backend.calls >= 3  # the lanes were busy when the loop was left
    # analyse() waited for the model calls it started: none still runs after the loop
    assert backend.active == 0, f"{backend.active} lane call(s) still running after the loop"
    assert wait_no_threads(2.0) < 2.0 and not pipeline_threads()
    assert backend.calls < 30
