"""Segmentation losses from smp.losses, named as the seeds use them."""

from __future__ import annotations

import torch
from segmentation_models_pytorch import losses as L
from torch import nn
from torch.nn import functional as F

LOSSES = ("bce_dice", "dice", "jaccard", "focal", "focal_dice", "bce_image_dice",
          "bce_dice_image_dice")
DESCRIPTIONS = {  # what a user choosing one needs to know (the wizard's tooltips)
    "bce_dice": "pixel BCE + soft Dice pooled over the batch (the default)",
    "dice": "soft Dice pooled over the batch only",
    "jaccard": "soft IoU pooled over the batch",
    "focal": "focal loss: hard pixels weigh more, no Dice term",
    "focal_dice": "focal loss + soft Dice pooled over the batch",
    "bce_image_dice": "pixel BCE + soft Dice per image: a small polyp weighs as much as a "
                      "large one beside it, as in mean Dice",
    "bce_dice_image_dice": "pixel BCE + half batch Dice + half per-image Dice: small polyps "
                           "weigh more, and false regions on no-polyp images still cost Dice",
}


class ImageDiceLoss(nn.Module):
    """Soft Dice per image, averaged over the images that hold a polyp.

    smp's binary Dice pools the whole batch, so one large polyp outweighs a small one beside
    it; the metric users read (mean Dice per image) and the small polyps of a second centre
    weigh every image alike. Images without polyp pixels add nothing here (BCE teaches them)."""

    def __init__(self, smooth: float = 1.0) -> None:
        super().__init__()
        self.smooth = smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(logits).flatten(1)
        t = target.flatten(1).to(p.dtype)
        has = t.sum(1) > 0
        if not bool(has.any()):
            return logits.sum() * 0.0
        inter = (p * t).sum(1)
        dice = (2 * inter + self.smooth) / (p.sum(1) + t.sum(1) + self.smooth)
        return (1 - dice)[has].mean()


class _Sum(nn.Module):
    """Weighted sum of losses (weight 1 for each part unless given)."""

    def __init__(self, *parts: nn.Module, weights: tuple[float, ...] | None = None) -> None:
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.weights = weights or (1.0,) * len(parts)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(w * p(logits, target) for w, p in zip(self.weights, self.parts))


def build_loss(name: str = "bce_dice", pos_weight: float | None = None) -> nn.Module:
    """``pos_weight`` (seed 001) counters the ~15 % polyp coverage in BCE."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss '{name}'; choose from {LOSSES}")
    dice = L.DiceLoss(mode="binary", from_logits=True)
    if name == "dice":
        return dice
    if name == "jaccard":
        return L.JaccardLoss(mode="binary", from_logits=True)
    if name == "focal":
        return L.FocalLoss(mode="binary")
    if name == "focal_dice":
        return _Sum(L.FocalLoss(mode="binary"), dice)
    pw = torch.tensor([pos_weight]) if pos_weight else None
    if name == "bce_image_dice":
        return _Sum(L.SoftBCEWithLogitsLoss(pos_weight=pw), ImageDiceLoss())
    if name == "bce_dice_image_dice":  # the batch Dice is what makes false pixels costly
        return _Sum(L.SoftBCEWithLogitsLoss(pos_weight=pw), dice, ImageDiceLoss(),
                    weights=(1.0, 0.5, 0.5))
    return _Sum(L.SoftBCEWithLogitsLoss(pos_weight=pw), dice)


def cadx_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Class-balanced BCE of P(neoplastic | polyp) over polyp pixels whose class is known.

    ``logits`` (N,1,H,W), ``labels`` (N,H,W) with 2 = neoplastic, 3 = non-neoplastic
    (``data.LABEL_*``); other pixels are ignored. Each class present in the batch carries half
    the loss: BKAI's polyps are ~75 % neoplastic by area, and plain BCE settles on that prior
    (every polyp "neoplastic"). A batch without known pixels adds zero (keeping the graph).
    """
    known = labels >= 2
    if not bool(known.any()):
        return logits.sum() * 0.0
    target = (labels[known] == 2).float()
    n_pos = target.sum()
    n_neg = target.numel() - n_pos
    weight = torch.where(target > 0, 0.5 / n_pos.clamp(min=1), 0.5 / n_neg.clamp(min=1))
    weight = weight / weight.sum()
    per_pixel = F.binary_cross_entropy_with_logits(logits[:, 0][known], target, reduction="none")
    return (per_pixel * weight).sum()
