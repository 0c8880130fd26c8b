"""Each compare view renders GT and prediction where they are; blink; linked zoom; polyp list."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from polypviewer.engine.export import overlay
from polypviewer.engine.runtime.inference import from_probability
from polypviewer.gui.annotate.compare_view import CompareView


@pytest.fixture
def view(qtbot):
    v = CompareView()
    qtbot.addWidget(v)
    v.resize(800, 500)
    v.show()
    rgb = np.full((100, 140, 3), 90, np.uint8)
    gt = np.zeros((100, 140), bool)
    gt[20:60, 20:60] = True  # found (overlaps the prediction)
    gt[70:90, 100:130] = True  # missed
    prob = np.zeros((100, 140), np.float32)
    prob[30:70, 30:70] = 0.9
    prob[5:15, 110:135] = 0.8  # false alarm
    v.set_data(rgb, gt, from_probability(prob, 0.9, 0.5, 0.0))
    return v


def _has(img, colour, region):
    y0, y1, x0, x1 = region
    diff = np.abs(img[y0:y1, x0:x1].astype(int) - np.array(colour)).max(axis=2)
    return (diff <= 30).any()  # contours are antialiased


def test_pixels_view_colours_tp_fp_fn(view):
    view.opacity = 1.0
    view.set_mode("pixels")
    img = view.image_item.image
    assert tuple(img[40, 40]) == overlay.BLUISH_GREEN  # TP
    assert tuple(img[65, 65]) == overlay.VERMILLION  # FP (prediction only)
    assert tuple(img[25, 25]) == overlay.BLUE  # FN (GT only)
    assert tuple(img[80, 115]) == overlay.BLUE  # missed polyp
    assert tuple(img[95, 5]) == (90, 90, 90)  # background untouched


def test_contour_view_draws_both_contours(view):
    view.set_mode("contours")
    img = view.image_item.image
    assert _has(img, overlay.SKY_BLUE, (17, 23, 20, 60))  # GT top edge near y=20
    assert _has(img, overlay.YELLOW, (27, 33, 30, 70))  # prediction top edge near y=30
    assert tuple(img[45, 45]) == (90, 90, 90)  # inside: only contours, no fill


def test_side_by_side_linked_and_blink(view, qtbot):
    view.set_mode("side")
    assert view.stack.currentIndex() == 1
    left, right = view.left_item.image, view.right_item.image
    assert not np.array_equal(left[25, 25], [90, 90, 90]) and np.array_equal(right[25, 25], [90, 90, 90])
    assert np.array_equal(left[65, 65], [90, 90, 90]) and not np.array_equal(right[65, 65], [90, 90, 90])
    view.left_vb.setRange(xRange=(10, 40), yRange=(10, 40), padding=0)
    left_x, right_x = view.left_vb.viewRange()[0], view.right_vb.viewRange()[0]
    assert left_x[0] <= 10.5 and left_x[1] >= 39.5 and left_x[1] - left_x[0] < 100  # zoomed in
    assert np.allclose(right_x, left_x, atol=0.5)  # the other side follows
    view.set_mode("contours")
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_B)
    assert view.blink_state == "gt"
    gt_img = view.image_item.image.copy()
    QTest.keyClick(view, Qt.Key.Key_B)
    assert view.blink_state == "pred"
    pred_img = view.image_item.image
    assert not np.array_equal(gt_img[25, 25], [90, 90, 90]) and np.array_equal(pred_img[25, 25], [90, 90, 90])
    assert not np.array_equal(pred_img[65, 65], [90, 90, 90])
    QTest.keyClick(view, Qt.Key.Key_Escape)
    assert view.blink_state is None


def test_polyp_view_lists_found_missed_false_alarms(view):
    view.set_mode("polyps")
    texts = [view.polyp_list.item(i).text() for i in range(view.polyp_list.count())]
    assert sum(t.startswith("found") for t in texts) == 1
    assert sum(t.startswith("missed") for t in texts) == 1
    assert sum(t.startswith("false alarm") for t in texts) == 1
    img = view.image_item.image
    assert _has(img, overlay.BLUISH_GREEN, (18, 24, 18, 62))  # found box edge
    assert _has(img, overlay.BLUE, (68, 74, 98, 132))  # missed box edge
    assert _has(img, overlay.VERMILLION, (3, 9, 108, 137))  # false alarm box edge
    view.polyp_list.setCurrentRow(1)  # zooms to the missed polyp
    xr = view.vb.viewRange()[0]
    assert xr[0] > 50 and xr[1] < 170


def test_image_without_mask_shows_prediction_only(qtbot):
    v = CompareView()
    qtbot.addWidget(v)
    rgb = np.full((50, 60, 3), 90, np.uint8)
    prob = np.zeros((50, 60), np.float32)
    prob[10:30, 10:30] = 0.9
    v.set_data(rgb, None, from_probability(prob, 0.9, 0.5, 0.0))
    for mode in ("contours", "pixels", "side", "polyps"):
        v.set_mode(mode)
    assert "no ground-truth" in v.message.text()


def test_ground_truth_speck_is_listed_as_speck_not_missed(qtbot):
    v = CompareView()
    qtbot.addWidget(v)
    rgb = np.full((100, 140, 3), 90, np.uint8)
    gt = np.zeros((100, 140), bool)
    gt[20:60, 20:60] = True
    gt[95, 5] = True  # a JPEG speck, 1 px < 0.1 % of 14000 px
    prob = np.zeros((100, 140), np.float32)
    prob[22:60, 22:60] = 0.9
    v.set_data(rgb, gt, from_probability(prob, 0.9, 0.5, 0.001))
    v.set_mode("polyps")
    items = [v.polyp_list.item(i).text() for i in range(v.polyp_list.count())]
    assert not any(t.startswith("missed") for t in items)
    assert any(t.startswith("speck · 1 px") for t in items)
    assert "1 true polyp(s): 1 found, 0 missed" in v.message.text()
    assert "speck" in v.message.text()
    v.set_data(rgb, gt, from_probability(prob, 0.9, 0.5, 0.0))  # the prediction's rule applies
    assert "2 true polyp(s): 1 found, 1 missed" in v.message.text()


def _mean_rgb(widget) -> np.ndarray:
    img = widget.grab().toImage().convertToFormat(widget.grab().toImage().Format.Format_RGB888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    return arr[:, : img.width() * 3].reshape(img.height(), img.width(), 3).mean(axis=(0, 1))


def test_active_compare_mode_and_unchecked_boxes_are_visible(qtbot):
    from PySide6.QtWidgets import QCheckBox

    from polypviewer.gui.app import make_app

    make_app()  # the app's theme
    v = CompareView()
    qtbot.addWidget(v)
    v.show()
    v.set_mode("side")
    on, off = _mean_rgb(v.mode_buttons["side"]), _mean_rgb(v.mode_buttons["contours"])
    assert np.abs(on - off).max() > 40  # the active mode stands out
    box = QCheckBox("")
    qtbot.addWidget(box)
    box.resize(20, 20)
    box.show()
    img = box.grab().toImage()
    edge = max(max(img.pixelColor(x, y).getRgb()[:3]) for x in range(img.width()) for y in range(img.height()))
    assert edge > 110  # an unchecked box has an outline, not just the dark panel


def test_sweep_axis_reads_thresholds_not_si_scaled(qtbot):
    from polypviewer.gui.annotate.summary import SummaryPanel

    p = SummaryPanel()
    qtbot.addWidget(p)
    assert not p.sweep_plot.getAxis("bottom").autoSIPrefix
    p.sweep_plot.setXRange(0.70, 0.95)
    assert "0.001" not in p.sweep_plot.getAxis("bottom").labelString()
