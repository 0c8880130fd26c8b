"""Analysis in the background: progress, cancel, cache reuse, threshold without re-inference."""

from __future__ import annotations

import time

import numpy as np
from gui_helpers import SLOW, open_and_wait
from PySide6.QtCore import Qt


def count_forward(monkeypatch, predictor, delay: float = 0.0) -> list[int]:
    calls = []
    original = predictor.forward

    def forward(batch):
        calls.append(len(batch))
        if delay:
            time.sleep(delay)
        return original(batch)

    monkeypatch.setattr(predictor, "forward", forward)
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
    calls = count_forward(monkeypatch, win.review.predictor)
    open_and_wait(qtbot, win, video, frame=33)
    qtbot.waitUntil(lambda: win.review.prediction is not None, timeout=SLOW)
    assert win.review.store.complete and calls == []
    assert not win.review.analysing()


def test_cancel_keeps_partial_results(qtbot, make_window, video, monkeypatch):
    win = open_and_wait(qtbot, make_window(), video)
    count_forward(monkeypatch, win.review.predictor, delay=0.3)
    win.act_analyse()
    assert win.progress.isVisible() and win.cancel_button.isVisible()
    with qtbot.waitSignal(win.review.analysis_finished, timeout=SLOW) as blocker:
        qtbot.waitUntil(lambda: len(win.review.store) > 0, timeout=SLOW)
        qtbot.mouseClick(win.cancel_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["cancelled"]
    assert 0 < len(win.review.store) < 40 and not win.review.store.complete
    assert not win.progress.isVisible()


def test_threshold_rethresholds_without_inference(qtbot, make_window, video, monkeypatch):
    win = open_and_wait(qtbot, make_window(), video, frame=4)
    qtbot.waitUntil(lambda: win.review.prediction is not None, timeout=SLOW)
    calls = count_forward(monkeypatch, win.review.predictor)
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
    win.review.tracking = replace(win.review.tracking, enter_confidence=0.0)  # ... and counts
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
    win = open_and_wait(qtbot, make_window(), video)
    count_forward(monkeypatch, win.review.predictor, delay=0.2)
    win.review.start_analysis()
    qtbot.waitUntil(lambda: len(win.review.store) > 0, timeout=SLOW)
    assert win.review.analysing()
    win.close()  # must stop and join every worker (the fixture checks no thread is left)
    assert not win.review.analysing()


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
