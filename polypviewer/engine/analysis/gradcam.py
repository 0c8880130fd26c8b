"""Grad-CAM heatmaps and encoder feature maps, to show *why* the model marked a region.

The model is the one inference uses (possibly from another thread), so everything here is
temporary: hooks are removed in ``finally``, gradients are taken with ``torch.autograd.grad``
with respect to the hooked activation only (parameters' ``.grad`` are never written), grad
mode is switched on only inside the call, and hooks only record calls from this thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np
import torch
from torch import nn

from ..errors import PolypViewerError
from ..models.config import ModelConfig
from ..models.modelfile import LoadedModel
from ..runtime.preprocess import normalise, prepare, unletterbox

TARGETS = ("segmentation", "classification")


def _unpack(source) -> tuple[nn.Module, ModelConfig, float]:
    """A LoadedModel or a Predictor (duck-typed: ``.net``/``.config``/``.threshold``)."""
    if isinstance(source, LoadedModel):
        return source.model, source.config, float(source.threshold)
    if hasattr(source, "net") and hasattr(source, "config"):
        return source.net, source.config, float(getattr(source, "threshold", 0.5))
    raise TypeError(f"expected a LoadedModel or Predictor, got {type(source).__name__}")


def _input(model: nn.Module, config: ModelConfig, rgb: np.ndarray):
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 frame (H, W, 3), got {rgb.dtype} {rgb.shape}")
    img, box = prepare(rgb, config)
    device = next(model.parameters()).device
    x = normalise(torch.from_numpy(np.ascontiguousarray(img)).to(device), config)
    return x, box


def _last_tensor(out) -> torch.Tensor:
    """A module's output, or the deepest map of a list/tuple output (encoders return lists)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (list, tuple)) and out and isinstance(out[-1], torch.Tensor):
        return out[-1]
    raise PolypViewerError(f"layer output of type {type(out).__name__} has no feature map")


@contextmanager
def _capture(module: nn.Module) -> Iterator[dict]:
    """Record the module's output (from this thread only) while the context is open."""
    store: dict = {}
    me = threading.get_ident()

    def hook(_mod, _inp, out):
        if threading.get_ident() == me:
            store["act"] = _last_tensor(out)

    handle = module.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def _layer(model: nn.Module, layer: str | None, target: str) -> nn.Module:
    if layer is None:
        # the decoder's output is the last decoder block's output, for every smp architecture;
        # the encoder's deepest map is what the classification head pools
        return model.decoder if target == "segmentation" else model.encoder
    try:
        return model.get_submodule(layer)
    except AttributeError as e:
        raise PolypViewerError(f"the model has no layer '{layer}'") from e


def _cam(act: torch.Tensor, grad: torch.Tensor) -> np.ndarray:
    weights = grad.mean(dim=(2, 3), keepdim=True)  # (1, C, 1, 1): mean gradient per channel
    cam = torch.relu((weights * act).sum(dim=1))[0]
    return cam.detach().float().cpu().numpy()


def gradcam(loaded_or_predictor, rgb: np.ndarray, target: str = "segmentation",
            layer: str | None = None) -> np.ndarray:
    """Grad-CAM heatmap float32 (H, W) in [0, 1] at the frame's original resolution.

    ``segmentation``: the score is the sum of mask logits inside the predicted mask (all
    logits when nothing is predicted), taken w.r.t. ``layer`` (default: decoder output).
    ``classification``: the frame logit w.r.t. ``layer`` (default: deepest encoder map).
    ``layer`` is a dotted module name such as ``"decoder.blocks.3"``. All zeros when no
    region pushes the score up.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown Grad-CAM target '{target}'; use {' or '.join(TARGETS)}")
    model, config, threshold = _unpack(loaded_or_predictor)
    if target == "classification" and getattr(model, "classification_head", None) is None:
        raise PolypViewerError("this model has no frame classification head; "
                               "use the segmentation target for Grad-CAM")
    x, box = _input(model, config, rgb)
    module = _layer(model, layer, target)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(False), torch.enable_grad(), _capture(module) as store:
            x = x.clone().requires_grad_(True)  # activations need grad even for frozen weights
            out = model(x)
            masks, labels = out if isinstance(out, tuple) else (out, None)
            if "act" not in store:
                raise PolypViewerError(f"layer '{layer}' is not used by the model's forward pass")
            if target == "classification":
                score = labels[:, 0].sum()
            else:
                logits = masks[:, 0].float()
                cut = float(np.log(threshold / (1.0 - threshold))) if 0 < threshold < 1 else 0.0
                inside = logits >= cut
                score = logits[inside].sum() if bool(inside.any()) else logits.sum()
            act = store["act"]
            (grad,) = torch.autograd.grad(score, act)
            cam = _cam(act, grad)
    finally:
        model.train(was_training)
    cam = cv2.resize(cam, (box.size, box.size), interpolation=cv2.INTER_LINEAR)
    cam = np.ascontiguousarray(unletterbox(cam, box), dtype=np.float32)
    cam = np.maximum(cam, 0.0)
    hi = float(cam.max()) if cam.size else 0.0
    return cam / hi if hi > 0 else np.zeros_like(cam)


def feature_maps(loaded_or_predictor, rgb: np.ndarray,
                 stages: tuple[int, ...] = (1, 2, 3)) -> list[np.ndarray]:
    """Encoder activations (C, h, w) float32 of the given stages (1 = first downsampling).

    Stage 0 is the input itself; the deepest stage is ``config``-dependent (5 for the
    default encoders). Runs without gradients.
    """
    model, config, _ = _unpack(loaded_or_predictor)
    x, _ = _input(model, config, rgb)
    with torch.inference_mode():
        feats = model.encoder(x)
    out = []
    for s in stages:
        if not 0 <= s < len(feats):
            raise ValueError(f"encoder stage {s} does not exist (0..{len(feats) - 1})")
        out.append(feats[s][0].float().cpu().numpy())
    return out
