"""scripts/operating_point.py: the frame threshold chosen on holdouts and stored in the model."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
from synthetic import synthetic_frame, write_dataset
from training_helpers import load_script


def _script():
    return load_script("operating_point")


def test_write_stores_the_rule_s_threshold_and_keeps_the_weights(tmp_path, tiny_model_path):
    model = tmp_path / "m" / tiny_model_path.name
    model.parent.mkdir()
    for f in (tiny_model_path, tiny_model_path.with_suffix(".json")):
        shutil.copy(f, model.parent / f.name)
    weights = model.read_bytes()
    pos = write_dataset(tmp_path / "pos", n=3)
    neg = tmp_path / "neg"
    (neg / "images").mkdir(parents=True)
    rng = np.random.default_rng(4)
    for i in range(4):
        cv2.imwrite(str(neg / "images" / f"n{i}.png"), synthetic_frame(rng, n_polyps=0)[0])
    mod = _script()
    neg_scores, pos_scores = mod.frame_scores(str(model), [str(pos), str(neg)], None)
    assert len(neg_scores) == 4 and len(pos_scores) == 3
    assert mod.main([str(model), "--holdout", str(pos), "--holdout", str(neg), "--write"]) == 0
    meta = json.loads(model.with_suffix(".json").read_text())
    op = meta["training"]["frame_operating_point"]
    assert meta["frame_threshold"] == op["frame_threshold"]
    assert op["specificity"] >= 0.97 and op["n_negative"] == 4
    assert all(s < op["frame_threshold"] for s in neg_scores)  # 4 negatives: none may fire
    assert model.read_bytes() == weights
