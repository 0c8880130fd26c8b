"""One rule from logits to probabilities, the same for numpy (ONNX) and torch (eager, training)."""

from __future__ import annotations

import numpy as np
import torch

from polypviewer.engine.models.outputs import (
    channel_probabilities,
    neoplastic_probabilities,
    probabilities,
)


def test_numpy_and_torch_agree_and_keep_their_type():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(3, 8, 8)).astype(np.float32)
    c = rng.normal(size=3).astype(np.float32)
    pn, fn = probabilities(m, c)
    pt, ft = probabilities(torch.from_numpy(m).half(), torch.from_numpy(c))
    assert isinstance(pn, np.ndarray) and isinstance(pt, torch.Tensor) and pt.dtype == torch.float32
    assert np.allclose(pn, 1 / (1 + np.exp(-m)), atol=1e-6)
    assert np.allclose(fn, 1 / (1 + np.exp(-c)), atol=1e-6)
    assert np.allclose(pt.numpy(), pn, atol=2e-3) and np.allclose(ft.numpy(), fn)


def test_without_a_frame_head_the_frame_is_its_most_likely_pixel():
    m = np.full((2, 4, 4), -5.0, np.float32)
    m[0, 1, 2] = 3.0
    probs, frame = probabilities(m[:, ::-1])  # strided input is fine
    assert frame.shape == (2,)
    assert frame[0] == probs[0].max() and frame[0] > 0.9 and frame[1] < 0.01


def test_a_second_channel_is_the_neoplastic_map_and_one_channel_has_none():
    rng = np.random.default_rng(1)
    seg = torch.from_numpy(rng.normal(size=(2, 2, 8, 8)).astype(np.float32))
    head = torch.from_numpy(rng.normal(size=(2, 1)).astype(np.float32))
    probs, frame, cadx = channel_probabilities(seg, head)
    ref_p, ref_f = probabilities(seg[:, 0], head[:, 0])
    assert torch.equal(probs, ref_p) and torch.equal(frame, ref_f)
    assert torch.allclose(cadx, torch.sigmoid(seg[:, 1]))
    one = channel_probabilities(seg[:, :1])
    assert one[2] is None and torch.equal(one[1], probs.amax(dim=(1, 2)))
    assert neoplastic_probabilities(None) is None
    k = rng.normal(size=(2, 4, 4)).astype(np.float32)
    assert np.allclose(neoplastic_probabilities(k), 1 / (1 + np.exp(-k)), atol=1e-6)
