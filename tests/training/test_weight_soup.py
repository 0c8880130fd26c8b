"""scripts/weight_soup.py: the mean of the models' weights, the first model's head and metadata."""

from __future__ import annotations

from dataclasses import replace

import torch
from synthetic import TINY
from training_helpers import load_script

from polypviewer.engine.models.factory import create_model
from polypviewer.engine.models.modelfile import load_model, save_model


def _script():
    return load_script("weight_soup")


def test_soup_is_the_mean_and_keeps_the_first_models_head_and_settings(tmp_path):
    two = replace(TINY, seg_channels=2)
    torch.manual_seed(0)
    a, b = create_model(two), create_model(two)
    with torch.no_grad():
        a.neoplastic_head.bias.fill_(1.5)
    pa = save_model(tmp_path / "a", a, two, threshold=0.6, frame_threshold=0.4, fast_size=96,
                    tracking={"enter_confidence": 0.7})
    pb = save_model(tmp_path / "b", b, two, threshold=0.3)
    assert _script().main([str(tmp_path / "soup"), str(pa), str(pb)]) == 0
    soup = load_model(tmp_path / "soup.safetensors")
    sa, sb, ss = a.state_dict(), b.state_dict(), soup.model.state_dict()
    key = next(k for k in ss if k.startswith("decoder") and ss[k].is_floating_point())
    assert torch.allclose(ss[key], (sa[key] + sb[key]) / 2)
    assert float(ss["neoplastic_head.bias"]) == 1.5
    assert soup.threshold == 0.6 and soup.metadata["fast_size"] == 96
    assert soup.metadata["frame_threshold"] == 0.4
    assert soup.metadata["tracking"] == {"enter_confidence": 0.7}
