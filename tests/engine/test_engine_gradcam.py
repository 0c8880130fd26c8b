"""Grad-CAM: right shape and range, leaves the shared model exactly as it found it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from synthetic import TINY, synthetic_frame

from polypviewer.engine.analysis.gradcam import feature_maps, gradcam
from polypviewer.engine.errors import PolypViewerError
from polypviewer.engine.models.factory import create_model
from polypviewer.engine.models.modelfile import LoadedModel, load_model
from polypviewer.engine.runtime.inference import Predictor


@pytest.fixture(scope="module")
def loaded(tiny_model_path) -> LoadedModel:
    return load_model(tiny_model_path)


@pytest.fixture
def frame(rng) -> np.ndarray:
    return synthetic_frame(rng, h=72, w=120)[0]


def _hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               for m in model.modules())


@pytest.mark.parametrize("target", ["segmentation", "classification"])
def test_heatmap_shape_range_and_clean_model(loaded, frame, target):
    model = loaded.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cam = gradcam(loaded, frame, target=target)
    assert cam.shape == frame.shape[:2]
    assert cam.dtype == np.float32
    assert cam.min() >= 0.0 and cam.max() <= 1.0
    assert cam.max() == pytest.approx(1.0) and cam.std() > 0  # not constant
    assert _hooks(model) == 0
    assert all(p.grad is None for p in model.parameters())
    assert not model.training
    assert torch.is_grad_enabled()  # the caller's grad mode is left as it was
    for k, v in model.state_dict().items():  # BN running stats untouched
        assert torch.equal(v, before[k]), k


def test_grad_mode_restored(loaded, frame):
    with torch.no_grad():
        gradcam(loaded, frame)
        assert not torch.is_grad_enabled()
    with torch.inference_mode():
        cam = gradcam(loaded, frame)  # works even when the caller is in inference mode
        assert torch.is_inference_mode_enabled()
    assert cam.shape == frame.shape[:2]


def test_hooks_removed_when_layer_missing(loaded, frame):
    with pytest.raises(PolypViewerError, match="no layer"):
        gradcam(loaded, frame, layer="decoder.nonexistent")
    assert _hooks(loaded.model) == 0


def test_explicit_layer_and_predictor(loaded, frame):
    pred = Predictor(loaded, device="cpu")
    a = gradcam(pred, frame, layer="decoder.blocks.3")
    b = gradcam(loaded, frame, layer="decoder.blocks.3")
    np.testing.assert_allclose(a, b, atol=1e-5)
    c = gradcam(loaded, frame)  # default layer differs -> a different map
    assert not np.allclose(a, c)
    # the shared model still predicts the same after Grad-CAM
    p1 = pred.predict(frame).prob
    gradcam(pred, frame, target="classification")
    np.testing.assert_array_equal(pred.predict(frame).prob, p1)


def test_heatmap_follows_letterbox(loaded):
    """A portrait frame: the map covers the frame only, at its own size."""
    rgb = np.full((90, 40, 3), 120, np.uint8)
    rgb[30:60, 10:30] = (230, 170, 150)
    cam = gradcam(loaded, rgb)
    assert cam.shape == (90, 40) and cam.max() == pytest.approx(1.0)


def test_classification_without_head_raises(frame):
    cfg = dataclasses.replace(TINY, classification_head=False)
    torch.manual_seed(0)
    lm = LoadedModel(create_model(cfg).eval(), cfg, 0.5, "nohead")
    with pytest.raises(PolypViewerError, match="classification head"):
        gradcam(lm, frame, target="classification")
    assert gradcam(lm, frame, target="segmentation").shape == frame.shape[:2]
    with pytest.raises(ValueError, match="target"):
        gradcam(lm, frame, target="boxes")


def test_frozen_weights_still_give_a_map(tiny_model_path, frame):
    lm = load_model(tiny_model_path)
    for p in lm.model.parameters():
        p.requires_grad_(False)
    cam = gradcam(lm, frame)
    assert cam.std() > 0
    assert all(not p.requires_grad for p in lm.model.parameters())


def test_feature_maps(loaded, frame):
    maps = feature_maps(loaded, frame, stages=(1, 2, 3))
    s = TINY.input_size
    assert [m.shape[1:] for m in maps] == [(s // 2, s // 2), (s // 4, s // 4), (s // 8, s // 8)]
    assert all(m.dtype == np.float32 and m.ndim == 3 for m in maps)
    assert maps[0].shape[0] != maps[2].shape[0]  # channel counts grow with depth
    assert _hooks(loaded.model) == 0
    with pytest.raises(ValueError, match="stage"):
        feature_maps(loaded, frame, stages=(9,))
