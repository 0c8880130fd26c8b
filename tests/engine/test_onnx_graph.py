"""Graph rewrites for ONNX Runtime: same outputs, and they reach the nodes they are meant for."""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from polypviewer.engine.runtime.backends.onnx_graph import (
    one_channel_convs_as_depthwise,
    static_resize_scales,
    upsampled_convs_as_phases,
)


class UpToSkip(nn.Module):
    """Upsample to the skip's size, as smp's U-Net decoder blocks do, then a 1-channel head."""

    def __init__(self, bias: bool = True) -> None:
        super().__init__()
        self.down = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.odd = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Conv2d(16, 1, 3, padding=1, bias=bias)
        self.two = nn.Conv2d(16, 2, 1)

    def forward(self, x):
        skip = torch.relu(self.down(x))  # (N, 8, H/2, W/2)
        low = F.max_pool2d(skip, 2)
        up = F.interpolate(low, size=skip.shape[2:], mode="nearest")  # traced as computed sizes
        odd = F.interpolate(self.odd(skip), size=(skip.shape[2] + 3, skip.shape[3] + 3))  # not whole
        feats = torch.cat([up, skip], 1)
        return self.head(feats), self.two(feats), odd


def export(net: nn.Module, size: int = 32) -> onnx.ModelProto:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net.eval(), (torch.zeros(1, 3, size, size),), buf, dynamo=False,
                          opset_version=17, input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    return onnx.load_from_string(buf.getvalue())


def run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})


def resize_inputs(model: onnx.ModelProto) -> list[list[str]]:
    return [list(n.input) for n in model.graph.node if n.op_type == "Resize"]


@pytest.mark.parametrize("bias", [True, False])
def test_rewrites_keep_outputs_and_touch_only_their_targets(bias):
    torch.manual_seed(0)
    model = export(UpToSkip(bias))
    x = np.random.default_rng(0).normal(size=(3, 3, 32, 32)).astype(np.float32)
    before = run(model, x)
    n_nodes = len(model.graph.node)

    assert static_resize_scales(model) == 1  # the 2x one; the 16 -> 19 one is left as it was
    kinds = sorted(len(i) for i in resize_inputs(model))
    assert kinds == [3, 4]  # scales input only vs roi/scales/sizes
    assert len(model.graph.node) < n_nodes  # the size arithmetic is gone
    assert upsampled_convs_as_phases(model) == 0  # the upsampled map goes to a Concat
    assert one_channel_convs_as_depthwise(model) == 1  # the head, not the 2-channel conv
    summing = [n for n in model.graph.node if n.name.endswith("_dw_sum")]
    assert len(summing) == 1 and summing[0].op_type == "Conv"
    assert (len(summing[0].input) == 3) == bias  # the old bias moved onto the summing conv
    assert sum(1 for n in model.graph.node if n.op_type == "Conv"
               and any(a.name == "group" and a.i == 16 for a in n.attribute)) == 1
    onnx.checker.check_model(model)

    after = run(model, x)  # a batch of 3 although traced with 1: the batch stays dynamic
    np.testing.assert_array_equal(after[1], before[1])
    np.testing.assert_array_equal(after[2], before[2])
    np.testing.assert_allclose(after[0], before[0], atol=1e-5)


def test_nothing_to_rewrite_leaves_the_graph_alone():
    model = export(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()))
    blob = model.SerializeToString()
    assert static_resize_scales(model) == 0 and one_channel_convs_as_depthwise(model) == 0
    assert model.SerializeToString() == blob


class UpThenConv(nn.Module):
    """smp's last decoder block: 2x nearest upsampling (no skip), 3x3 conv + BN + ReLU, twice."""

    def __init__(self, relu: bool) -> None:
        super().__init__()
        self.down = nn.Conv2d(3, 16, 3, stride=4, padding=1)
        self.conv1 = nn.Sequential(nn.Conv2d(16, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
                                   *([nn.ReLU()] if relu else []))
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        h = self.down(x)
        return self.conv2(self.conv1(F.interpolate(h, size=(2 * h.shape[2], 2 * h.shape[3]))))


@pytest.mark.parametrize("relu", [True, False])
def test_upsampled_conv_runs_at_low_resolution_in_phases(relu):
    torch.manual_seed(1)
    net = UpThenConv(relu).eval()
    with torch.no_grad():  # a BN that is not the identity, folded into the conv at export
        net.conv1[1].running_mean.normal_()
        net.conv1[1].running_var.uniform_(0.5, 2.0)
    model = export(net, size=64)
    x = np.random.default_rng(1).normal(size=(2, 3, 64, 64)).astype(np.float32)
    before = run(model, x)
    assert upsampled_convs_as_phases(model) == 0  # sizes still computed: not known to be 2x
    assert static_resize_scales(model) == 1
    assert upsampled_convs_as_phases(model) == 1
    ops = [n.op_type for n in model.graph.node]
    assert "Resize" not in ops and "ConvTranspose" in ops
    if relu:  # moved in front of the interleave, next to the conv it fuses with
        assert ops.index("Relu") < ops.index("ConvTranspose")
    onnx.checker.check_model(model)
    np.testing.assert_allclose(run(model, x)[0], before[0], atol=1e-5)
    assert np.abs(before[0]).max() > 0.1  # a real signal was compared
