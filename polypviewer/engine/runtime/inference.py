"""Run a model on frames: device choice, batching, fp16 on CUDA, results at original size."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..models.device import resolve_device
from ..models.model_settings import effective_threshold
from ..models.modelfile import LoadedModel, load_model
from ..models.operating_point import DEFAULT_FRAME_THRESHOLD, resolve_frame_threshold
from ..models.outputs import channel_probabilities
from ..models.profiles import resolve_size
from ..models.registry import resolve_model
from . import views
from .postprocess import DEFAULT_MIN_AREA_FRACTION, Instance, find_instances, min_area_pixels
from .preprocess import Letterbox, normalise, prepare, unletterbox

NCHW = {"h": 2, "w": 3}  # where the test-time views flip a batch of normalised frames


@dataclass
class FramePrediction:
    """Everything the model says about one frame, at the frame's own resolution."""

    prob: np.ndarray  # float32 (H, W) polyp probability
    frame_prob: float  # probability that the frame shows a polyp
    threshold: float
    mask: np.ndarray  # bool (H, W), specks removed
    instances: list[Instance] = field(default_factory=list)
    min_area_fraction: float = DEFAULT_MIN_AREA_FRACTION
    cadx: np.ndarray | None = None  # float32 (H, W) P(neoplastic | polyp), models with the channel
    frame_threshold: float = DEFAULT_FRAME_THRESHOLD  # the model's verdict operating point

    @property
    def count(self) -> int:
        return len(self.instances)

    @property
    def frame_positive(self) -> bool:
        """The frame verdict: the frame probability at the model's operating point."""
        return self.frame_prob >= self.frame_threshold

    def rethreshold(self, threshold: float, min_area_fraction: float | None = None) -> "FramePrediction":
        """Same probabilities, new threshold: no model run (the GUI slider uses this)."""
        frac = self.min_area_fraction if min_area_fraction is None else min_area_fraction
        out = from_probability(self.prob, self.frame_prob, threshold, frac, self.cadx)
        out.frame_threshold = self.frame_threshold
        return out


def from_probability(prob: np.ndarray, frame_prob: float, threshold: float,
                     min_area_fraction: float = DEFAULT_MIN_AREA_FRACTION,
                     cadx: np.ndarray | None = None) -> FramePrediction:
    """The one post-processing path: mask, specks removed, instances (+ their CADx mean)."""
    insts, mask = find_instances(prob >= threshold, prob, min_area_pixels(prob.shape, min_area_fraction),
                                 cadx)
    return FramePrediction(prob, float(frame_prob), float(threshold), mask, insts, min_area_fraction,
                           cadx)


class Predictor:
    """Loads a model once and predicts frames; safe to use from one worker thread at a time."""

    def __init__(self, model: LoadedModel | str | Path | None = None, device: str = "auto",
                 threshold: float | None = None,
                 min_area_fraction: float = DEFAULT_MIN_AREA_FRACTION,
                 tta: str | bool | None = False, input_size: int | str | None = None) -> None:
        """``input_size``: pixels, a profile name ("accurate", "fast": profiles.py) or None.
        ``tta``: test-time views (views.py); "auto" is settled per media by ``for_media``."""
        self.device, self.device_note = resolve_device(device)
        if not isinstance(model, LoadedModel):
            model = load_model(resolve_model(model))
        self.native_size = model.config.input_size
        size = resolve_size(input_size, model.metadata, self.native_size)
        if size != self.native_size:
            # the nets are fully convolutional: a smaller analysis size trades a little
            # accuracy for speed (docs/performance.md measures both)
            model = dataclasses.replace(
                model, config=dataclasses.replace(model.config, input_size=size))
        self.loaded = model
        self.config = model.config
        self.net = model.model.to(self.device).eval()
        if self.device.type != "mps":
            self.net = self.net.to(memory_format=torch.channels_last)
        # the one resolution of a model's threshold: explicit > the user's model settings > file
        if threshold is not None:
            self.threshold, self.threshold_source = float(threshold), "requested"
        else:
            self.threshold = effective_threshold(model)
            self.threshold_source = "model file" if self.threshold == model.threshold else "your setting"
        self.frame_threshold = resolve_frame_threshold(model.metadata, model.threshold,
                                                       model.config.classification_head)
        self.min_area_fraction = min_area_fraction
        self.tta_request = tta
        self.tta = views.resolve(tta)  # the views in use; "auto" is one view until for_media
        self.fp16 = self.device.type == "cuda"

    def for_media(self, kind: str | None) -> "Predictor":
        """This predictor with the test-time views for media of ``kind`` ("video", "image",
        "folder", "dataset"): an explicit choice stays, "auto" follows the kind. A copy that
        shares the network when the views differ, so a running analysis never sees a change."""
        mode = views.resolve(self.tta_request, kind)
        if mode == self.tta:
            return self
        other = copy.copy(self)  # shallow: the network, lock and config are shared
        other.tta = mode
        return other

    @property
    def name(self) -> str:
        return self.loaded.name

    def prepare(self, rgb: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        return prepare(rgb, self.config)

    @property
    def has_cadx(self) -> bool:
        return self.config.has_cadx

    def forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, S, S, 3) uint8 prepared frames -> mask probs (N, S, S) and frame probs (N,)."""
        probs, frame, _ = self.forward_all(batch)
        return probs, frame

    @torch.inference_mode()
    def forward_all(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``forward`` plus the neoplastic map (N, S, S), None for one-channel models."""
        x = normalise(torch.from_numpy(np.ascontiguousarray(batch)).to(self.device), self.config)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.fp16):
            m, c = views.averaged(self._run, x, self.tta, NCHW)
        probs, frame, cadx = channel_probabilities(m, c)
        return probs.cpu().numpy(), frame.cpu().numpy(), None if cadx is None else cadx.cpu().numpy()

    def _run(self, x: torch.Tensor):
        out = self.net(x)
        return out if isinstance(out, tuple) else (out, None)

    def finish(self, prob_model: np.ndarray, frame_prob: float, box: Letterbox,
               threshold: float | None = None, cadx_model: np.ndarray | None = None) -> FramePrediction:
        """Model-size probability (and neoplastic map) -> prediction at the frame's size."""
        prob = unletterbox(prob_model.astype(np.float32), box)
        cadx = None
        if cadx_model is not None:
            cadx = np.ascontiguousarray(unletterbox(cadx_model.astype(np.float32), box))
        thr = self.threshold if threshold is None else threshold
        out = from_probability(np.ascontiguousarray(prob), frame_prob, thr, self.min_area_fraction,
                               cadx)
        out.frame_threshold = self.frame_threshold
        return out

    def predict_batch(self, frames: list[np.ndarray]) -> list[FramePrediction]:
        if not frames:
            return []
        prepared = [self.prepare(f) for f in frames]
        probs, frame, cadx = self.forward_all(np.stack([p for p, _ in prepared]))
        return [self.finish(probs[i], float(frame[i]), prepared[i][1],
                            cadx_model=None if cadx is None else cadx[i])
                for i in range(len(frames))]

    def predict(self, rgb: np.ndarray) -> FramePrediction:
        return self.predict_batch([rgb])[0]
