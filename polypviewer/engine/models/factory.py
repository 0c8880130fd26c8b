"""The one place models are built, so training and the app can never drift apart."""

from __future__ import annotations

import segmentation_models_pytorch as smp
from torch import nn

from .config import ModelConfig
from .neoplastic_head import add_neoplastic_head
from .pretrained import load_imagenet_weights

ARCHS: dict[str, type[nn.Module]] = {
    "Unet": smp.Unet,
    "UnetPlusPlus": smp.UnetPlusPlus,
    "FPN": smp.FPN,
    "DeepLabV3Plus": smp.DeepLabV3Plus,
    "Linknet": smp.Linknet,
    "MAnet": smp.MAnet,
    "PAN": smp.PAN,
}

DEFAULT_CONFIG = ModelConfig()

# How each architecture takes ``decoder_channels``: per-stage widths, one width, or not at all
# (FPN and Linknet would silently forward the keyword to the encoder instead).
_PER_STAGE_CHANNELS = {"Unet", "UnetPlusPlus", "MAnet"}
_SINGLE_CHANNELS = {"DeepLabV3Plus", "PAN"}


def create_model(config: ModelConfig = DEFAULT_CONFIG, pretrained: bool = False) -> nn.Module:
    """Build the network described by ``config``.

    ``pretrained=True`` loads offline ImageNet encoder weights (see ``pretrained.py``);
    loading a saved model starts from ``pretrained=False`` and then reads its own weights.
    Outputs: ``mask_logits`` (N,C,H,W) with C = ``seg_channels`` (channel 0 polyp, channel 1
    neoplastic given polyp, from ``neoplastic_head``) and, with the classification head, frame
    logits (N,1).
    """
    if config.arch not in ARCHS:
        raise ValueError(f"unknown architecture '{config.arch}'; choose from {', '.join(ARCHS)}")
    kwargs: dict = {
        "encoder_name": config.encoder,
        "encoder_weights": None,
        "in_channels": 3,
        "classes": 1,
    }
    if config.decoder_channels is not None:
        if config.arch in _PER_STAGE_CHANNELS:
            kwargs["decoder_channels"] = list(config.decoder_channels)
        elif config.arch in _SINGLE_CHANNELS:
            kwargs["decoder_channels"] = int(config.decoder_channels[0])
    if config.classification_head:
        kwargs["aux_params"] = {"classes": 1, "dropout": 0.2}
    model = ARCHS[config.arch](**kwargs)
    if config.seg_channels > 1:
        add_neoplastic_head(model)
    if pretrained:
        load_imagenet_weights(model.encoder, config.encoder)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
