"""A video analysed into its cache, then its findings: the path the viewer takes, for everyone.

``polypviewer export`` and the findings benchmark use it, so a video's findings are the same
whether they were made in the viewer, on the command line or in a measurement: the model's
maps go into the ``AnalysisStore`` and ``findings_cache.findings_for_store`` tracks them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..media.sources import Source
from ..runtime.pipeline import AnalysisOptions, StoreSink, analyse_into
from ..runtime.results import AnalysisStore
from .findings_cache import findings_for_store
from .tracking import DEFAULT_SETTINGS, TrackingSettings, TrackResult


def analyse_store(store: AnalysisStore, source: Source, predictor, *,
                  progress: Callable[[int, int], None] | None = None,
                  cancel: threading.Event | None = None, batch_size: int | None = None) -> bool:
    """Analyse the frames of ``source`` not yet in ``store`` (the one pipeline path, into the
    store's sink); True when every frame is there. ``batch_size``: frames per model call
    (None: the pipeline's choice)."""
    n = len(source)
    todo = [i for i in range(n) if not store.has(i)]
    done = n - len(todo)
    if todo:
        options = AnalysisOptions(indices=tuple(todo), batch_size=batch_size)
        for _ in analyse_into(StoreSink(store), source, predictor, options, cancel):
            done += 1
            if progress is not None:
                progress(done, n)
    complete = all(store.has(i) for i in range(n))
    if complete and not store.complete:
        store.complete = True
    return complete


def video_findings(store: AnalysisStore, source: Source, threshold: float, min_area: float,
                   settings: TrackingSettings = DEFAULT_SETTINGS) -> TrackResult:
    """The findings of the analysed frames of a video source (as the viewer lists them)."""
    return findings_for_store(store, str(source.path), threshold, min_area, source.fps or 25.0,
                              settings)
