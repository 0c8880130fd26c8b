"""What the worker threads run: opening media, loading models, decoding, analysing, tracking.

No widgets here; each function takes everything it needs in its arguments (a snapshot made
on the UI thread) and returns plain data, so a request is never affected by later UI changes.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ..engine.media.sources import Frame, Source, open_source
from ..engine.models import profiles
from ..engine.models.modelfile import load_model
from ..engine.models.registry import resolve_model
from ..engine.runtime.inference import FramePrediction, Predictor
from ..engine.runtime.pipeline import AnalysisOptions, StoreSink, analyse_into
from ..engine.runtime.results import AnalysisStore

PREDICT_LOCK = threading.Lock()  # one live single-frame prediction at a time


class NetCopy:
    """A Predictor with a network of its own, made on first use in the worker that needs it.

    Analysis runs the loaded Predictor's network; live single-frame prediction, and Grad-CAM
    with the feature maps, each run their own copy, so no two threads ever run (or hook) the
    same ``nn.Module``. ``lock`` serialises the users of one copy.
    """

    def __init__(self, predictor: Predictor) -> None:
        self.base = predictor
        self.lock = threading.Lock()
        self._copy: Predictor | None = None

    def get(self) -> Predictor:
        """Call with ``lock`` held."""
        if self._copy is None:
            own = object.__new__(Predictor)
            own.__dict__.update(self.base.__dict__)
            own.net = copy.deepcopy(self.base.net)
            self._copy = own
        return self._copy


def open_store(source: Source, predictor: Predictor, n: int) -> AnalysisStore:
    """The cache of ``predictor`` on ``source`` (reads every chunk index: never on the UI thread).

    Here, in the analysis and in live prediction, the predictor takes the test-time views
    of the source's kind (``Predictor.for_media``): the store's key names the views used."""
    return AnalysisStore.open(source, predictor.for_media(source.kind), n_frames=n)


def fresh_store(old: AnalysisStore, source: Source, predictor: Predictor, n: int,
                wait_for: threading.Thread | None = None, readers_idle=None) -> AnalysisStore:
    """Re-analyse: once ``wait_for`` (the analysis writing ``old``) has ended and
    ``readers_idle()`` (e.g. the findings worker) holds, delete ``old`` from disk and open an
    empty store in its place."""
    if wait_for is not None and wait_for is not threading.current_thread():
        wait_for.join()
    while readers_idle is not None and not readers_idle():
        time.sleep(0.02)
    old.delete()
    return open_store(source, predictor, n)


@dataclass
class Opened:
    source: Source
    n: int
    kind: str
    fps: float | None
    store: AnalysisStore | None


def open_media(path: str, predictor: Predictor | None) -> Opened:
    src = open_source(path)
    try:
        n = len(src)
        store = open_store(src, predictor, n) if predictor is not None else None
    except BaseException:
        src.close()
        raise
    return Opened(src, n, src.kind, src.fps, store)


@dataclass
class Loaded:
    predictor: Predictor
    store: AnalysisStore | None


def load_predictor(model_path: str | None, device: str, source: Source | None,
                   n: int, input_size: int | str | None = None, tta: str = "auto") -> Loaded:
    """``input_size`` "fast" on a model without a fast profile runs at the model's own size:
    the choice stays the user's and applies again to the next model that has one.
    ``tta``: the test-time views setting (engine.runtime.views), settled per source."""
    loaded = load_model(resolve_model(model_path))
    if input_size == profiles.FAST and profiles.fast_size(loaded.metadata) is None:
        input_size = None
    pred = Predictor(loaded, device=device, input_size=input_size or None, tta=tta)
    store = open_store(source, pred, n) if source is not None else None
    return Loaded(pred, store)


@dataclass
class FrameRequest:
    generation: int
    index: int
    source: Source
    store: AnalysisStore | None
    predictor: NetCopy | None  # the live-prediction copy
    threshold: float
    min_area: float
    predict: bool  # run the model when the frame is not in the store


@dataclass
class FrameResult:
    frame: Frame
    prediction: FramePrediction | None


def predict_into_store(predictor: Predictor, store: AnalysisStore, frame: Frame) -> None:
    prepared, box = predictor.prepare(frame.rgb)
    probs, frame_probs = predictor.forward(prepared[None])
    store.put(frame.index, probs[0], float(frame_probs[0]), box, time_s=frame.time_s)


def load_frame(req: FrameRequest) -> FrameResult:
    """Decode frame ``index`` exactly; its prediction from the store, or live if allowed.

    A cached entry found damaged on reading is discarded by the store (``get`` raises
    ``KeyError`` and ``has`` turns False); the frame is then analysed again in this request,
    so the viewer shows it analysed, never a failure.
    """
    frame = req.source[req.index]
    store = req.store
    if store is None:
        return FrameResult(frame, None)
    for _ in range(2):  # the second round only after a damaged entry was discarded
        if not store.has(req.index) and req.predict and req.predictor is not None:
            with PREDICT_LOCK, req.predictor.lock:
                if not store.has(req.index):
                    predict_into_store(req.predictor.get().for_media(req.source.kind), store,
                                       frame)
        if not store.has(req.index):
            break
        try:
            return FrameResult(frame, store.get(req.index, req.threshold, req.min_area))
        except KeyError:
            if store.has(req.index):
                raise  # not a discarded entry: a real fault, reported as one
    return FrameResult(frame, None)


@dataclass
class Progress:
    done: int  # frames analysed in total (including earlier runs)
    total: int
    fps: float  # frames per second in this run
    eta_s: float | None
    problems: list[str] = field(default_factory=list)  # input problems met (sources.py)


def analyse_source(path: str, predictor: Predictor, store: AnalysisStore, n: int,
                   cancel: threading.Event, batch_size: int | None = None,
                   stop: int | None = None) -> Iterator[Progress]:
    """Analyse every frame not yet in ``store`` (up to ``stop``), yielding progress ~5x/s.

    Frames are decoded sequentially from a Source of its own, so this never competes with
    the viewer's decoder. Results are flushed to disk on the way out, also when cancelled.
    """
    stop = n if stop is None else min(stop, n)
    done0 = int(np.count_nonzero(~np.isnan(store.frame_probs[:stop])))
    todo = [i for i in range(stop) if not store.has(i)]
    if not todo:
        return True
    src = open_source(path)
    t0 = last = time.perf_counter()
    count = 0

    try:
        # the engine's pipeline overlaps decoding, batched inference and storing
        options = AnalysisOptions(batch_size=batch_size, indices=tuple(todo))
        for _ in analyse_into(StoreSink(store), src, predictor.for_media(src.kind), options,
                              cancel):
            count += 1
            now = time.perf_counter()
            if now - last > 0.2 or count == len(todo):
                last = now
                rate = count / max(now - t0, 1e-6)
                left = len(todo) - count
                yield Progress(done0 + count, stop, rate, left / rate if rate > 0 else None)
        if src.problems():  # skipped images, a video damaged part-way: said, then done
            yield Progress(done0 + count, stop, count / max(time.perf_counter() - t0, 1e-6),
                           None, src.problems())
        return not cancel.is_set()
    finally:
        src.close()
        store.flush()


@dataclass
class FindingsRequest:
    path: str
    store: AnalysisStore
    threshold: float
    min_area: float
    fps: float | None
    generation: int = 0
    settings: object = None  # engine.analysis.tracking.TrackingSettings (None: the defaults)


@dataclass
class FindingsResult:
    track: object  # engine.analysis.tracking.TrackResult
    segments: list[tuple[int, int, int]]  # (first frame, last frame, finding ID)
    frame_probs: np.ndarray
    counts: np.ndarray
    thumbs: dict[int, np.ndarray] = field(default_factory=dict)  # finding ID -> close-up
    names: dict[int, str] = field(default_factory=dict)  # stills: file name per frame index


def compute_findings(req: FindingsRequest) -> FindingsResult:
    """The analysis' findings (engine.analysis.findings_cache, as every export reads them)."""
    from ..engine.analysis.findings_cache import findings_for_store
    from ..engine.analysis.tracking import DEFAULT_SETTINGS
    from ..engine.export import overlay
    from ..engine.export.report import crop_around

    store = req.store
    probs = store.frame_probs
    result = findings_for_store(store, req.path, req.threshold, req.min_area, req.fps,
                                req.settings or DEFAULT_SETTINGS)
    counts = np.full(len(probs), np.nan)
    for i, ids in result.ids_per_frame.items():
        if i < len(counts):
            counts[i] = len(ids)
    thumbs: dict[int, np.ndarray] = {}
    names: dict[int, str] = {}
    if result.findings:
        src = open_source(req.path)
        try:
            for f in result.findings[:200]:
                frame = src[f.best_index]
                pred = store.get(f.best_index, req.threshold, req.min_area)
                ids = result.ids_per_frame.get(f.best_index)
                img = overlay.draw_overlay(frame.rgb, pred, track_ids=ids,
                                           style=overlay.DEFAULT_STYLE.only("mask", "contours", "boxes"))
                thumbs[f.id] = _shrink(crop_around(img, f.best_bbox, pad=0.6), 160)
                if not req.fps:
                    names[f.best_index] = frame.name
        finally:
            src.close()
    return FindingsResult(result, result.spans(), probs, counts, thumbs, names)


def _shrink(rgb: np.ndarray, side: int) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    s = side / max(h, w)
    if s >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)


@dataclass
class CamRequest:
    index: int
    rgb: np.ndarray
    net: NetCopy  # the explain copy, shared with the feature maps under its lock
    target: str


def compute_gradcam(req: CamRequest) -> np.ndarray:
    from ..engine.analysis.gradcam import gradcam

    with req.net.lock:
        return gradcam(req.net.get(), req.rgb, req.target)


@dataclass
class FeatureRequest:
    index: int
    rgb: np.ndarray
    net: NetCopy
    stages: tuple[int, ...]


def compute_features(req: FeatureRequest) -> list[np.ndarray]:
    from ..engine.analysis.gradcam import feature_maps

    with req.net.lock:
        return feature_maps(req.net.get(), req.rgb, req.stages)
