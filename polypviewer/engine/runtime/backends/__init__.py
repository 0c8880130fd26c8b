"""Interchangeable model runners behind the pipeline: PyTorch (tuned for CUDA) and ONNX Runtime.

Every backend takes letterboxed uint8 frames and returns probabilities, and borrows
``finish`` from the :class:`Predictor`, so the pipeline, the live view and the benchmark never
care which one runs. ``make_backend(kind="auto")`` picks what is fastest where it runs:
ONNX Runtime on CPU, PyTorch (fp16, channels_last, pinned copies) on CUDA.
"""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np
import torch

from ...models.outputs import channel_probabilities
from .. import views
from ..inference import NCHW, FramePrediction, Predictor
from ..preprocess import Letterbox

log = logging.getLogger(__name__)

BACKEND_KINDS = ("auto", "torch", "onnx", "onnx-int8")
MAX_AUTO_BATCH = 64
# frames per model call on a CPU: small batches keep activations in cache; on a 2-core EPYC
# the pipeline ran about 7 % faster at 2 than at 8 (docs/performance.md)
CPU_BATCH = 2


class Backend(Protocol):
    """What the pipeline needs from a model runner."""

    kind: str  # "torch", "onnx" or "onnx-int8"
    note: str  # one line for people: device, precision, why a fallback happened
    predictor: Predictor
    batch_size: int | None  # current best batch size (halved after a CUDA OOM)
    lanes: int  # forward(..., lane=True) calls the pipeline may run at once

    def forward(self, batch: np.ndarray, lane: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(N, S, S, 3) uint8 letterboxed frames -> mask probs (N, S, S) float32, frame probs (N,).

        ``lane=True``: one of ``lanes`` concurrent calls (may then use fewer threads).
        """
        ...

    def forward_all(self, batch: np.ndarray, lane: bool = False):
        """``forward`` plus the neoplastic map (N, S, S) float32, None for one-channel models."""
        ...

    def finish(self, prob_model: np.ndarray, frame_prob: float, box: Letterbox,
               threshold: float | None = None,
               cadx_model: np.ndarray | None = None) -> FramePrediction:
        ...


class TorchBackend:
    """PyTorch eager (optionally compiled); on CUDA: fp16 autocast, channels_last, pinned memory.

    Results match ``Predictor.forward`` exactly on CPU (same ops in the same order).
    """

    kind = "torch"
    lanes = 1  # one stream of kernels (CUDA) or every core (CPU) per call

    def __init__(self, predictor: Predictor, *, compile: bool = False, note: str = "",
                 cuda_graphs: bool = True) -> None:
        self.predictor = predictor
        self.device = predictor.device
        self.cuda = self.device.type == "cuda"
        if self.cuda:  # fixed shapes (see forward): let cuDNN pick its fastest kernels once
            torch.backends.cudnn.benchmark = True
        self.net = predictor.net
        self.compiled = False
        if compile:
            try:
                self.net = torch.compile(predictor.net, dynamic=False)
                self.compiled = True
            except Exception as e:  # noqa: BLE001 - compile is an optional speed-up
                log.warning("torch.compile unavailable (%s); running eagerly", e)
        cfg = predictor.config
        self._mean = torch.tensor(cfg.mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(cfg.std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        # one replay per batch instead of hundreds of kernel launches from Python, which
        # queue behind the pipeline's other threads for the GIL (docs/performance.md)
        self.graphs_enabled = self.cuda and cuda_graphs and not self.compiled
        self._graphs: dict[int, _CudaGraph] = {}
        self.batch_size: int | None = None
        prec = "fp16" if predictor.fp16 else "fp32"
        extra = (", compiled" if self.compiled else "") + (", CUDA graphs" if self.graphs_enabled else "")
        self.note = f"PyTorch {prec}{extra} on {predictor.device_note}" + (f" ({note})" if note else "")

    def finish(self, prob_model, frame_prob, box, threshold=None, cadx_model=None) -> FramePrediction:
        return self.predictor.finish(prob_model, frame_prob, box, threshold, cadx_model)

    def _run(self, x: torch.Tensor):
        out = self.net(x)
        return out if isinstance(out, tuple) else (out, None)

    def compute(self, x: torch.Tensor, autocast_cache: bool = True):
        """uint8 NHWC frames already on the device -> mask and frame probabilities (and the
        neoplastic map or None), on the device.

        The same operations in the same order as ``normalise`` + ``Predictor.forward``, with
        mean/std made once, so nothing is copied from the host (a CUDA graph forbids that).
        """
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        x = ((x - self._mean) / self._std).contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.predictor.fp16,
                            cache_enabled=autocast_cache):
            m, c = views.averaged(self._run, x, self.predictor.tta, NCHW)
        return channel_probabilities(m, c)

    def _graph_for(self, n: int) -> _CudaGraph | None:
        """The captured graph for ``n`` frames: only the pipeline's batch and single live frames."""
        if not self.graphs_enabled or n not in (1, self.batch_size):
            return None
        graph = self._graphs.get(n)
        if graph is None:
            try:
                graph = self._graphs[n] = _CudaGraph(self, n)
            except torch.cuda.OutOfMemoryError:
                self._graphs.clear()  # free their memory pools; the caller halves the batch
                torch.cuda.empty_cache()
                raise
            except Exception as e:  # noqa: BLE001 - graphs are a speed-up; eager always works
                log.warning("CUDA graph capture failed (%s); running eagerly", e)
                self.graphs_enabled = False
                self._graphs.clear()
                self.note = self.note.replace(", CUDA graphs", "") + " (CUDA graphs failed)"
                return None
        return graph

    def forward(self, batch: np.ndarray, lane: bool = False) -> tuple[np.ndarray, np.ndarray]:
        probs, frame, _ = self.forward_all(batch, lane)
        return probs, frame

    @torch.inference_mode()
    def forward_all(self, batch: np.ndarray, lane: bool = False):
        n = len(batch)
        if (self.compiled or (self.cuda and n > 1)) and self.batch_size and n < self.batch_size:
            # a fixed shape avoids a recompile (or a cuDNN re-tune) for the last, shorter batch;
            # single live frames stay unpadded for latency
            pad = np.zeros((self.batch_size - n,) + batch.shape[1:], batch.dtype)
            batch = np.concatenate([batch, pad])
        x = torch.from_numpy(np.ascontiguousarray(batch))
        if self.cuda:  # uint8 crosses the bus (4x less than float), asynchronously
            x = x.pin_memory()
            graph = self._graph_for(len(x))
            if graph is not None:
                probs, frame, cadx = graph.run(x)
            else:
                probs, frame, cadx = self.compute(x.to(self.device, non_blocking=True))
        else:
            probs, frame, cadx = self.compute(x.to(self.device))
        return (probs[:n].cpu().numpy(), frame[:n].cpu().numpy(),
                None if cadx is None else cadx[:n].cpu().numpy())


class _CudaGraph:
    """``TorchBackend.compute`` captured once for a fixed batch; each call is one replay."""

    def __init__(self, backend: TorchBackend, n: int) -> None:
        s, dev = backend.predictor.config.input_size, backend.device
        self.input = torch.zeros((n, s, s, 3), dtype=torch.uint8, device=dev)
        side = torch.cuda.Stream(dev)  # warm-up off the default stream, as capture requires
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):
            for _ in range(3):
                backend.compute(self.input, autocast_cache=False)
        torch.cuda.current_stream(dev).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):  # autocast's weight cache must stay off in a graph
            self.probs, self.frame, self.cadx = backend.compute(self.input, autocast_cache=False)

    def run(self, x_pinned: torch.Tensor):
        """Results live in the graph's own buffers: copy them out before the next call."""
        self.input.copy_(x_pinned, non_blocking=True)
        self.graph.replay()
        return self.probs, self.frame, self.cadx


def forward_maps(backend: Backend, batch: np.ndarray, lane: bool = False):
    """(mask probs, frame probs, neoplastic map or None) from any backend.

    One-channel models take the plain ``forward`` path, exactly as before the channel existed.
    """
    if backend.predictor.has_cadx:
        return backend.forward_all(batch, lane=True) if lane else backend.forward_all(batch)
    probs, frame = backend.forward(batch, lane=True) if lane else backend.forward(batch)
    return probs, frame, None


def forward_adaptive(backend: Backend, batch: np.ndarray, lane: bool = False):
    """``backend.forward_all`` that survives CUDA out-of-memory: halve the batch and retry.

    Returns mask probs, frame probs and the neoplastic map (None for one-channel models).
    The halved size is remembered on the backend so later batches are split up front.
    """
    size = backend.batch_size or len(batch)
    if len(batch) > size:
        parts = [forward_adaptive(backend, batch[i:i + size], lane)
                 for i in range(0, len(batch), size)]
        cadx = None if parts[0][2] is None else np.concatenate([k for _, _, k in parts])
        return (np.concatenate([p for p, _, _ in parts]), np.concatenate([f for _, f, _ in parts]),
                cadx)
    try:
        return forward_maps(backend, batch, lane)
    except torch.cuda.OutOfMemoryError:
        if len(batch) <= 1:
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        backend.batch_size = max(1, len(batch) // 2)
        log.warning("GPU out of memory with %d frames per batch; retrying with %d",
                    len(batch), backend.batch_size)
        return forward_adaptive(backend, batch, lane)


def suggest_batch_size(backend: Backend, default: int = CPU_BATCH) -> int:
    """Frames per model call: on CUDA from free GPU memory (measured with a probe), else ``default``."""
    pred = backend.predictor
    if backend.kind != "torch" or pred.device.type != "cuda":
        return default
    try:
        s = pred.config.input_size
        free, _ = torch.cuda.mem_get_info(pred.device)
        torch.cuda.synchronize(pred.device)
        base = torch.cuda.memory_allocated(pred.device)
        torch.cuda.reset_peak_memory_stats(pred.device)
        backend.forward(np.zeros((2, s, s, 3), np.uint8))
        per_frame = max(1, (torch.cuda.max_memory_allocated(pred.device) - base) // 2)
        fit = int(0.6 * free // per_frame)
        size = 1 << max(0, min(fit, MAX_AUTO_BATCH).bit_length() - 1)  # power of two, rounded down
        log.info("batch size %d from %.1f GiB free GPU memory", size, free / 2**30)
        return max(1, size)
    except Exception as e:  # noqa: BLE001 - the probe is only a guess; the OOM fallback remains
        log.warning("could not size the batch from GPU memory (%s); using %d", e, default)
        return default


def make_backend(predictor: Predictor, kind: str = "auto", *, compile: bool = False,
                 cuda_graphs: bool = True, threads: int | None = None) -> Backend:
    """The runner for ``predictor``: ``auto`` = ONNX Runtime on CPU, PyTorch on CUDA/MPS.

    Any ONNX failure (export, numerical check, missing runtime) falls back to PyTorch with the
    reason logged and kept in ``backend.note``. ``threads`` caps ONNX Runtime's threads and
    lanes (a batch worker given part of a machine); None = every physical core.
    """
    if kind not in BACKEND_KINDS:
        raise ValueError(f"unknown backend '{kind}' (use {', '.join(BACKEND_KINDS)})")
    if kind == "torch" or (kind == "auto" and predictor.device.type != "cpu"):
        return TorchBackend(predictor, compile=compile, cuda_graphs=cuda_graphs)
    from .onnx_backend import OnnxBackend  # onnx/onnxruntime only when used

    reasons = []
    for quantize in ([True, False] if kind == "onnx-int8" else [False]):
        try:
            return OnnxBackend(predictor, quantize=quantize, threads=threads)
        except Exception as e:  # noqa: BLE001 - any ONNX trouble: say why, keep working
            what = "int8 ONNX" if quantize else "ONNX"
            reasons.append(f"{what} unavailable: {e}")
            log.warning("%s unavailable, falling back: %s", what, e)
    return TorchBackend(predictor, compile=compile, cuda_graphs=cuda_graphs, note="; ".join(reasons))
