"""Rewrites of an exported graph that ONNX Runtime's CPU kernels run faster; same results.

ONNX Runtime runs convolutions in a blocked layout (NCHWc, 8 channels per block on AVX2).
Three things in a traced U-Net work against it:

1. Each decoder block upsamples to its skip feature's size, which traces into Shape/Gather/
   Concat arithmetic feeding Resize's ``sizes``. ONNX Runtime blocks a Resize only when its
   scales are constants, so every block copied its tensors to plain NCHW and back (16
   reorders). A graph has a fixed input size, so the sizes are constants anyway: the same
   integer scales give bit-identical outputs.
2. The segmentation head, a 3x3 convolution to one channel, is padded to a block of 8 and
   costs as much as 8 channels at full resolution. A depthwise convolution, then a 1x1
   convolution with weights 1 that sums the channels, does about an eighth of the work (float
   rounding only, ~4e-6 in logits).
3. The last decoder block convolves a 2x nearest-upsampled map with no skip. The same 3x3
   convolution runs at the lower resolution with four output phases per channel, which fills
   the blocked kernels better, then the phases are interleaved (~3e-6 in logits).

Together, default model on a 2-core Zen 3: one thread 38-39 -> 34-35 ms per frame, two
single-threaded lanes +8-15 % (interleaved A/B runs; docs/performance.md).
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


def _attr(node, name, default=None):
    from onnx import helper

    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def _constant(graph, name: str) -> np.ndarray | None:
    """The value of a constant tensor: an initializer, possibly behind Identity nodes (the
    exporter shares equal tensors, e.g. the zero biases of freshly folded BatchNorms)."""
    from onnx import numpy_helper

    inits = {i.name: i for i in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    while name not in inits:
        node = producers.get(name)
        if node is None or node.op_type != "Identity":
            return None
        name = node.input[0]
    return numpy_helper.to_array(inits[name])


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


def drop_unused_initializers(graph) -> None:
    used = {i for n in graph.node for i in n.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)


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


def one_channel_convs_as_depthwise(model) -> int:
    """Conv to a single output channel -> depthwise Conv + 1x1 Conv summing the channels
    (weights 1, the old bias); returns how many. Both stay in the blocked layout."""
    from onnx import helper, numpy_helper

    g = model.graph
    changed = 0
    for node in list(g.node):
        w = _constant(g, node.input[1]) if node.op_type == "Conv" and len(node.input) > 1 else None
        if (w is None or _attr(node, "group", 1) != 1 or w.ndim != 4 or w.shape[0] != 1
                or w.shape[1] < 2 or _attr(node, "auto_pad", b"NOTSET") != b"NOTSET"):
            continue
        c, base = w.shape[1], f"{node.output[0]}_dw"
        g.initializer.extend([
            numpy_helper.from_array(np.ascontiguousarray(w.reshape(c, 1, *w.shape[2:])), f"{base}_w"),
            numpy_helper.from_array(np.ones((1, c, 1, 1), w.dtype), f"{base}_ones")])
        keep = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name != "group"}
        bias = [node.input[2]] if len(node.input) > 2 and node.input[2] else []
        new = [helper.make_node("Conv", [node.input[0], f"{base}_w"], [f"{base}_out"], name=base,
                                group=c, **keep),
               helper.make_node("Conv", [f"{base}_out", f"{base}_ones", *bias], [node.output[0]],
                                name=f"{base}_sum", kernel_shape=[1, 1])]
        pos = list(g.node).index(node)
        g.node.remove(node)
        for k, n in enumerate(new):
            g.node.insert(pos + k, n)
        changed += 1
    if changed:
        drop_unused_initializers(g)
    return changed


def _phase_weights(w: np.ndarray) -> np.ndarray:
    """3x3 kernel on a 2x nearest-upsampled map -> 3x3 kernel on the map itself, 4 phases.

    Output channel ``4o + 2a + b`` is output pixel (2i + a, 2j + b) of channel ``o`` (the
    DepthToSpace CRD order). Upsampled row 2i + a + dy is source row i + (a + dy) // 2.
    """
    o, c = w.shape[:2]
    out = np.zeros((o, 4, c, 3, 3), np.float64)
    for a in range(2):
        for b in range(2):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    out[:, 2 * a + b, :, (a + dy) // 2 + 1, (b + dx) // 2 + 1] += w[:, :, dy + 1, dx + 1]
    return out.reshape(4 * o, c, 3, 3).astype(np.float32)


def _interleave_weights(o: int) -> np.ndarray:
    """ConvTranspose weights (4o, 1, 2, 2), group o, stride 2: phase 2a + b of channel o goes to
    pixel (a, b) of each 2x2 cell. The same as DepthToSpace (CRD) and exact (x * 1 + 0 * ...),
    but ONNX Runtime runs it 4x faster (0.3 vs 1.2 ms for 32x128x128 on one thread)."""
    w = np.zeros((o, 4, 1, 2, 2), np.float32)
    for k in range(4):
        w[:, k, 0, k // 2, k % 2] = 1.0
    return w.reshape(4 * o, 1, 2, 2)


def upsampled_convs_as_phases(model) -> int:
    """Resize(2x nearest) -> Conv 3x3 becomes Conv (4x channels) -> interleave; returns how many."""
    from onnx import helper, numpy_helper

    g = model.graph
    inits = {i.name: i for i in g.initializer}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    changed = 0
    for rs in [n for n in g.node if n.op_type == "Resize"]:
        scales = inits.get(rs.input[2]) if len(rs.input) == 3 else None
        users = consumers.get(rs.output[0], [])
        if (scales is None or list(numpy_helper.to_array(scales)) != [1, 1, 2, 2]
                or _attr(rs, "mode") != b"nearest" or len(users) != 1 or users[0].op_type != "Conv"):
            continue
        conv = users[0]
        w = _constant(g, conv.input[1])
        bias = _constant(g, conv.input[2]) if len(conv.input) > 2 and conv.input[2] else None
        if (w is None or (bias is None and len(conv.input) > 2 and conv.input[2])
                or _attr(conv, "group", 1) != 1
                or list(_attr(conv, "kernel_shape", [])) != [3, 3]
                or list(_attr(conv, "pads", [0] * 4)) != [1, 1, 1, 1]
                or list(_attr(conv, "strides", [1, 1])) != [1, 1]
                or list(_attr(conv, "dilations", [1, 1])) != [1, 1]
                or _attr(rs, "coordinate_transformation_mode") != b"asymmetric"
                or _attr(rs, "nearest_mode", b"round_prefer_floor") != b"floor"):
            continue
        base = f"{conv.output[0]}_phases"
        g.initializer.append(numpy_helper.from_array(_phase_weights(w.astype(np.float64)), f"{base}_w"))
        ins = [rs.input[0], f"{base}_w"]
        if bias is not None:
            g.initializer.append(numpy_helper.from_array(np.repeat(bias, 4), f"{base}_b"))
            ins.append(f"{base}_b")
        # an elementwise ReLU right after moves before the interleave, where it fuses into the conv
        after = consumers.get(conv.output[0], [])
        relu = after[0] if len(after) == 1 and after[0].op_type == "Relu" else None
        final = (relu or conv).output[0]
        new = [helper.make_node("Conv", ins, [f"{base}_out"], name=base, kernel_shape=[3, 3],
                                pads=[1, 1, 1, 1])]
        if relu is not None:
            new.append(helper.make_node("Relu", [f"{base}_out"], [f"{base}_relu"], name=f"{base}_relu"))
        g.initializer.append(numpy_helper.from_array(_interleave_weights(w.shape[0]), f"{base}_i"))
        new.append(helper.make_node("ConvTranspose", [new[-1].output[0], f"{base}_i"], [final],
                                    name=f"{base}_interleave", group=int(w.shape[0]),
                                    kernel_shape=[2, 2], strides=[2, 2]))
        pos = list(g.node).index(rs)
        for n in (rs, conv, relu):
            if n is not None:
                g.node.remove(n)
        for k, n in enumerate(new):
            g.node.insert(pos + k, n)
        changed += 1
    if changed:
        prune_unused(g)  # Identity nodes that fed the old bias
        drop_unused_initializers(g)
    return changed
