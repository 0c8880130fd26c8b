"""Test-time views: flipped analyses flip back onto the frame and are averaged."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polypviewer.engine.runtime import views
from polypviewer.engine.runtime.inference import NCHW, Predictor


def _ramp_model(x):
    """Not flip-equivariant: the map is the input's first channel plus a left-to-right ramp,
    the frame value the mean of the first channel's top-left quarter."""
    w = x.shape[-1]
    ramp = torch.arange(w, dtype=torch.float32).expand(x.shape[-2], w)
    q = x[:, :1, : x.shape[-2] // 2, : w // 2].mean(dim=(1, 2, 3))
    return x[:, :1] + ramp, q[:, None]


def test_each_view_flips_back_so_a_pointwise_map_is_unchanged_and_the_rest_averaged():
    x = torch.rand(2, 3, 6, 8)
    for mode in views.VIEWS:
        m, c = views.averaged(_ramp_model, x, mode, NCHW)
        ramp = torch.arange(8, dtype=torch.float32)
        flipped = {views.OFF: ramp, views.HFLIP: (ramp + ramp.flip(0)) / 2,
                   views.FLIPS: (ramp + ramp.flip(0)) / 2}[mode]
        assert torch.allclose(m[:, 0] - x[:, 0], flipped.expand(6, 8).expand(2, 6, 8), atol=1e-6)
        quarters = [x[:, 0, :3, :4], x[:, 0, :3, 4:], x[:, 0, 3:, :4], x[:, 0, 3:, 4:]]
        want = {views.OFF: [0], views.HFLIP: [0, 1], views.FLIPS: [0, 1, 2, 3]}[mode]
        expect = torch.stack([quarters[i].mean(dim=(1, 2)) for i in want]).mean(0)
        assert torch.allclose(c[:, 0], expect, atol=1e-6)


def test_numpy_frames_in_height_width_channel_order_flip_on_their_own_axes():
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 255, (1, 4, 6, 3)).astype(np.float32)

    def run(b):  # NHWC in, (N, H, W) map out: the red channel plus a top-to-bottom ramp
        return b[..., 0] + np.arange(4, dtype=np.float32)[:, None], None

    m, c = views.averaged(run, batch, views.FLIPS, {"h": 1, "w": 2})
    assert c is None
    assert np.allclose(m, batch[..., 0] + 1.5)  # the ramp 0..3 averaged with its flip


def test_auto_follows_the_media_and_an_explicit_choice_stays():
    assert views.resolve("auto", "video") == views.OFF
    for kind in ("image", "folder", "dataset"):
        assert views.resolve("auto", kind) == views.STILLS_DEFAULT == views.FLIPS
    assert views.resolve(None) == views.OFF  # nothing known about the media: one view
    assert views.resolve("flips", "video") == views.FLIPS
    assert views.resolve("off", "image") == views.OFF
    assert views.resolve(True) == views.HFLIP and views.resolve(False) == views.OFF
    with pytest.raises(ValueError, match="unknown test-time views"):
        views.resolve("rot90")


def test_a_predictor_for_other_media_is_a_copy_sharing_the_network(tiny_model_path):
    base = Predictor(tiny_model_path, device="cpu", tta="auto")
    assert base.tta == views.OFF
    stills = base.for_media("folder")
    assert stills is not base and stills.tta == views.FLIPS and stills.net is base.net
    assert base.tta == views.OFF  # unchanged for an analysis already running with it
    assert base.for_media("video") is base and stills.for_media("image") is stills
    frame = np.random.default_rng(1).integers(0, 255, (40, 52, 3), dtype=np.uint8)
    one, four = base.predict(frame), stills.predict(frame)
    assert one.prob.shape == four.prob.shape and not np.allclose(one.prob, four.prob)
