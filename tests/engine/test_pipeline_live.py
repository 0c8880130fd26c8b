"""LiveAnalyser: newest frame wins, stale frames are skipped, results match the Predictor."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from synthetic import synthetic_frame

from polypviewer.engine.media.sources import Frame
from polypviewer.engine.runtime.backends import TorchBackend
from polypviewer.engine.runtime.inference import Predictor
from polypviewer.engine.runtime.pipeline import LiveAnalyser


@pytest.fixture(scope="module")
def predictor(tiny_model_path):
    return Predictor(tiny_model_path, device="cpu")


def frame(i: int) -> Frame:
    rgb, _ = synthetic_frame(np.random.default_rng(i))
    return Frame(i, i / 25, rgb, f"f{i}")


class GatedBackend(TorchBackend):
    """Blocks in forward until released, to make 'frames arrive faster than inference' exact."""

    def __init__(self, predictor):
        super().__init__(predictor)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.seen = []

    def forward(self, batch):
        self.entered.set()
        assert self.gate.wait(5)
        return super().forward(batch)


def test_latest_wins_and_stale_frames_are_skipped(predictor):
    backend = GatedBackend(predictor)
    results = []
    with LiveAnalyser(backend, on_result=lambda f, p: results.append(f.index)) as live:
        live.submit(frame(0))
        assert backend.entered.wait(5)  # frame 0 is in the model
        for i in range(1, 6):
            live.submit(frame(i))  # 1..4 are replaced before the model is free
        backend.gate.set()
        assert live.wait_idle(10)
        assert results == [0, 5]
        assert live.skipped == 4 and live.done == 2
        f, pred = live.latest()
        assert f.index == 5
        ref = predictor.predict(frame(5).rgb)
        assert np.array_equal(pred.mask, ref.mask)
        assert pred.frame_prob == pytest.approx(ref.frame_prob, abs=1e-5)
    assert not live._thread.is_alive()


def test_errors_are_raised_on_the_next_call(predictor):
    backend = TorchBackend(predictor)

    def boom(batch):
        raise RuntimeError("model exploded")

    backend.forward = boom
    live = LiveAnalyser(backend)
    live.submit(frame(0))
    assert live.wait_idle(5)
    with pytest.raises(RuntimeError, match="model exploded"):
        live.submit(frame(1))
    live.close()
    assert not live._thread.is_alive()
