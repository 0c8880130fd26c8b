"""The neoplastic channel: P(neoplastic | polyp) as a linear read-out of the encoder.

It is linear in the encoder's feature maps (1x1 convolutions, upsampled to the
input and summed), so its mean over a polyp's region is a linear function of that region's
pooled features: a per-polyp classifier that costs five tiny convolutions per frame and can
be fitted in closed form (``training.cadx``) or by gradient with the rest of the network. The
features are detached: training the channel never changes the segmentation.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

STAGES = 5  # every encoder stage (/2 to /32): the shallow ones carry the surface texture


class NeoplasticHead(nn.Module):
    def __init__(self, encoder_channels: list[int] | tuple[int, ...]) -> None:
        super().__init__()
        chans = list(encoder_channels)[-STAGES:]
        self.convs = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in chans)
        for conv in self.convs:
            nn.init.zeros_(conv.weight)  # P = 0.5, no opinion, until trained
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, features: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        out = self.bias.view(1, 1, 1, 1)
        for conv, f in zip(self.convs, features[-STAGES:]):
            out = out + F.interpolate(conv(f.detach()), size=size, mode="bilinear",
                                      align_corners=False)
        return out


def forward_with_neoplastic(model: nn.Module, x: torch.Tensor):
    """An smp model's forward with the neoplastic channel appended to its mask logits."""
    if not (torch.jit.is_scripting() or torch.jit.is_tracing()):
        model.check_input_shape(x)
    features = model.encoder(x)
    masks = model.segmentation_head(model.decoder(features))
    masks = torch.cat([masks, model.neoplastic_head(features, masks.shape[-2:])], dim=1)
    if model.classification_head is not None:
        return masks, model.classification_head(features[-1])
    return masks


_CLASSES: dict[type, type] = {}


def add_neoplastic_head(model: nn.Module) -> nn.Module:
    """Give a built smp model the head, keeping its own modules (Grad-CAM and the ONNX
    rewrites find ``encoder``, ``decoder`` and ``segmentation_head`` where they always are)."""
    base = type(model)
    cls = _CLASSES.get(base)
    if cls is None:
        cls = type(base.__name__, (base,), {"forward": forward_with_neoplastic,
                                            "__module__": base.__module__})
        _CLASSES[base] = cls
    model.neoplastic_head = NeoplasticHead(model.encoder.out_channels)
    model.__class__ = cls
    return model
