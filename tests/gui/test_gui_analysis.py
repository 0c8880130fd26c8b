"""Analysis in the background: progress, cancel, cache reuse, threshold without re-inference."""

from __future__ import annotations

import threading

import numpy as np
from gui_helpers import SLOW, open_and_wait
from PySide6.QtCore import Qt

from polypviewer.engine.runtime import pipeline
from polypviewer.engine.runtime.backends import TorchBackend
from polypviewer.engine.runtime.inference import Predictor


class GatedBackend(TorchBackend):
    """Each model call waits for a permit: the test decides how far the analysis gets."""

    def __init__(self, predictor):
        super().__init__(predictor)
        self.permits = threading.Semaphore(0)
        self.calls = 0

    def forward(self, batch, lane=False):
        self.calls += 1
        assert self.permits.acquire(timeout=60), "the test never let this batch through"
        return super().forward(batch, lane)

    def open(self, n: int = 10_000) -> None:
        for _ in range(n):
            self.permits.release()


def gate_analysis(monkeypatch) -> list[GatedBackend]:
    """The backends the analysis pipeline makes from now on are gated (see GatedBackend)."""
    made = []

    def make(predictor, kind="auto", **_kw):
        made.append(GatedBackend(predictor))
        return made[-1]

    monkeypatch.setattr(pipeline, "make_backend", make)
    return made


def count_model_runs(monkeypatch) -> list[str]:
    """Every model call from now on: the analysis pipeline's backends and live prediction."""
    calls = []
    forward, make = Predictor.forward, pipeline.make_backend

    def counted_forward(self, batch):
        calls.append("live")
        return forward(self, batch)

    def counted_make(predictor, kind="auto", **kw):
        calls.append("analysis")
        return make(predictor, kind, **kw)

    monkeypatch.setattr(Predictor, "forward", counted_forward)
    monkeypatch.setattr(pipeline, "make_backend", counted_make)
    return calls


def test_analyse_progress_then_cached_on_reopen(qtbot, make_window, video, monkeypatch):
    win = open_and_wait(qtbot, make_window(), video)
    progress = []
    win.review.analysis_progress.connect(progress.append)
    with qtbot.waitSignal(win.review.analysis_finished, timeout=SLOW) as blocker:
        qtbot.keyClick(win, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert blocker.args == ["done"]
    assert progress and progress[-1].done == 40 and progress[-1].total == 40
    assert all(p.fps > 0 for p in progress)
    probs = win.review.store.frame_probs
    assert np.isfinite(probs).all()
    curve_x, curve_y = win.timeline.prob_curve.getData()
    assert len(curve_y) == 40 and np.allclose(curve_y, probs, atol=1e-6)

    win.open_path("/nonexistent/file.mp4")  # switch away, then back: cache, no model run
    qtbot.waitUntil(lambda: bool(win.last_error), timeout=SLOW)
    calls = count_model_runs(monkeypatch)
    open_and_wait(qtbot, win, video, frame=33)
    qtbot.waitUntil(lambda: win.review.prediction is not None, timeout=SLOW)
    assert win.review.store.complete and calls == []
    assert not win.review.analysing()


def test_cancel_keeps_partial_results(qtbot, make_window, video, monkeypatch):
    win = open_and_wait(qtbot, make_window(), video)
    backends = gate_analysis(monkeypatch)
    win.review.start_analysis()
    assert win.progress.isVisible() and win.cancel_button.isVisible()
    qtbot.waitUntil(lambda: bool(backends) and backends[0].calls == 1, timeout=SLOW)
    backends[0].open(1)  # one batch, then the model waits
    qtbot.waitUntil(lambda: len(win.review.store) > 0, timeout=SLOW)
    with qtbot.waitSignal(win.review.analysis_finished, timeout=SLOW) as blocker:
        qtbot.mouseClick(win.cancel_button, Qt.MouseButton.LeftButton)
        backends[0].open()  # the call in progress ends; nothing after it starts
    assert blocker.args == ["cancelled"]
    assert 0 < len(win.review.store) < 40 and not win.review.store.complete
    assert not win.progress.isVisible()


def test_threshold_rethresholds_without_inference(qtbot, make_window, video, monkeypatch):
    win = open_and_wait(qtbot, make_window(), video, frame=4)
    qtbot.waitUntil(lambda: win.review.prediction is not None, timeout=SLOW)
    calls = count_model_runs(monkeypatch)
    prob = win.review.prediction.prob
    for value in (0.05, 0.95, 0.4):
        win.controls.threshold.setValue(int(value * 100))
        qtbot.waitUntil(lambda v=value: abs(win.review.prediction.threshold - v) < 1e-6, timeout=SLOW)
        assert np.array_equal(win.review.prediction.mask, prob >= value) or win.review.min_area > 0
        assert win.review.prediction.prob is prob  # same cached map, re-thresholded
    low = win.review.prediction.rethreshold(0.0, 0.0).mask.sum()
    assert low == prob.size
    assert calls == []


def test_overlay_toggles(qtbot, make_window, video):
    win = open_and_wait(qtbot, make_window(), video)
    fill = win.view.layers["mask"]
    assert fill.visible and fill.item.isVisible()
    qtbot.keyClick(win, Qt.Key.Key_M)
    assert not fill.visible and not fill.item.isVisible()
    assert not win.controls.rows["mask"].check.isChecked()
    win.controls.rows["mask"].check.setChecked(True)
    assert fill.item.isVisible() and win.layer_actions["mask"].isChecked()
    win.controls.rows["boxes"].opacity.setValue(40)
    assert abs(win.view.layers["boxes"].item.opacity() - 0.4) < 1e-6
    qtbot.keyClick(win, Qt.Key.Key_G)  # Grad-CAM computed in a worker for the shown frame
    qtbot.waitUntil(lambda: win.view.layers["gradcam"].has_data, timeout=SLOW)
    heat = win.view.layers["gradcam"].item.image
    assert heat.shape == win.view.frame.shape[:2] and 0 <= heat.min() and heat.max() <= 1


def test_findings_list_click_jumps(qtbot, make_window, video):
    from dataclasses import replace

    win = open_and_wait(qtbot, make_window(), video)
    win.controls.set_threshold(0.02)  # random tiny model: everything is "polyp" ...
    win.review.set_threshold(0.02)
    win.review.findings.tracking = replace(win.review.findings.tracking, enter_confidence=0.0)  # ... and counts
    with qtbot.waitSignal(win.review.analysis_finished, timeout=SLOW):
        win.review.start_analysis()
    qtbot.waitUntil(lambda: win.findings.list.count() > 0, timeout=SLOW)
    finding = win.findings.findings[0]
    item = win.findings.list.item(0)
    rect = win.findings.list.visualItemRect(item)
    qtbot.mouseClick(win.findings.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: win.review.shown == finding.best_index, timeout=SLOW)
    assert "Finding #1" in item.text()
    assert not item.icon().isNull()  # best-frame thumbnail
    win.review.seek(0)
    qtbot.waitUntil(lambda: win.review.shown == 0, timeout=SLOW)
    if finding.best_index > 0:
        qtbot.keyClick(win, Qt.Key.Key_N)
        qtbot.waitUntil(lambda: win.review.shown == finding.best_index, timeout=SLOW)


def test_feature_maps_dock(qtbot, make_window, video):
    win = open_and_wait(qtbot, make_window(), video)
    win.feature_dock.show()
    win.feature_dock.raise_()
    qtbot.waitUntil(lambda: win.features.shown_stages == (2, 4), timeout=SLOW)
    assert len(win.features.images) == 2


def test_close_during_analysis(qtbot, make_window, video, monkeypatch):
    """Closing cancels; the window closes once the model call in progress has returned."""
    from polypviewer.gui.workers import running_threads

    win = open_and_wait(qtbot, make_window(), video)
    backends = gate_analysis(monkeypatch)
    win.review.start_analysis()
    qtbot.waitUntil(lambda: bool(backends) and backends[0].calls == 1, timeout=SLOW)
    backends[0].open(1)
    qtbot.waitUntil(lambda: len(win.review.store) > 0 and backends[0].calls >= 2, timeout=SLOW)
    closed = []
    win.closed.connect(lambda: closed.append(True))
    win.close()  # returns at once: the analysis thread is still in a model call
    assert not win.review.analysing() and not win.isVisible()
    qtbot.wait(200)
    assert not closed and any(t.name == "pv-analysis" for t in running_threads())
    predictor = win.review.predictor
    backends[0].open()
    qtbot.waitUntil(lambda: bool(closed), timeout=SLOW)
    assert not running_threads()
    from polypviewer.engine.media.sources import open_source
    from polypviewer.engine.runtime.results import AnalysisStore

    with open_source(str(video)) as src:  # written to disk once the worker had ended
        assert 0 < len(AnalysisStore.open(src, predictor, n_frames=40)) < 40


def test_analysis_up_to_the_last_frame_is_complete(qtbot, make_window, video):
    win = open_and_wait(qtbot, make_window(), video)
    with qtbot.waitSignal(win.review.analysis_finished, timeout=SLOW) as blocker:
        win.review.start_analysis(stop=win.review.n)
    assert blocker.args == ["done"]
    assert win.review.store.complete and len(win.review.store) == win.review.n


def test_partial_analysis_is_not_reported_complete(qtbot, make_window, video):
    win = open_and_wait(qtbot, make_window(), video)
    with qtbot.waitSignal(win.review.analysis_finished, timeout=SLOW) as blocker:
        win.review.start_analysis(stop=10)
    assert blocker.args == ["partial"]
    assert not win.review.store.complete
    done = int(np.isfinite(win.review.store.frame_probs).sum())
    assert 10 <= done < 40
    assert win.statusBar().currentMessage() == f"Analysed {done} of 40 frames"
