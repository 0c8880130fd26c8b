"""ONNX export and an ONNX Runtime backend: on CPU it is clearly faster than eager PyTorch.

The exported graph takes the letterboxed uint8 frames (N, S, S, 3) directly and normalises
inside, so the Python side only stacks frames. Files are cached next to the model
(``NAME.onnx``, ``NAME.int8.onnx``) and keyed by the weights' sha256 and the config, stored in
the ONNX metadata, so a retrained model is never served a stale graph. Bundled models may sit
in a read-only folder: then the user cache (``user_cache_dir()/onnx``) holds them.

Every export is checked against PyTorch on synthetic frames before it is written: fp32 must
agree within ``TOLERANCE`` in probability, int8 is checked by Dice agreement of the masks.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import tempfile
import threading
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from .... import paths
from ... import fsutil
from ...errors import ModelFileError, PolypViewerError
from ...metrics import mask_dice
from ...models.device import physical_cores
from ...models.modelfile import LoadedModel
from ...models.outputs import neoplastic_probabilities, probabilities
from .. import views
from ..inference import FramePrediction, Predictor
from ..preprocess import normalise
from .onnx_graph import one_channel_convs_as_depthwise, static_resize_scales, upsampled_convs_as_phases

log = logging.getLogger(__name__)

EXPORT_VERSION = 4  # bump when the exported graph changes (inputs, outputs, rewrites): caches are redone
OPSET = 17
TOLERANCE = 1e-3  # max |p_onnx - p_torch| accepted for fp32
MIN_INT8_DICE = 0.9  # below this the int8 masks are too different to be offered
INPUT = "frames"


class _Graph(nn.Module):
    """uint8 NHWC frames -> mask logits (N, S, S) [+ frame logits (N,)] [+ neoplastic logits
    (N, S, S)], normalisation inside; ``output_names`` says which."""

    def __init__(self, net: nn.Module, loaded: LoadedModel) -> None:
        super().__init__()
        self.net = net
        self.config = loaded.config

    def forward(self, x: torch.Tensor):
        out = self.net(normalise(x, self.config))
        m, c = out if isinstance(out, tuple) else (out, None)
        res = [m[:, 0]] + ([c[:, 0]] if c is not None else []) + ([m[:, 1]] if m.shape[1] > 1 else [])
        return tuple(res) if len(res) > 1 else res[0]


def output_names(loaded: LoadedModel) -> list[str]:
    cfg = loaded.config
    return (["mask_logits"] + (["frame_logits"] if cfg.classification_head else [])
            + (["cadx_logits"] if cfg.has_cadx else []))


def cache_key(loaded: LoadedModel) -> str:
    """sha256 of what determines the graph: weights, config and this exporter's version."""
    weights = loaded.metadata.get("weights_sha256")
    if not weights:  # an in-memory model: hash its tensors
        h = hashlib.sha256()
        for k, v in loaded.model.state_dict().items():
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
        weights = h.hexdigest()
    blob = json.dumps([weights, loaded.config.to_dict(), EXPORT_VERSION, OPSET], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def candidate_paths(loaded: LoadedModel, quantize: bool = False) -> list[Path]:
    """Where the graph may live, in order of preference: beside the model, then the user cache."""
    suffix = ".int8.onnx" if quantize else ".onnx"
    native = loaded.metadata.get("config", {}).get("input_size")
    if native is not None and native != loaded.config.input_size:  # one graph per analysis size
        suffix = f".{loaded.config.input_size}px{suffix}"
    key = cache_key(loaded)
    stem = loaded.path.with_suffix("").name if loaded.path else loaded.name
    cached = paths.user_cache_dir() / "onnx" / f"{stem}-{key[:16]}{suffix}"
    return ([loaded.path.with_suffix(suffix)] if loaded.path else []) + [cached]


def check_frames(size: int, n: int = 4, seed: int = 0) -> np.ndarray:
    """Deterministic mucosa-like frames with bright blobs, to compare two runners on."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), np.uint8)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        base = np.stack([150 + 60 * yy, 60 + 40 * xx, 60 + 30 * yy * xx], -1)
        img = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        for _ in range(1 + i % 3):
            r = int(rng.integers(size // 10, size // 4))
            c = (int(rng.integers(r, size - r)), int(rng.integers(r, size - r)))
            cv2.circle(img, c, r, (230, 170, 150), -1)
        out[i] = img
    return out


def _torch_logits(graph: nn.Module, frames: np.ndarray) -> list[np.ndarray]:
    with torch.inference_mode():
        out = graph(torch.from_numpy(frames))
    return [t.float().numpy() for t in (out if isinstance(out, tuple) else (out,))]


def _probs(outputs: list[np.ndarray], names: list[str]) -> list[np.ndarray]:
    """Mask and frame probabilities of a graph's outputs (named as ``output_names`` says),
    then the neoplastic map for two-channel models."""
    out = dict(zip(names, outputs))
    probs, frame = probabilities(out["mask_logits"], out.get("frame_logits"))
    cadx = neoplastic_probabilities(out.get("cadx_logits"))
    return [probs, frame] + ([] if cadx is None else [cadx])


def _export_bytes(loaded: LoadedModel, key: str) -> bytes:
    """Trace to ONNX (dynamic batch), check against PyTorch, return the file's bytes."""
    import onnx

    net = copy.deepcopy(loaded.model).float().cpu().eval()
    net = net.to(memory_format=torch.contiguous_format)
    graph = _Graph(net, loaded).eval()
    frames = check_frames(loaded.config.input_size)
    names = output_names(loaded)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = Path(tmp) / "model.onnx"
        torch.onnx.export(graph, (torch.from_numpy(frames[:2]),), str(f), dynamo=False,
                          opset_version=OPSET, input_names=[INPUT], output_names=names,
                          dynamic_axes={n: {0: "batch"} for n in [INPUT, *names]},
                          do_constant_folding=True)
        model = onnx.load(str(f))
    rewrites = {"static_resizes": static_resize_scales(model),
                "depthwise_heads": one_channel_convs_as_depthwise(model)}
    rewrites["phase_convs"] = upsampled_convs_as_phases(model)  # needs the constant scales
    ref = _torch_logits(graph, frames)
    sess = _session(model.SerializeToString(), threads=physical_cores())
    got = sess.run(None, {INPUT: frames})
    diff = max(float(np.abs(a - b).max()) for a, b in zip(_probs(ref, names), _probs(got, names)))
    if not diff < TOLERANCE:
        raise PolypViewerError(f"ONNX export of {loaded.name} differs from PyTorch by {diff:.2g} "
                               f"in probability (limit {TOLERANCE:g}); not used")
    onnx.helper.set_model_props(model, {"polypviewer_key": key, "max_abs_diff": f"{diff:.3g}",
                                        "model_name": loaded.name,
                                        **{k: str(v) for k, v in rewrites.items()}})
    return model.SerializeToString()


def _quantize_bytes(fp32_path: Path, loaded: LoadedModel, key: str, min_dice: float) -> bytes:
    """Dynamic int8 weights (activations quantised on the fly); Dice agreement checked."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = Path(tmp) / "model.int8.onnx"
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)  # the quantiser logs a line per tensor on the root logger
        try:
            quantize_dynamic(str(fp32_path), str(out), weight_type=QuantType.QUInt8)
        finally:
            logging.disable(previous)
        model = onnx.load(str(out))
    frames = check_frames(loaded.config.input_size, n=8)
    threads = physical_cores()
    names = output_names(loaded)
    ref = _probs(_session(str(fp32_path), threads).run(None, {INPUT: frames}), names)[0]
    got = _probs(_session(model.SerializeToString(), threads).run(None, {INPUT: frames}), names)[0]
    dice = mask_dice(ref >= loaded.threshold, got >= loaded.threshold)
    if dice < min_dice:
        raise PolypViewerError(f"int8 model of {loaded.name} agrees with fp32 only at Dice "
                               f"{dice:.3f} (limit {min_dice}); not used")
    onnx.helper.set_model_props(model, {"polypviewer_key": key, "dice_vs_fp32": f"{dice:.4f}",
                                        "max_abs_diff": f"{float(np.abs(ref - got).max()):.3g}",
                                        "model_name": loaded.name})
    return model.SerializeToString()


def read_props(path: Path) -> dict[str, str]:
    """The polypviewer metadata of an ONNX file ({} if unreadable)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - a damaged cache file is simply redone
        return {}
    return {p.key: p.value for p in model.metadata_props}


def _write(path: Path, blob: bytes) -> bool:
    try:
        fsutil.write_bytes(path, blob)
        return True
    except (OSError, PolypViewerError) as e:
        log.info("cannot cache ONNX at %s (%s)", path, e)
        return False


def ensure_onnx(loaded: LoadedModel, quantize: bool = False, *,
                min_dice: float = MIN_INT8_DICE) -> tuple[Path, dict[str, str]]:
    """The checked ONNX file for ``loaded`` (exported once, then reused) and its metadata."""
    key = cache_key(loaded)
    candidates = candidate_paths(loaded, quantize)
    for p in candidates:
        if p.is_file():
            props = read_props(p)
            if props.get("polypviewer_key") == key:
                return p, props
    if quantize:
        fp32_path, _ = ensure_onnx(loaded, False)
        blob = _quantize_bytes(fp32_path, loaded, key, min_dice)
    else:
        log.info("exporting %s to ONNX (once; cached)", loaded.name)
        blob = _export_bytes(loaded, key)
    for p in candidates:
        if _write(p, blob):
            return p, read_props(p)
    raise PolypViewerError(f"cannot write the ONNX file for {loaded.name}: "
                           f"neither {candidates[0].parent} nor the user cache is writable")


def _session(model: str | bytes, threads: int, providers: list[str] | None = None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # no busy-waiting: decode and post-processing threads need the same cores
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    return ort.InferenceSession(model, so, providers=providers or ["CPUExecutionProvider"])


class OnnxBackend:
    """ONNX Runtime on the CPU (or its CUDA provider when the predictor is on CUDA)."""

    def __init__(self, predictor: Predictor, *, quantize: bool = False,
                 threads: int | None = None, min_dice: float = MIN_INT8_DICE,
                 lanes: int | None = None) -> None:
        import onnxruntime as ort

        self.predictor = predictor
        self.kind = "onnx-int8" if quantize else "onnx"
        self.path, self.props = ensure_onnx(predictor.loaded, quantize, min_dice=min_dice)
        providers = ["CPUExecutionProvider"]
        if predictor.device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.threads = threads or physical_cores()
        try:
            self.session = _session(str(self.path), self.threads, providers)
        except Exception as e:
            raise ModelFileError(f"ONNX Runtime cannot load {self.path}: {e}") from e
        outputs = [o.name for o in self.session.get_outputs()]
        self.has_head = "frame_logits" in outputs
        self._cadx_at = outputs.index("cadx_logits") if "cadx_logits" in outputs else None
        self.batch_size: int | None = None
        # Several single-threaded calls at once beat one call spread over every core on a
        # small CPU (no per-operator barrier, other stages fill the gaps): 2-core EPYC, 34-40
        # -> 42 frames/s model only (docs/performance.md). The pipeline uses them; a live
        # frame still gets every core for the lowest latency.
        on_cpu = providers[0] == "CPUExecutionProvider"
        self.lanes = self.threads if on_cpu and lanes is None else max(1, lanes or 1)
        self._lane_session = None
        self._lane_lock = threading.Lock()
        where = "CUDA" if providers[0].startswith("CUDA") else f"CPU, {self.threads} threads"
        extra = f", Dice vs fp32 {self.props['dice_vs_fp32']}" if quantize else ""
        self.note = f"ONNX Runtime {'int8' if quantize else 'fp32'} ({where}{extra})"

    @property
    def dice_vs_fp32(self) -> float | None:
        v = self.props.get("dice_vs_fp32")
        return float(v) if v else None

    def finish(self, prob_model, frame_prob, box, threshold=None, cadx_model=None) -> FramePrediction:
        return self.predictor.finish(prob_model, frame_prob, box, threshold, cadx_model)

    def _single_threaded(self):
        """One 1-thread session shared by every lane (ONNX Runtime sessions are thread-safe)."""
        with self._lane_lock:
            if self._lane_session is None:
                self._lane_session = _session(str(self.path), 1)
            return self._lane_session

    def _run(self, batch: np.ndarray, session):
        out = session.run(None, {INPUT: np.ascontiguousarray(batch)})
        return (out[0], (out[1] if self.has_head else None),
                (out[self._cadx_at] if self._cadx_at is not None else None))

    def forward(self, batch: np.ndarray, lane: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``lane=True``: run on the calling thread only, for ``lanes`` concurrent calls."""
        probs, frame, _ = self.forward_all(batch, lane)
        return probs, frame

    def forward_all(self, batch: np.ndarray, lane: bool = False):
        """``forward`` plus the neoplastic map (N, S, S), None for one-channel models."""
        session = self._single_threaded() if lane and self.lanes > 1 else self.session
        # the same averaging of logits as Predictor.forward, on NHWC uint8 frames
        m, c, k = views.averaged(lambda b: self._run(b, session), batch, self.predictor.tta,
                                 {"h": 1, "w": 2})
        probs, frame = probabilities(m, c)
        return probs, frame, neoplastic_probabilities(k)
