"""Letterbox and its inverse put every pixel back where it was, for any aspect ratio."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from synthetic import TINY, synthetic_frame

from polypviewer.engine.models.config import IMAGENET_MEAN, IMAGENET_STD
from polypviewer.engine.runtime.preprocess import (
    apply_clahe,
    letterbox,
    letterbox_mask,
    normalise,
    prepare,
    unletterbox,
)


@pytest.mark.parametrize("h,w,size", [(120, 200, 64), (200, 120, 64), (90, 90, 64),
                                      (40, 30, 64), (64, 64, 64)])
def test_round_trip_rectangle(h, w, size):
    img = np.zeros((h, w), np.float32)
    y0, y1, x0, x1 = h // 4, h // 2, w // 3, 2 * w // 3
    img[y0:y1, x0:x1] = 1.0
    square, box = letterbox(img, size)
    assert square.shape == (size, size)
    back = unletterbox(square, box)
    assert back.shape == (h, w)
    k = -(-max(h, w) // size) + 1  # edge blur: about one model pixel in original pixels
    inside = back[y0 + k:y1 - k, x0 + k:x1 - k]
    assert inside.min() > 0.9
    outside = back.copy()
    outside[max(0, y0 - k):y1 + k, max(0, x0 - k):x1 + k] = 0
    assert outside.max() < 0.1
    # the rectangle's centre of mass comes back where it was
    ys, xs = np.nonzero(back > 0.5)
    assert ys.mean() == pytest.approx((y0 + y1 - 1) / 2, abs=1.0)
    assert xs.mean() == pytest.approx((x0 + x1 - 1) / 2, abs=1.0)


def _pad_then_resize(img, size):
    """The definition of the letterbox: build the black square, then area-average it."""
    h, w = img.shape[:2]
    side = max(h, w)
    square = np.zeros((side, side) + img.shape[2:], img.dtype)
    square[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = img
    return cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("h,w", [(480, 640), (1080, 1920), (720, 1280), (960, 1280), (640, 480),
                                 (300, 400), (1072, 1920), (1024, 1280), (577, 719)])
@pytest.mark.parametrize("size", [192, 224, 256])
def test_letterbox_shortcut_gives_the_same_pixels(h, w, size):
    """Large frames skip building the padded square when the padding is whole output pixels."""
    img = np.random.default_rng(h * w + size).integers(0, 256, (h, w, 3), dtype=np.uint8)
    out, box = letterbox(img, size)
    assert np.array_equal(out, _pad_then_resize(img, size))
    assert (box.height, box.width, box.side) == (h, w, max(h, w))


def test_padding_is_black_and_centred():
    img = np.full((50, 100, 3), 200, np.uint8)
    square, box = letterbox(img, 100)
    assert (box.top, box.left, box.side) == (25, 0, 100)
    assert square[:20].max() == 0 and square[-20:].max() == 0
    assert square[30:70].min() == 200


def test_letterbox_mask_stays_bool():
    m = np.zeros((80, 40), bool)
    m[20:60, 10:30] = True
    out = letterbox_mask(m, 32)
    assert out.dtype == np.bool_ and out.shape == (32, 32)
    assert out[16, 16] and not out[16, 2]


def test_normalise_shape_and_values():
    batch = np.zeros((2, 8, 8, 3), np.uint8)
    batch[1] = 255
    t = normalise(batch, TINY)
    assert t.shape == (2, 3, 8, 8) and t.dtype == torch.float32
    for c in range(3):
        assert t[0, c, 0, 0].item() == pytest.approx(-IMAGENET_MEAN[c] / IMAGENET_STD[c], abs=1e-5)
        assert t[1, c, 0, 0].item() == pytest.approx((1 - IMAGENET_MEAN[c]) / IMAGENET_STD[c],
                                                     abs=1e-5)
    single = normalise(batch[1], TINY)
    assert single.shape == (1, 3, 8, 8)
    assert torch.equal(single[0], t[1])
    assert batch[1].max() == 255  # input not modified in place


def test_clahe_keeps_shape_dtype_and_changes_contrast(rng):
    img, _ = synthetic_frame(rng, 64, 80)
    low = (img // 4 + 60).astype(np.uint8)  # low-contrast version
    out = apply_clahe(low)
    assert out.shape == low.shape and out.dtype == np.uint8
    assert out.std() > low.std()


def test_prepare_applies_clahe_only_when_asked(rng):
    import dataclasses

    img, _ = synthetic_frame(rng, 50, 70)
    plain, box = prepare(img, TINY)
    eq, box2 = prepare(img, dataclasses.replace(TINY, clahe=True))
    assert plain.shape == eq.shape == (64, 64, 3) and box == box2
    assert not np.array_equal(plain, eq)
