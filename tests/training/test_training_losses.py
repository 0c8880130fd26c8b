"""Segmentation losses: every named loss trains, the per-image Dice weighs small polyps, the mixed one still charges false regions."""

from __future__ import annotations

import pytest
import torch
from segmentation_models_pytorch import losses as L

from training.losses import LOSSES, ImageDiceLoss, build_loss

BIG = 20.0  # a logit that is certainly polyp (+) or background (-)


def _batch_large_found_small_missed() -> tuple[torch.Tensor, torch.Tensor]:
    """Image 0: a 32x32 polyp predicted exactly; image 1: a 3x3 polyp predicted nowhere."""
    target = torch.zeros(2, 1, 64, 64)
    target[0, 0, 16:48, 16:48] = 1
    target[1, 0, 30:33, 30:33] = 1
    logits = torch.full_like(target, -BIG)
    logits[0, 0, 16:48, 16:48] = BIG
    return logits, target


@pytest.mark.parametrize("name", LOSSES)
def test_every_loss_gives_a_finite_gradient(name):
    torch.manual_seed(0)
    logits = torch.randn(3, 1, 32, 32, requires_grad=True)
    target = (torch.rand(3, 1, 32, 32) > 0.8).float()
    target[2] = 0  # a negative image in the batch
    loss = build_loss(name)(logits, target)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 0
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="unknown loss"):
        build_loss("dice_typo")


def test_image_dice_counts_a_missed_small_polyp_as_half_the_batch():
    logits, target = _batch_large_found_small_missed()
    per_image = ImageDiceLoss(smooth=0.0)(logits, target).item()
    pooled = L.DiceLoss(mode="binary", from_logits=True)(logits, target).item()
    assert per_image == pytest.approx(0.5, abs=1e-3)  # one image perfect, one entirely missed
    assert pooled < 0.01  # the pooled Dice barely sees the small polyp


def test_images_without_polyp_add_nothing_to_the_image_dice():
    logits, target = _batch_large_found_small_missed()
    loss = ImageDiceLoss()
    base = loss(logits, target)
    neg_logits = torch.randn(1, 1, 64, 64) * 5  # whatever is predicted on a negative
    more = loss(torch.cat([logits, neg_logits]), torch.cat([target, torch.zeros(1, 1, 64, 64)]))
    assert more.item() == pytest.approx(base.item())
    empty = torch.zeros(2, 1, 8, 8)
    x = torch.randn(2, 1, 8, 8, requires_grad=True)
    zero = loss(x, empty)
    zero.backward()  # keeps the graph: a batch of negatives still steps the optimiser
    assert zero.item() == 0.0 and x.grad is not None


def test_mixed_dice_makes_false_regions_on_a_negative_cost_more_than_image_dice_alone():
    logits, target = _batch_large_found_small_missed()
    neg = torch.full((1, 1, 64, 64), -BIG)
    false = neg.clone()
    false[0, 0, :16, :16] = BIG  # a false region on a no-polyp image
    t = torch.cat([target, torch.zeros(1, 1, 64, 64)])
    for name, should_grow in (("bce_image_dice", False), ("bce_dice_image_dice", True)):
        loss = build_loss(name)
        clean = loss(torch.cat([logits, neg]), t).item()
        dirty = loss(torch.cat([logits, false]), t).item()
        bce_part = L.SoftBCEWithLogitsLoss()(torch.cat([logits, false]), t).item() - \
            L.SoftBCEWithLogitsLoss()(torch.cat([logits, neg]), t).item()
        assert (dirty - clean - bce_part > 0.05) is should_grow, name


def test_mixed_dice_is_bce_plus_half_of_each_dice():
    logits, target = _batch_large_found_small_missed()
    want = (L.SoftBCEWithLogitsLoss()(logits, target)
            + 0.5 * L.DiceLoss(mode="binary", from_logits=True)(logits, target)
            + 0.5 * ImageDiceLoss()(logits, target))
    assert build_loss("bce_dice_image_dice")(logits, target).item() == pytest.approx(want.item())
