"""Negatives drawn as whole frames: the surround, text and box are added, the target stays empty."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from synthetic import TINY, synthetic_frame

from training.cli import add_train_arguments, config_from_args
from training.data import MultiSourceSet
from training.framing import frame_like


def mucosa(size=96, seed=0):
    img, _ = synthetic_frame(np.random.default_rng(seed), size, size, n_polyps=0)
    return np.ascontiguousarray(img[:, :, ::-1])


def test_frame_like_adds_a_black_surround_and_keeps_the_mucosa():
    img = mucosa()
    assert (img.max(axis=2) > 20).all()  # no black anywhere to begin with
    out = frame_like(img, np.random.default_rng(3))
    assert out.shape == img.shape and out.dtype == np.uint8
    dark = out.max(axis=2) < 20
    assert dark[0, 0] and dark[-1, -1] and 0.1 < dark.mean() < 0.8  # a rim, not a black image
    lit = ~dark
    assert abs(out[lit].mean() - img.mean()) < 60  # the same mucosa, dimmed at most by fall-off
    assert np.array_equal(out, frame_like(img, np.random.default_rng(3)))  # repeatable
    assert not np.array_equal(out, frame_like(img, np.random.default_rng(4)))


def test_only_the_chosen_share_of_a_negative_source_is_framed():
    neg = np.stack([mucosa(64, s) for s in range(40)])
    pos = neg[:4].copy()
    pos_lab = np.zeros(pos.shape[:3], np.uint8)
    pos_lab[:, 20:40, 20:40] = 3  # a polyp of unknown class
    arrays = [(pos, pos_lab), (neg, np.zeros(neg.shape[:3], np.uint8))]
    plain = MultiSourceSet(arrays, TINY)
    framed = MultiSourceSet(arrays, TINY, framed=[0.0, 0.5])
    changed = 0
    for i in range(len(plain)):
        a, b = plain[(i, 64, i)], framed[(i, 64, i)]
        same = torch.equal(a[0], b[0])
        if i < 4:
            assert same and torch.equal(a[1], b[1])  # a positive source is never framed
        else:
            changed += not same
            assert b[1].sum() == 0 and b[2].item() == 0.0  # still "no polyp", pixel and frame
    assert 10 <= changed <= 30  # about half of 40 draws
    assert torch.equal(framed[(7, 64, 7)][0], framed[(7, 64, 7)][0])  # same seed, same frame


def test_framed_negatives_option_is_a_share():
    p = argparse.ArgumentParser()
    add_train_arguments(p)
    cfg = config_from_args(p.parse_args(["data", "--out", "run", "--framed-negatives", "0.5"]))
    assert cfg.framed_negatives == 0.5
    with pytest.raises(SystemExit):
        p.parse_args(["data", "--framed-negatives", "1.5"])
