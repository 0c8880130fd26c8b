"""Metrics: known values on hand-made masks, the documented empty-mask cases, frame AUC/ROC."""

from __future__ import annotations

import math

import numpy as np
import pytest
import segmentation_models_pytorch as smp
import torch

from polypviewer.engine.metrics import (
    METRICS,
    aggregate,
    confusion_matrix,
    evaluate_masks,
    frame_auc,
    group_mean,
    mean_metrics_at,
    roc_curve,
    segmentation_metrics,
    stack_counts,
    stack_metrics,
)


def _masks():
    gt = np.zeros((10, 10), bool)
    gt[2:6, 2:6] = True  # 16 px
    pred = np.zeros((10, 10), bool)
    pred[4:8, 2:6] = True  # 16 px, 8 overlap
    return pred, gt


def test_known_values():
    pred, gt = _masks()
    m = segmentation_metrics(pred, gt)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (8, 8, 8, 76)
    assert m["dice"] == pytest.approx(0.5)
    assert m["iou"] == pytest.approx(8 / 24)
    assert m["precision"] == pytest.approx(0.5)
    assert m["recall"] == pytest.approx(0.5)
    assert m["f2"] == pytest.approx(0.5)
    assert m["accuracy"] == pytest.approx(84 / 100)
    assert m["specificity"] == pytest.approx(76 / 84)


def test_f2_weights_recall_more_than_precision():
    gt = np.zeros((10, 10), bool)
    gt[:, :4] = True
    over = np.zeros_like(gt)
    over[:, :8] = True  # recall 1, precision 0.5
    under = np.zeros_like(gt)
    under[:, :2] = True  # recall 0.5, precision 1
    a, b = segmentation_metrics(over, gt), segmentation_metrics(under, gt)
    assert a["dice"] == pytest.approx(b["dice"])
    assert a["f2"] > b["f2"]
    assert a["f2"] == pytest.approx(5 * 0.5 * 1 / (4 * 0.5 + 1))


def test_counts_agree_with_smp():
    rng = np.random.default_rng(0)
    pred, gt = rng.random((32, 32)) > 0.5, rng.random((32, 32)) > 0.6
    m = segmentation_metrics(pred, gt)
    tp, fp, fn, tn = smp.metrics.get_stats(torch.from_numpy(pred)[None, None].long(),
                                           torch.from_numpy(gt)[None, None].long(), mode="binary")
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (int(tp), int(fp), int(fn), int(tn))
    assert m["iou"] == pytest.approx(float(smp.metrics.iou_score(tp, fp, fn, tn)))
    assert m["f2"] == pytest.approx(float(smp.metrics.fbeta_score(tp, fp, fn, tn, beta=2)))


def test_both_empty_is_perfect():
    z = np.zeros((8, 8), bool)
    m = segmentation_metrics(z, z)
    for k in METRICS:
        assert m[k] == 1.0, k


def test_false_alarm_on_empty_frame():
    gt = np.zeros((8, 8), bool)
    pred = gt.copy()
    pred[0, 0] = True
    m = segmentation_metrics(pred, gt)
    assert (m["dice"], m["iou"], m["precision"], m["recall"], m["f2"]) == (0, 0, 0, 1, 0)
    assert m["specificity"] == pytest.approx(63 / 64)


def test_missed_polyp_scores_zero_precision():
    """Regression: an empty prediction on an image with a polyp is not 'precise' (was 1)."""
    gt = np.zeros((8, 8), bool)
    gt[2:4, 2:4] = True
    m = segmentation_metrics(np.zeros_like(gt), gt)
    assert (m["dice"], m["iou"], m["precision"], m["recall"], m["f2"]) == (0, 0, 0, 0, 0)
    assert m["specificity"] == 1.0
    # a model that predicts nothing cannot reach a high mean precision on polyp images
    assert aggregate([m, m])["mean"]["precision"] == 0.0


def test_stack_metrics_equal_per_image_metrics_in_every_empty_case():
    rng = np.random.default_rng(5)
    gt = rng.random((6, 12, 12)) > 0.7
    pred = rng.random((6, 12, 12)) > 0.6
    gt[0], pred[0] = False, False  # both empty
    gt[1] = False  # false alarm on an empty frame
    pred[2] = False  # missed polyp
    gt[3], pred[3] = True, True  # polyp over the whole frame
    got = stack_metrics(pred, gt)
    for i in range(6):
        want = segmentation_metrics(pred[i], gt[i])
        for k in METRICS:
            assert got[k][i] == pytest.approx(want[k]), (i, k)
    counts = stack_counts(pred, gt)
    assert counts["fn"][2] == gt[2].sum() and counts["tp"].dtype == np.int64


def test_mean_metrics_at_thresholds_is_the_mean_of_per_image_metrics():
    rng = np.random.default_rng(6)
    probs = rng.random((5, 10, 10)).astype(np.float32)
    gt = rng.random((5, 10, 10)) > 0.5
    gt[4] = False
    rows = mean_metrics_at(probs, gt, [0.3, 0.99])
    assert [r["threshold"] for r in rows] == [0.3, 0.99]
    for r in rows:
        per = [segmentation_metrics(probs[i] >= r["threshold"], gt[i]) for i in range(5)]
        for k in ("dice", "iou", "precision", "recall"):
            assert r[k] == pytest.approx(np.mean([m[k] for m in per]))


def test_group_means_weigh_each_source_alike():
    """Multi-source holdouts: a large source does not drown a small one (training's sweep)."""
    v = np.array([1.0, 1.0, 1.0, 0.0])
    groups = np.array([0, 0, 0, 1])
    assert group_mean(v) == pytest.approx(0.75)
    assert group_mean(v, groups) == pytest.approx(0.5)
    rng = np.random.default_rng(7)
    probs = rng.random((4, 6, 6)).astype(np.float32)
    gt = rng.random((4, 6, 6)) > 0.5
    (row,) = mean_metrics_at(probs, gt, [0.5], keys=("dice",), groups=groups)
    dice = stack_metrics(probs >= 0.5, gt)["dice"]
    assert row["dice"] == pytest.approx((dice[:3].mean() + dice[3]) / 2)


def test_full_frame_polyp_specificity_defined():
    gt = np.ones((4, 4), bool)
    m = segmentation_metrics(gt, gt)
    assert m["specificity"] == 1.0 and m["dice"] == 1.0


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shape"):
        segmentation_metrics(np.zeros((4, 4), bool), np.zeros((4, 5), bool))


def test_evaluate_masks_scores_at_gt_resolution():
    gt = np.zeros((40, 60), bool)
    gt[10:30, 20:40] = True
    small = np.zeros((20, 30), bool)
    small[5:15, 10:20] = True  # same region at half size
    m = evaluate_masks(small, gt)
    assert m["dice"] == pytest.approx(1.0)
    assert m["tp"] + m["fp"] + m["fn"] + m["tn"] == 40 * 60


def test_aggregate_mean_std_micro():
    gt_big = np.zeros((10, 10), bool)
    gt_big[:, :5] = True
    r1 = segmentation_metrics(gt_big, gt_big)  # perfect on a large polyp, 50 px
    gt_small = np.zeros((10, 10), bool)
    gt_small[0, :2] = True
    r2 = segmentation_metrics(np.zeros_like(gt_small), gt_small)  # missed 2 px polyp
    agg = aggregate([r1, r2])
    assert agg["n"] == 2
    assert agg["mean"]["dice"] == pytest.approx(0.5)
    assert agg["std"]["dice"] == pytest.approx(0.5)
    assert agg["mean"]["recall"] == pytest.approx(0.5)
    # pooled pixels: 50 found out of 52
    assert agg["micro"]["recall"] == pytest.approx(50 / 52)
    assert agg["micro"]["precision"] == pytest.approx(1.0)
    assert agg["micro"]["f2"] == pytest.approx(5 * 50 / (5 * 50 + 4 * 2))
    assert agg["micro"]["tp"] == 50


def test_aggregate_empty_and_without_counts():
    assert aggregate([]) == {"n": 0, "mean": {}, "std": {}, "micro": {}}
    agg = aggregate([{"dice": 0.2}, {"dice": 0.4}])
    assert agg["mean"]["dice"] == pytest.approx(0.3)
    assert agg["micro"] == {}


def test_frame_auc_known_and_ties():
    assert frame_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert frame_auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert frame_auc([0, 1], [0.5, 0.5]) == 0.5
    # 3 pos x 2 neg = 6 pairs; correct pairs: 0.7>0.3,0.7>0.6,0.4>0.3, tie 0.6/0.6 half
    assert frame_auc([1, 1, 1, 0, 0], [0.7, 0.6, 0.4, 0.6, 0.3]) == pytest.approx(4.5 / 6)
    assert math.isnan(frame_auc([1, 1], [0.2, 0.3]))


def test_frame_auc_equals_roc_area():
    rng = np.random.default_rng(3)
    y = rng.random(200) > 0.5
    s = np.round(rng.random(200) + y * 0.4, 2)  # rounding creates ties
    fpr, tpr, thr = roc_curve(y, s)
    assert fpr[0] == 0 and tpr[0] == 0 and fpr[-1] == 1 and tpr[-1] == 1
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.all(np.diff(thr) < 0) and thr[0] == np.inf
    assert frame_auc(y, s) == pytest.approx(np.trapezoid(tpr, fpr))


def test_roc_points_match_confusion_matrix():
    y = [0, 1, 0, 1, 1, 0]
    s = [0.1, 0.9, 0.4, 0.4, 0.7, 0.8]
    fpr, tpr, thr = roc_curve(y, s)
    for f, t, th in zip(fpr[1:], tpr[1:], thr[1:], strict=True):
        cm = confusion_matrix(y, s, th)
        assert cm["sensitivity"] == pytest.approx(t)
        assert 1 - cm["specificity"] == pytest.approx(f)


def test_confusion_matrix_counts():
    cm = confusion_matrix([1, 1, 0, 0, 1], [0.9, 0.2, 0.6, 0.1, 0.5], threshold=0.5)
    assert (cm["tp"], cm["fp"], cm["fn"], cm["tn"]) == (2, 1, 1, 1)
    assert cm["sensitivity"] == pytest.approx(2 / 3)
    assert cm["specificity"] == pytest.approx(0.5)
    assert cm["accuracy"] == pytest.approx(3 / 5)


def test_confusion_matrix_precision_follows_the_same_rule():
    nothing_called = confusion_matrix([1, 0], [0.1, 0.2], threshold=0.5)
    assert nothing_called["precision"] == 0.0  # a positive frame was missed
    assert confusion_matrix([0, 0], [0.1, 0.2], threshold=0.5)["precision"] == 1.0


def test_frame_inputs_validated():
    with pytest.raises(ValueError):
        frame_auc([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError):
        roc_curve([0, 1], [0.1])
    with pytest.raises(ValueError):
        confusion_matrix([0, 1], [0.1, float("nan")])
