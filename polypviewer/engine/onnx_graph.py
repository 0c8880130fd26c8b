"""Rewrites of an exported graph that ONNX Runtime's CPU kernels run faster, same results.

ONNX Runtime runs convolutions in a blocked layout (NCHWc, 8 channels per block on AVX2).
Two things in a traced U-Net defeat it. (1) Each decoder block upsamples to its skip feature's size. Traced, that size becomes
Shape/Gather/Concat arithmetic feeding Resize's ``sizes`` input, and ONNX Runtime turns a
Resize into its blocked (NCHWc) Upsample only when the scales are constants. So every block
copied its tensors out to plain NCHW and back: 16 reorders, 5-10 % of a frame's time in
single-threaded lanes. Each graph has a fixed input size, so those sizes are constants
anyway; the same integer scales give the very same values (outputs checked bit-identical).
(2) The segmentation head is a 3x3 convolution to one channel, padded to a block of 8: it cost
as much as 8 channels at full resolution. As a depthwise convolution plus a channel sum it
does an eighth of the work (same values up to float rounding, ~4e-6 in logits).
Measured on a 2-core Zen 3, two single-threaded lanes, default model: 52-54 -> 54-57 frames/s
for (1), and a further 3-6 % for (2) (docs/performance.md).
"""

from __future__ import annotations

import numpy as np

SKIP_MODES = {b"tf_crop_and_resize"}  # uses a region of interest: left as traced


def _dims(value_info) -> list[int | str]:
    return [d.dim_value if d.HasField("dim_value") else d.dim_param
            for d in value_info.type.tensor_type.shape.dim]


def _integer_scales(src: list, dst: list) -> list[float] | None:
    """[1, 1, kh, kw] when ``dst`` is ``src`` with whole-number larger height and width."""
    if len(src) != 4 or len(dst) != 4 or src[1] != dst[1] or not isinstance(src[1], int):
        return None
    hw = [*src[2:], *dst[2:]]
    if not all(isinstance(v, int) and v > 0 for v in hw):
        return None
    (h, w, oh, ow) = hw
    if oh % h or ow % w:
        return None
    return [1.0, 1.0, float(oh // h), float(ow // w)]


def prune_unused(graph) -> int:
    """Drop nodes none of whose outputs is used (the size arithmetic left behind)."""
    removed = 0
    while True:
        used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            return removed
        for n in dead:
            graph.node.remove(n)
        removed += len(dead)


def static_resize_scales(model) -> int:
    """Give every size-driven Resize with whole-number factors constant scales; returns how many."""
    from onnx import numpy_helper, shape_inference

    inferred = shape_inference.infer_shapes(model, data_prop=True)
    g = inferred.graph
    shapes = {v.name: _dims(v) for v in [*g.value_info, *g.input, *g.output]}
    changed = 0
    for node in model.graph.node:
        if node.op_type != "Resize" or len(node.input) < 4 or not node.input[3]:
            continue
        mode = next((a.s for a in node.attribute if a.name == "coordinate_transformation_mode"), b"")
        scales = _integer_scales(shapes.get(node.input[0], []), shapes.get(node.output[0], []))
        if mode in SKIP_MODES or scales is None:
            continue
        name = f"{node.output[0]}_scales"
        model.graph.initializer.append(numpy_helper.from_array(np.array(scales, np.float32), name))
        node.input[2] = name
        del node.input[3]
        changed += 1
    if changed:
        prune_unused(model.graph)
    return changed


def _attr(node, name, default=None):
    from onnx import helper

    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def one_channel_convs_as_depthwise(model) -> int:
    """Conv to a single output channel -> depthwise Conv + ReduceSum (+ bias); returns how many."""
    from onnx import helper, numpy_helper

    g = model.graph
    inits = {i.name: i for i in g.initializer}
    changed = 0
    for node in list(g.node):
        if node.op_type != "Conv" or node.input[1] not in inits or _attr(node, "group", 1) != 1:
            continue
        w = numpy_helper.to_array(inits[node.input[1]])
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if w.ndim != 4 or w.shape[0] != 1 or w.shape[1] < 2 or _attr(node, "auto_pad", b"NOTSET") != b"NOTSET":
            continue
        c, base = w.shape[1], f"{node.output[0]}_dw"
        g.initializer.extend([
            numpy_helper.from_array(np.ascontiguousarray(w.reshape(c, 1, *w.shape[2:])), f"{base}_w"),
            numpy_helper.from_array(np.array([1], np.int64), f"{base}_axes")])
        keep = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name != "group"}
        summed = f"{base}_sum" if bias else node.output[0]
        new = [helper.make_node("Conv", [node.input[0], f"{base}_w"], [f"{base}_out"], name=f"{base}",
                                group=c, **keep),
               helper.make_node("ReduceSum", [f"{base}_out", f"{base}_axes"], [summed], keepdims=1,
                                name=f"{base}_reduce")]
        if bias:
            new.append(helper.make_node("Add", [summed, bias], [node.output[0]], name=f"{base}_bias"))
        pos = list(g.node).index(node)
        g.node.remove(node)
        for k, n in enumerate(new):
            g.node.insert(pos + k, n)
        changed += 1
    if changed:
        used = {i for n in g.node for i in n.input}
        for init in [i for i in g.initializer if i.name not in used]:
            g.initializer.remove(init)
    return changed
