"""A model's probabilities over a validation loader, and the per-image scores they give;
used after every epoch and for the final threshold."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from polypviewer.engine.metrics import stack_metrics
from polypviewer.engine.models.outputs import channel_probabilities

from .events import Cancelled


def forward(model, x):
    """(mask logits, frame logits or None), whether the model has a frame head or not."""
    out = model(x)
    return out if isinstance(out, tuple) else (out, None)


@torch.inference_mode()
def predict_probs(model, loader, device, amp: bool, stop: Callable[[], bool] | None = None):
    """Mask and frame probabilities at model size for a validation loader, and the
    neoplastic channel (float16) when the model has one, else None.

    ``stop`` is asked before each batch: a cancel must not wait for a whole holdout pass,
    which takes minutes on a slow CPU; it raises ``Cancelled``."""
    model.eval()
    masks, frames, cadx = [], [], []
    for batch in loader:
        if stop is not None and stop():
            raise Cancelled()
        x = batch[0].to(device, non_blocking=True)
        with torch.autocast(device.type, enabled=amp and device.type == "cuda"):
            m, c = forward(model, x)
        probs, fr, neo = channel_probabilities(m, c)
        masks.append(probs.cpu().numpy())
        if neo is not None:
            cadx.append(neo.cpu().numpy().astype(np.float16))
        frames.append(fr.cpu().numpy())
    return np.concatenate(masks), np.concatenate(frames), (np.concatenate(cadx) if cadx else None)


def dice_iou(prob: np.ndarray, gt: np.ndarray, thr: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-image Dice and IoU at ``thr``, by ``engine.metrics``' rules (both empty: 1.0)."""
    m = stack_metrics(prob >= thr, gt)
    return m["dice"], m["iou"]
