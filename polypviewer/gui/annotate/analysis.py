"""What the workspace's worker threads run (no widgets): analyse, score, sweep, export.

Probability maps are cached per dataset + model in an :class:`AnalysisStore`, so reopening a
dataset, changing the threshold, sweeping thresholds and exporting never run the model again.
Each function is a generator for ``gui.workers.Task``: it polls the cancel event and yields
progress or batches of table rows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...engine.analysis.compare import ImageRow, Sweep, image_row, threshold_sweep
from ...engine.export import writers as exports
from ...engine.media.sources import DatasetSource
from ...engine.models.model_settings import effective_threshold
from ...engine.models.modelfile import LoadedModel, load_model
from ...engine.models.registry import resolve_model
from ...engine.runtime.inference import Predictor
from ...engine.runtime.pipeline import AnalysisOptions, StoreSink, analyse_into
from ...engine.runtime.results import AnalysisStore


@dataclass
class Progress:
    done: int
    total: int
    stage: str  # "analysing" or "scoring"


@dataclass
class Opened:
    source: DatasetSource
    predictor: Predictor
    store: AnalysisStore


def open_dataset(root: str | Path, model: LoadedModel | Predictor | str | Path | None,
                 split: str | Path | None = None, device: str = "auto") -> Opened:
    """The dataset (``split`` optional), a predictor at the user's threshold, and its cache."""
    source = DatasetSource(root, split)
    if isinstance(model, Predictor):
        predictor = model
    else:
        loaded = model if isinstance(model, LoadedModel) else load_model(resolve_model(model))
        predictor = Predictor(loaded, device=device, threshold=effective_threshold(loaded))
    store = AnalysisStore.open(source, predictor, n_frames=len(source))
    return Opened(source, predictor, store)


def open_and_score(root: str | Path, model, split: str | Path | None, device: str,
                   cancel: threading.Event) -> Iterator[tuple[str, object]]:
    """Open the dataset, analyse what is not cached and score every image, as
    ("opened", Opened), ("progress", Progress) and ("rows", [...]); True unless cancelled."""
    opened = open_dataset(root, model, split, device)
    yield ("opened", opened)
    for p in analyse(opened, cancel):
        yield ("progress", p)
    if not cancel.is_set():
        yield from rescore(opened, opened.predictor.threshold, cancel)
    return not cancel.is_set()


def rescore(opened: Opened, threshold: float,
            cancel: threading.Event) -> Iterator[tuple[str, list[ImageRow] | Progress]]:
    """``score_rows`` as ("rows", [...]) / ("progress", Progress), for one progress signal."""
    for item in score_rows(opened, threshold, cancel):
        yield ("rows", item) if isinstance(item, list) else ("progress", item)
    return True


def analyse(opened: Opened, cancel: threading.Event) -> Iterator[Progress]:
    """Run the model on every image not yet cached, through the engine's pipeline (ONNX lanes
    on CPU); the cache is flushed at the end, also when cancelled."""
    src, store = opened.source, opened.store
    todo = tuple(i for i in range(len(src)) if not store.has(i))
    if not todo:
        return
    last, done = 0.0, 0
    for _ in analyse_into(StoreSink(store), src, opened.predictor, AnalysisOptions(indices=todo),
                          cancel):
        done += 1
        now = time.monotonic()
        if now - last > 0.2 or done == len(todo):
            last = now
            yield Progress(done, len(todo), "analysing")


def score_rows(opened: Opened, threshold: float, cancel: threading.Event,
               indices: list[int] | None = None) -> Iterator[list[ImageRow] | Progress]:
    """Table rows from the cache at ``threshold``, in batches (the table fills as it goes)."""
    src, store = opened.source, opened.store
    frac = opened.predictor.min_area_fraction
    indices = list(range(len(src))) if indices is None else indices
    batch: list[ImageRow] = []
    last = time.monotonic()
    for k, i in enumerate(indices):
        if cancel.is_set():
            return
        if not store.has(i):
            continue
        frame = src[i]
        batch.append(image_row(i, frame.name, store.get(i, threshold, frac), frame.gt_mask))
        if time.monotonic() - last > 0.25 or k == len(indices) - 1:
            last = time.monotonic()
            yield batch
            yield Progress(k + 1, len(indices), "scoring")
            batch = []
    if batch:
        yield batch


def sweep(opened: Opened, cancel: threading.Event,
          thresholds: np.ndarray | None = None) -> Iterator[Sweep]:
    """Metrics vs threshold from the cached maps (no model run); one Sweep at the end."""
    src, store = opened.source, opened.store

    def items():
        for i in range(len(src)):
            pair = src.pairs[i]
            if pair.mask is None or not store.has(i):
                continue
            p = store.get(i)
            yield p.prob, p.frame_prob, src[i].gt_mask

    result = threshold_sweep(items(), thresholds, opened.predictor.min_area_fraction,
                             cancel=cancel.is_set)
    yield result


def export(opened: Opened, out_dir: str | Path, formats: list[str], threshold: float,
           cancel: threading.Event, progress=None, overwrite: bool = False) -> exports.ExportResult:
    """The same ``engine.export.writers.export`` as ``polypviewer export``, fed from the cache."""
    src, store = opened.source, opened.store
    frac = opened.predictor.min_area_fraction

    def items():
        for i in range(len(src)):
            yield src[i], store.get(i, threshold, frac)

    options = exports.ExportOptions(tuple(formats), overwrite=overwrite,
                                    model_name=opened.predictor.name, source_name=src.path.name,
                                    settings={"threshold": round(threshold, 4)},
                                    file_name=exports.source_file_names(src))
    return exports.export(items(), out_dir, options, total=len(src), cancel=cancel,
                          progress=progress)
