"""analyse(): same results as the per-frame Predictor, in order, bounded, cancellable, loud on errors."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from pipeline_helpers import CountingSource, make_frames, pipeline_threads, wait_no_threads

from polypviewer.engine.media.sources import open_source
from polypviewer.engine.runtime.backends import TorchBackend, forward_adaptive
from polypviewer.engine.runtime.inference import Predictor
from polypviewer.engine.runtime.pipeline import AnalysisOptions, StageTimes, analyse


@pytest.fixture(scope="module")
def predictor(tiny_model_path):
    return Predictor(tiny_model_path, device="cpu")


def test_same_masks_as_per_frame_predictor_in_order(predictor):
    frames = make_frames(7)
    stats = StageTimes()
    out = list(analyse(frames, TorchBackend(predictor), AnalysisOptions(batch_size=3), stats=stats))
    assert [f.index for f, _ in out] == list(range(7))
    for frame, pred in out:
        ref = predictor.predict(frame.rgb)
        assert pred.mask.shape == frame.rgb.shape[:2]
        assert np.array_equal(pred.mask, ref.mask)
        assert np.allclose(pred.prob, ref.prob, atol=1e-5)
        assert pred.frame_prob == pytest.approx(ref.frame_prob, abs=1e-5)
        assert [i.bbox for i in pred.instances] == [i.bbox for i in ref.instances]
    assert stats.frames == 7 and stats.batches == 3
    assert all(stats.seconds[s] > 0 for s in ("decode", "preprocess", "inference", "postprocess"))
    assert wait_no_threads() < 5 and not pipeline_threads()


def test_worker_threads_keep_order_and_results(predictor):
    """Several threads per CPU stage (the GPU setting) must not reorder or change anything."""
    frames = make_frames(11)
    def run(workers):
        options = AnalysisOptions(batch_size=4, workers=workers, keep_prob=False)
        return list(analyse(frames, TorchBackend(predictor), options))

    one, many = run(1), run(3)
    assert [f.index for f, _ in many] == list(range(11))
    for (_, a), (_, b) in zip(one, many, strict=True):
        assert np.array_equal(a.mask, b.mask) and b.prob is None
        assert [i.bbox for i in a.instances] == [i.bbox for i in b.instances]
    assert wait_no_threads() < 5 and not pipeline_threads()


def test_start_stop_and_keep_prob(predictor, tmp_path):
    import cv2

    for f in make_frames(6):
        cv2.imwrite(str(tmp_path / f"{f.name}.png"), f.rgb[..., ::-1])
    with open_source(tmp_path) as src:
        out = list(analyse(src, TorchBackend(predictor), AnalysisOptions(start=2, stop=5, keep_prob=False)))
    assert [f.index for f, _ in out] == [2, 3, 4]
    assert all(p.prob is None and p.mask.shape == f.rgb.shape[:2] for f, p in out)


def test_video_range_uses_sequential_decoding(predictor, tmp_path):
    import cv2

    path = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (128, 96))
    for f in make_frames(8):
        w.write(np.ascontiguousarray(cv2.resize(f.rgb, (128, 96))[..., ::-1]))
    w.release()
    with open_source(path) as src:
        out = list(analyse(src, TorchBackend(predictor), AnalysisOptions(start=3, stop=7, batch_size=3)))
        ref = [src[i] for i in range(3, 7)]
    assert [f.index for f, _ in out] == [3, 4, 5, 6]
    assert all(np.array_equal(f.rgb, r.rgb) for (f, _), r in zip(out, ref))


def test_queues_stay_bounded_with_a_slow_consumer(predictor):
    src = CountingSource(make_frames(40))
    stats = StageTimes()
    gen = analyse(src, TorchBackend(predictor), AnalysisOptions(batch_size=2, queue_size=4), stats=stats)
    next(gen)
    time.sleep(1.0)  # producers run ahead until every queue is full
    # frames queue 4 + batching 2 + 2 batches + 1 in the model + 2 result batches
    # + 1 in post-processing + out queue 4 + 1 handed to us + 1 in the decoder's hand
    bound = 4 + 2 + 2 * 2 + 2 + 2 * 2 + 1 + 4 + 1 + 1
    assert src.read <= bound < 40
    rest = list(gen)
    assert len(rest) == 39
    assert all(stats.queue_peak[k] <= stats.queue_capacity[k] for k in stats.queue_peak)
    assert stats.queue_capacity["frames"] == 4 and stats.queue_peak["frames"] >= 1


def test_cancel_stops_all_threads_promptly(predictor):
    cancel = threading.Event()
    src = CountingSource(make_frames(100))
    got = []
    options = AnalysisOptions(batch_size=2, queue_size=4)
    for frame, _ in analyse(src, TorchBackend(predictor), options, cancel=cancel):
        got.append(frame.index)
        if len(got) == 3:
            cancel.set()
    assert got == [0, 1, 2]
    assert wait_no_threads() < 2.0
    assert src.read < 30


def test_leaving_the_loop_joins_threads(predictor):
    gen = analyse(make_frames(50), TorchBackend(predictor), AnalysisOptions(batch_size=2))
    next(gen)
    gen.close()
    assert not pipeline_threads()


@pytest.mark.parametrize("where", ["decode", "inference", "postprocess", "render"])
def test_errors_reach_the_consumer_unchanged(predictor, where):
    backend = TorchBackend(predictor)
    src = CountingSource(make_frames(12), fail_at=5 if where == "decode" else None)
    render = None
    if where == "inference":
        backend.forward = lambda batch: (_ for _ in ()).throw(RuntimeError("model exploded"))
    elif where == "postprocess":
        def finish(*a, **k):
            raise KeyError("bad box")
        backend.finish = finish
    elif where == "render":
        def render(frame, pred):
            if frame.index == 4:
                raise OSError("disk full")
    expected = {"decode": (ValueError, "cannot decode frame 5"), "inference": (RuntimeError, "model exploded"),
                "postprocess": (KeyError, "bad box"), "render": (OSError, "disk full")}[where]
    seen = []
    with pytest.raises(expected[0], match=expected[1]):
        for frame, _ in analyse(src, backend, AnalysisOptions(batch_size=2), render=render):
            seen.append(frame.index)
    assert seen == list(range(len(seen)))
    assert wait_no_threads() < 2.0


def test_render_stage_sees_every_frame_in_order(predictor):
    drawn = []
    out = list(analyse(make_frames(7), TorchBackend(predictor), AnalysisOptions(batch_size=3),
                       render=lambda f, p: drawn.append(f.index)))
    assert drawn == [f.index for f, _ in out] == list(range(7))


class FlakyBackend:
    """Raises CUDA out-of-memory once for any batch larger than ``limit``."""

    kind = "torch"

    def __init__(self, predictor, limit=2):
        self.inner = TorchBackend(predictor)
        self.predictor, self.limit, self.batch_size, self.calls = predictor, limit, None, []

    def forward(self, batch):
        self.calls.append(len(batch))
        if len(batch) > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.inner.forward(batch)

    def finish(self, *a, **k):
        return self.inner.finish(*a, **k)


def test_out_of_memory_halves_the_batch_and_keeps_every_frame(predictor):
    backend = FlakyBackend(predictor, limit=2)
    frames = make_frames(9)
    out = list(analyse(frames, backend, AnalysisOptions(batch_size=8)))
    assert [f.index for f, _ in out] == list(range(9))
    assert backend.batch_size == 2
    assert backend.calls[:3] == [8, 4, 2]  # halved twice, then remembered
    assert max(backend.calls[3:]) <= 2
    ref = predictor.predict(frames[8].rgb)
    assert np.array_equal(out[8][1].mask, ref.mask)


def test_out_of_memory_on_a_single_frame_is_raised(predictor):
    backend = FlakyBackend(predictor, limit=0)
    backend.batch_size = 4
    with pytest.raises(torch.cuda.OutOfMemoryError):
        forward_adaptive(backend, np.zeros((4, 64, 64, 3), np.uint8))
    assert backend.calls == [4, 2, 1]


def test_model_output_hands_over_model_size_maps_in_order(predictor):
    """The analysis cache takes model-size maps; finishing them gives the normal results."""
    frames = make_frames(7)
    got = []
    out = list(analyse(frames, TorchBackend(predictor), AnalysisOptions(batch_size=3),
                       model_output=lambda f, p, fp, box: got.append((f.index, p, fp, box))))
    assert [f.index for f, _ in out] == list(range(7))
    assert all(pred is None for _, pred in out)
    assert [g[0] for g in got] == list(range(7))
    for (_, prob, fprob, box), frame in zip(got, frames):
        assert prob.shape == (predictor.config.input_size,) * 2
        direct = predictor.predict(frame.rgb)
        finished = predictor.finish(prob, fprob, box)
        assert np.array_equal(finished.mask, direct.mask)
        assert abs(finished.frame_prob - direct.frame_prob) < 1e-5
