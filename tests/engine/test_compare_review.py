"""engine.analysis.compare (polyp matching, rows, sweep, PR) and engine.models.model_settings."""

from __future__ import annotations

import json
import math

import numpy as np

from polypviewer.engine.analysis.compare import image_row, match_instances, pr_curve, summary, threshold_sweep
from polypviewer.engine.metrics import segmentation_metrics
from polypviewer.engine.models import model_settings
from polypviewer.engine.runtime.inference import from_probability


def _masks():
    gt = np.zeros((60, 80), bool)
    gt[5:25, 5:25] = True  # found
    gt[40:55, 60:75] = True  # missed
    pred = np.zeros((60, 80), bool)
    pred[8:28, 8:28] = True
    pred[40:50, 5:15] = True  # false alarm
    return gt, pred


def test_match_found_missed_false_alarm():
    gt, pred = _masks()
    m = match_instances(gt, pred)
    assert len(m.found) == 1 and len(m.missed) == 1 and len(m.false_alarms) == 1
    g, p, iou = m.found[0]
    assert g.bbox == (5, 5, 25, 25) and p.bbox == (8, 8, 28, 28)
    assert abs(iou - (17 * 17) / (400 + 400 - 17 * 17)) < 1e-9
    assert m.missed[0].bbox == (60, 40, 75, 55)
    assert m.false_alarms[0].bbox == (5, 40, 15, 50)


def test_fragment_of_found_polyp_is_not_false_alarm():
    gt = np.zeros((40, 40), bool)
    gt[5:35, 5:35] = True
    pred = np.zeros((40, 40), bool)
    pred[5:35, 5:18] = True
    pred[5:35, 22:35] = True
    m = match_instances(gt, pred)
    assert len(m.found) == 1 and not m.missed and not m.false_alarms


def test_empty_cases():
    z = np.zeros((10, 10), bool)
    m = match_instances(z, z)
    assert not (m.found or m.missed or m.false_alarms)
    one = z.copy()
    one[2:5, 2:5] = True
    assert len(match_instances(one, z).missed) == 1
    assert len(match_instances(z, one).false_alarms) == 1


def test_image_row_and_summary():
    gt, pred = _masks()
    prob = pred.astype(np.float32) * 0.9
    fp = from_probability(prob, 0.8, 0.5, 0.0)
    row = image_row(3, "x", fp, gt)
    m = segmentation_metrics(fp.mask, gt)
    assert row.dice == m["dice"] and row.n_true == 2 and row.n_pred == 2
    assert (row.found, row.missed, row.false_alarms) == (1, 1, 1)
    assert row.verdict and abs(row.polyp_fraction - gt.mean()) < 1e-12
    no = image_row(4, "y", fp, None)
    assert not no.has_mask and math.isnan(no.dice) and no.missed is None
    agg = summary([row, no])
    assert agg["n"] == 1 and agg["mean"]["dice"] == m["dice"]


def test_sweep_uses_postprocessing_and_skips_unlabelled():
    rng = np.random.default_rng(0)
    gt = np.zeros((50, 50), bool)
    gt[10:30, 10:30] = True
    prob = np.clip(gt * 0.7 + rng.random((50, 50)) * 0.4, 0, 1).astype(np.float32)
    ts = [0.3, 0.5, 0.8]
    s = threshold_sweep([(prob, 0.9, gt), (prob, 0.9, None)], ts, 0.001)
    assert s.n_images == 1
    for j, t in enumerate(ts):
        want = segmentation_metrics(from_probability(prob, 0.9, t, 0.001).mask, gt)
        assert s.dice[j] == want["dice"] and s.recall[j] == want["recall"]
    assert s.best_threshold in ts


def test_pr_curve():
    p, r = pr_curve(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1]))
    assert np.allclose(r, [0, 0.5, 0.5, 1, 1])
    assert np.allclose(p, [1, 1, 0.5, 2 / 3, 0.5])


class _Loaded:
    name = "my model/v1"
    threshold = 0.5


def test_model_settings_user_copy(tmp_path):
    loaded = _Loaded()
    assert model_settings.effective_threshold(loaded) == 0.5
    path = model_settings.save_threshold(loaded.name, 0.42)
    assert path.parent.name == "models" and path.name == "my_model_v1.json"
    assert json.loads(path.read_text())["threshold"] == 0.42
    assert model_settings.effective_threshold(loaded) == 0.42
    path.write_text("not json")
    assert model_settings.effective_threshold(loaded) == 0.5


def _polyp_and_speck():
    gt = np.zeros((100, 100), bool)
    gt[20:50, 20:50] = True
    gt[80, 80] = True  # a 1-px JPEG speck: 0.01 % of the image
    pred = np.zeros((100, 100), bool)
    pred[22:50, 22:50] = True
    return gt, pred


def test_ground_truth_specks_follow_the_prediction_minimum_area():
    gt, pred = _polyp_and_speck()
    m = match_instances(gt, pred, min_area_fraction=0.001)  # 10 px here
    assert m.min_area == 10
    assert len(m.true) == 1 and len(m.found) == 1 and not m.missed
    assert [r.area for r in m.ignored] == [1]
    strict = match_instances(gt, pred, min_area_fraction=0.0)  # the rule is configurable
    assert len(strict.true) == 2 and len(strict.missed) == 1 and not strict.ignored
    big = match_instances(gt, pred, min_area_fraction=0.2)  # both polyps under 2000 px
    assert not big.true and not big.pred and len(big.ignored) == 2


def test_image_row_counts_ground_truth_with_the_predictions_rule():
    gt, pred = _polyp_and_speck()
    prob = pred.astype(np.float32) * 0.9
    row = image_row(0, "x", from_probability(prob, 0.9, 0.5, 0.001), gt)
    assert (row.n_true, row.found, row.missed, row.gt_specks) == (1, 1, 0, 1)
    assert row.dice < 1.0 and math.isclose(row.polyp_fraction, gt.mean())  # pixels keep the speck
    row0 = image_row(0, "x", from_probability(prob, 0.9, 0.5, 0.0), gt)
    assert (row0.n_true, row0.missed, row0.gt_specks) == (2, 1, 0)
