"""analyse_into(): the one push-style entry point (sinks, the analysis cache, chosen frames)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from pipeline_helpers import CountingSource, make_frames, pipeline_threads, wait_no_threads
from synthetic import write_dataset

from polypviewer.engine.media.sources import open_source
from polypviewer.engine.runtime.backends import TorchBackend
from polypviewer.engine.runtime.inference import Predictor
from polypviewer.engine.runtime.pipeline import (
    AnalysisOptions,
    StoreSink,
    analyse,
    analyse_into,
)
from polypviewer.engine.runtime.results import AnalysisStore


@pytest.fixture(scope="module")
def predictor(tiny_model_path):
    return Predictor(tiny_model_path, device="cpu")


class ListSink:
    def __init__(self):
        self.got, self.flushed, self.threads = [], 0, set()

    def put(self, frame, pred):
        self.threads.add(threading.get_ident())
        self.got.append((frame.index, pred))

    def flush(self):
        self.flushed += 1


def test_sink_gets_what_analyse_yields_on_the_callers_thread(predictor):
    frames = make_frames(7)
    sink = ListSink()
    yielded = [f.index for f in analyse_into(sink, frames, TorchBackend(predictor),
                                             AnalysisOptions(batch_size=3, keep_prob=False))]
    ref = list(analyse(frames, TorchBackend(predictor), AnalysisOptions(batch_size=3)))
    assert yielded == [i for i, _ in sink.got] == list(range(7))
    assert sink.threads == {threading.get_ident()} and sink.flushed == 1
    for (_, got), (_, want) in zip(sink.got, ref, strict=True):
        assert got.prob is None and np.array_equal(got.mask, want.mask)
    assert wait_no_threads() < 5 and not pipeline_threads()


def test_indices_pick_exactly_those_frames_in_that_order(predictor):
    src = CountingSource(make_frames(12))
    sink = ListSink()
    list(analyse_into(sink, src, TorchBackend(predictor), AnalysisOptions(indices=(9, 2, 5))))
    assert [i for i, _ in sink.got] == [9, 2, 5]
    assert src.read == 0  # exact reads, not a sequential pass over the source


def test_store_sink_fills_the_cache_like_the_predictor(predictor, tmp_path):
    with open_source(write_dataset(tmp_path / "ds", n=5)) as src:
        store = AnalysisStore.open(src, predictor, n_frames=len(src), root=tmp_path / "cache")
        done = list(analyse_into(StoreSink(store), src, TorchBackend(predictor),
                                 AnalysisOptions(indices=(1, 3, 4))))
        assert [f.index for f in done] == [1, 3, 4]
        assert [store.has(i) for i in range(5)] == [False, True, False, True, True]
        for i in (1, 3, 4):
            direct = predictor.predict(src[i].rgb)
            cached = store.get(i)
            assert cached.mask.shape == direct.mask.shape
            assert abs(cached.frame_prob - direct.frame_prob) < 1e-5
        # flushed by analyse_into: a second store on the same folder sees the frames
        again = AnalysisStore.open(src, predictor, n_frames=len(src), root=tmp_path / "cache")
        assert [again.has(i) for i in range(5)] == [False, True, False, True, True]


def test_cancel_stops_and_still_flushes(predictor):
    cancel = threading.Event()
    sink = ListSink()
    src = CountingSource(make_frames(60))
    for frame in analyse_into(sink, src, TorchBackend(predictor),
                              AnalysisOptions(batch_size=2, queue_size=4), cancel):
        if frame.index == 2:
            cancel.set()
    assert [i for i, _ in sink.got] == [0, 1, 2] and sink.flushed == 1
    assert wait_no_threads() < 2.0 and src.read < 30


def test_an_error_reaches_the_caller_after_the_flush(predictor):
    sink = ListSink()
    src = CountingSource(make_frames(8), fail_at=5)
    with pytest.raises(ValueError, match="cannot decode frame 5"):
        list(analyse_into(sink, src, TorchBackend(predictor), AnalysisOptions(batch_size=2)))
    seen = [i for i, _ in sink.got]
    assert seen == list(range(len(seen))) and len(seen) <= 5 and sink.flushed == 1


def test_a_predictor_gets_the_backend_named_in_the_options(predictor):
    sink = ListSink()
    list(analyse_into(sink, make_frames(3), predictor, AnalysisOptions(backend="torch")))
    assert len(sink.got) == 3
    with pytest.raises(ValueError, match="unknown backend"):
        list(analyse_into(sink, make_frames(3), predictor, AnalysisOptions(backend="tpu")))
