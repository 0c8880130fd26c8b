"""Overlays: never touch the input, draw each layer in its documented colour."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from polypviewer.engine.export.overlay import (
    DEFAULT_STYLE,
    OverlayStyle,
    blend_heatmap,
    compare_overlay,
    draw_overlay,
    verdict_text,
)
from polypviewer.engine.runtime.inference import from_probability


def _frame(h=120, w=160):
    rgb = np.full((h, w, 3), (150, 70, 60), np.uint8)
    prob = np.zeros((h, w), np.float32)
    cv2.circle(prob, (60, 60), 25, 0.9, -1)
    return rgb, from_probability(prob, 0.97, 0.5)


def _blend(base, colour, alpha):
    return np.asarray(base) * (1 - alpha) + np.asarray(colour) * alpha


def test_input_is_not_modified_and_shape_kept():
    rgb, pred = _frame()
    before = rgb.copy()
    gt = np.zeros(rgb.shape[:2], bool)
    gt[40:80, 40:90] = True
    out = draw_overlay(rgb, pred, gt_mask=gt, heatmap=np.random.rand(8, 8), track_ids=[4])
    assert np.array_equal(rgb, before)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert not np.array_equal(out, rgb)
    cmp = compare_overlay(rgb, pred.mask, gt)
    assert np.array_equal(rgb, before) and cmp.shape == rgb.shape


def test_mask_fill_is_blended_prediction_colour_and_outside_untouched():
    rgb, pred = _frame()
    out = draw_overlay(rgb, pred, style=DEFAULT_STYLE.only("mask"))
    expected = _blend(rgb[60, 60], DEFAULT_STYLE.mask_colour, DEFAULT_STYLE.opacity)
    assert np.abs(out[60, 60].astype(float) - expected).max() <= 1.5
    assert np.array_equal(out[5, 150], rgb[5, 150])  # far from the polyp


def test_contours_boxes_and_gt_use_their_colours():
    rgb, pred = _frame()
    gt = np.zeros(rgb.shape[:2], bool)
    gt[20:50, 100:140] = True
    out = draw_overlay(rgb, pred, style=DEFAULT_STYLE.only("contours", "gt"), gt_mask=gt)
    px = out.reshape(-1, 3).astype(int)
    for colour in (DEFAULT_STYLE.contour_colour, DEFAULT_STYLE.gt_colour):
        assert (np.abs(px - colour).max(axis=1) <= 12).sum() >= 20  # anti-aliased lines
    assert np.array_equal(out[60, 60], rgb[60, 60])  # contours only: the inside is untouched
    boxed = draw_overlay(rgb, pred, style=DEFAULT_STYLE.only("boxes"))
    x0, y0, x1, y1 = pred.instances[0].bbox
    assert tuple(boxed[(y0 + y1) // 2, x0]) == DEFAULT_STYLE.box_colour


def test_labels_show_track_ids_and_badge_verdict():
    rgb, pred = _frame()
    style = DEFAULT_STYLE.only("labels")
    with_id = draw_overlay(rgb, pred, style=style, track_ids=[7])
    without = draw_overlay(rgb, pred, style=style)
    assert not np.array_equal(with_id, without)
    assert verdict_text(pred) == "Polyp 0.97 | 1 polyp"
    empty = from_probability(np.zeros((120, 160), np.float32), 0.1, 0.5)
    assert verdict_text(empty) == "No polyp"
    badge = draw_overlay(rgb, empty, style=DEFAULT_STYLE.only("badge"))
    assert not np.array_equal(badge[:30, :120], rgb[:30, :120])
    assert np.array_equal(badge[60:, :], rgb[60:, :])


def test_bare_mask_without_instances_is_drawn():
    rgb = np.full((50, 50, 3), 90, np.uint8)
    mask = np.zeros((50, 50), bool)
    mask[10:30, 10:30] = True
    bare = SimpleNamespace(mask=mask, instances=[])
    out = draw_overlay(rgb, bare, style=DEFAULT_STYLE.only("mask", "contours"))
    assert not np.array_equal(out[20, 20], rgb[20, 20]) and np.array_equal(out[40, 40], rgb[40, 40])


def test_compare_overlay_colours_tp_fp_fn():
    rgb = np.full((60, 90, 3), 100, np.uint8)
    pred = np.zeros((60, 90), bool)
    gt = np.zeros((60, 90), bool)
    pred[10:30, 10:50] = True
    gt[10:30, 30:70] = True
    out = compare_overlay(rgb, pred, gt, opacity=0.5)
    for (y, x), colour in (((20, 40), DEFAULT_STYLE.tp_colour), ((20, 15), DEFAULT_STYLE.fp_colour),
                           ((20, 65), DEFAULT_STYLE.fn_colour)):
        assert np.abs(out[y, x].astype(float) - _blend(rgb[y, x], colour, 0.5)).max() <= 1.5
    assert np.array_equal(out[50, 5], rgb[50, 5])
    with pytest.raises(ValueError):
        compare_overlay(rgb, pred[:10], gt)


def test_heatmap_colormaps_and_line_width_scale():
    rgb = np.zeros((100, 100, 3), np.uint8)
    heat = np.tile(np.linspace(0, 1, 10, dtype=np.float32), (10, 1))
    jet = blend_heatmap(rgb, heat, 1.0, "jet")
    turbo = blend_heatmap(rgb, heat, 1.0, "turbo")
    assert jet.shape == rgb.shape and not np.array_equal(jet, turbo)
    assert jet[50, 0, 2] > jet[50, 0, 0] and jet[50, 99, 0] > jet[50, 99, 2]  # blue low, red high
    with pytest.raises(ValueError):
        blend_heatmap(rgb, heat, 0.5, "rainbow")
    style = OverlayStyle(line_width=2)
    assert style.thickness((2160, 3840)) > style.thickness((480, 640)) >= 1
    with pytest.raises(ValueError):
        style.only("nonsense")
