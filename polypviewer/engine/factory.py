"""The one place models are built, so training and the app can never drift apart."""

from __future__ import annotations

import segmentation_models_pytorch as smp
from torch import nn

from .config import ModelConfig
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


def create_model(config: ModelConfig = DEFAULT_CONFIG, pretrained: bool = False) -> nn.Module:
    """Build the network described by ``config``.

    ``pretrained=True`` loads offline ImageNet encoder weights (see ``pretrained.py``);
    loading a saved model starts from ``pretrained=False`` and then reads its own weights.
    Outputs: ``mask_logits`` (N,1,H,W) and, with the classification head, frame logits (N,1).
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
        kwargs["decoder_channels"] = list(config.decoder_channels)
    if config.classification_head:
        kwargs["aux_params"] = {"classes": 1, "dropout": 0.2}
    model = ARCHS[config.arch](**kwargs)
    if pretrained:
        load_imagenet_weights(model.encoder, config.encoder)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
