"""What a model's outputs mean: the one rule from logits to probabilities.

Every runner (eager PyTorch, the CUDA backend, ONNX Runtime) and training's validation use
this, so a frame probability means the same thing everywhere: the frame head's sigmoid where
the model has one, else the highest pixel probability of the frame. A second segmentation
channel (models with ``seg_channels == 2``) is P(neoplastic | polyp), also a plain sigmoid.
"""

from __future__ import annotations

import numpy as np
import torch


def probabilities(mask_logits, frame_logits=None):
    """Mask logits (N, H, W) [+ frame logits (N,)] -> mask probs (N, H, W), frame probs (N,).

    Torch tensors in, float32 tensors out (on the same device); numpy arrays in, numpy out.
    """
    as_numpy = isinstance(mask_logits, np.ndarray)
    probs = torch.sigmoid(_tensor(mask_logits))
    if frame_logits is not None:
        frame = torch.sigmoid(_tensor(frame_logits))
    else:
        frame = probs.amax(dim=(-2, -1))
    if as_numpy:
        return probs.numpy(), frame.numpy()
    return probs, frame


def neoplastic_probabilities(cadx_logits):
    """Neoplastic-channel logits (N, H, W) -> P(neoplastic | polyp); None (no channel) stays None.

    Same types as ``probabilities``: torch in, float32 torch out; numpy in, numpy out.
    """
    if cadx_logits is None:
        return None
    probs = torch.sigmoid(_tensor(cadx_logits))
    return probs.numpy() if isinstance(cadx_logits, np.ndarray) else probs


def channel_probabilities(seg_logits, frame_logits=None):
    """A network's raw outputs -> mask probs, frame probs and the neoplastic map (or None).

    ``seg_logits`` (N, C, H, W): channel 0 is the polyp mask, channel 1 (when C > 1) the
    neoplastic channel; ``frame_logits`` (N, 1) from a frame head, or None.
    """
    probs, frame = probabilities(seg_logits[:, 0], None if frame_logits is None else frame_logits[:, 0])
    cadx = neoplastic_probabilities(seg_logits[:, 1]) if seg_logits.shape[1] > 1 else None
    return probs, frame, cadx


def _tensor(x) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return x.float()
