"""Decoding the image shown in the dataset review, in a worker: the file, its mask and the
cached prediction re-thresholded (a few tens of ms for a full-HD frame, never on the UI thread).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ImageRequest:
    opened: object  # analysis.Opened
    index: int
    threshold: float


@dataclass
class ImageResult:
    frame: object  # engine.media.sources.Frame, with gt_mask
    prediction: object | None  # FramePrediction at the request's threshold, None if not analysed


def load_image(req: ImageRequest) -> ImageResult:
    o = req.opened
    frame = o.source[req.index]
    pred = None
    if o.store.has(req.index):
        pred = o.store.get(req.index, req.threshold, o.predictor.min_area_fraction)
    return ImageResult(frame, pred)
