"""The frame verdict's operating point: the choosing rule and its one resolution."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from synthetic import TINY, synthetic_frame

from polypviewer.engine.errors import ModelFileError
from polypviewer.engine.models.factory import create_model
from polypviewer.engine.models.modelfile import load_model, save_model
from polypviewer.engine.models.operating_point import (
    DEFAULT_FRAME_THRESHOLD,
    choose_frame_threshold,
    choose_frame_threshold_over,
    resolve_frame_threshold,
)
from polypviewer.engine.runtime.inference import Predictor


def test_rule_keeps_the_specificity_floor_on_negatives():
    rng = np.random.default_rng(0)
    neg = rng.uniform(0, 1, 200)
    pos = rng.uniform(0.5, 1, 100)
    op = choose_frame_threshold(neg, pos, min_specificity=0.97)
    t = op["frame_threshold"]
    assert (neg >= t).sum() == 6  # floor(3 % of 200) false alarms allowed, not one more
    assert op["specificity"] == pytest.approx(0.97)
    assert op["sensitivity"] == pytest.approx(float((pos >= t).mean()))
    lower = np.sort(neg)[::-1][6]  # any lower threshold adds a false alarm
    assert t > lower and (neg >= lower).sum() == 7
    strict = choose_frame_threshold(neg, pos, min_specificity=1.0)
    assert (neg >= strict["frame_threshold"]).sum() == 0
    with pytest.raises(ValueError, match="negative and positive"):
        choose_frame_threshold([], pos)


def test_separable_scores_get_a_point_with_margin_to_both_floors():
    neg = np.r_[np.linspace(0.001, 0.03, 99), 0.5]  # crops: nearly all far below
    pos = np.r_[0.6, np.linspace(0.95, 0.999, 99)]
    op = choose_frame_threshold(neg, pos)
    t = op["frame_threshold"]
    assert op["lowest"] < 0.03 < t < 0.95 <= op["highest"]  # inside the gap, not at its edge
    assert op["specificity"] >= 0.97 and op["sensitivity"] >= 0.98


def test_one_threshold_holds_the_floors_at_every_size():
    rng = np.random.default_rng(1)
    pos = rng.uniform(0.9, 1.0, 100)
    accurate = (rng.uniform(0.0, 0.001, 200), pos)  # normal crops far below at 384 px
    fast = (rng.uniform(0.0, 0.3, 200), pos)  # and higher at 256 px
    alone = choose_frame_threshold(*accurate)
    both = choose_frame_threshold_over({384: accurate, 256: fast})
    t = both["frame_threshold"]
    assert (fast[0] >= alone["frame_threshold"]).mean() > 0.03  # the 384 point fails at 256
    assert (fast[0] >= t).mean() <= 0.03 and (accurate[0] >= t).mean() <= 0.03
    assert (pos >= t).mean() >= 0.98
    assert both["lowest"] == choose_frame_threshold(*fast)["lowest"]
    assert set(both["per_size"]) == {"384", "256"}
    assert both["specificity"] == min(v["specificity"] for v in both["per_size"].values())
    assert choose_frame_threshold_over({384: accurate}) == alone  # one size: the plain rule


def test_resolution_prefers_the_stored_point():
    assert resolve_frame_threshold({"frame_threshold": 0.83}, 0.4) == 0.83
    assert resolve_frame_threshold({}, 0.4) == DEFAULT_FRAME_THRESHOLD
    assert resolve_frame_threshold({}, 0.4, has_head=False) == 0.4
    with pytest.raises(ModelFileError, match="frame_threshold must be a number"):
        resolve_frame_threshold({"name": "m", "frame_threshold": "high"}, 0.4)


def test_predictions_carry_the_models_verdict_threshold(tmp_path):
    torch.manual_seed(0)
    path = save_model(tmp_path / "m", create_model(TINY).eval(), TINY, threshold=0.5,
                      frame_threshold=0.999)
    assert load_model(path).metadata["frame_threshold"] == 0.999
    pred = Predictor(path, device="cpu")
    out = pred.predict(synthetic_frame(np.random.default_rng(1))[0])
    assert out.frame_threshold == 0.999
    assert out.frame_positive == (out.frame_prob >= 0.999)
    assert out.rethreshold(0.3).frame_threshold == 0.999
    plain = save_model(tmp_path / "old", create_model(TINY).eval(), TINY, threshold=0.5)
    assert Predictor(plain, device="cpu").frame_threshold == DEFAULT_FRAME_THRESHOLD
