"""A video analysed into its cache, then its findings: the path the viewer takes, for everyone.

``polypviewer export`` and the findings benchmark use it, so a video's findings are the same
whether they were made in the viewer, on the command line or in a measurement: the model's
maps go into the ``AnalysisStore`` and ``findings_cache.findings_for_store`` tracks them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from ..media.sources import Frame, Source
from ..runtime.pipeline import analyse
from ..runtime.results import AnalysisStore
from .findings_cache import findings_for_store
from .tracking import DEFAULT_SETTINGS, TrackingSettings, TrackResult


def _todo_frames(source: Source, todo: list[int]) -> Iterator[Frame]:
    wanted = set(todo)
    if todo and todo == list(range(todo[0], todo[-1] + 1)) and todo[0] == 0:
        for frame in source:  # sequential decoding: much faster than seeking
            if frame.index > todo[-1]:
                return
            yield frame
    else:
        for i in sorted(wanted):
            yield source[i]


def analyse_into(store: AnalysisStore, source: Source, predictor, *,
                 progress: Callable[[int, int], None] | None = None,
                 cancel: threading.Event | None = None, batch_size: int | None = None) -> bool:
    """Analyse the frames of ``source`` not yet in ``store``; True when every frame is there."""
    n = len(source)
    todo = [i for i in range(n) if not store.has(i)]
    done = n - len(todo)

    def keep(frame, prob, frame_prob, box) -> None:
        store.put(frame.index, prob, frame_prob, box)

    try:
        if todo:
            for _ in analyse(_todo_frames(source, todo), predictor, batch_size=batch_size,
                             cancel=cancel, model_output=keep):
                done += 1
                if progress is not None:
                    progress(done, n)
    finally:
        store.flush()
    complete = all(store.has(i) for i in range(n))
    if complete and not store.complete:
        store.complete = True
    return complete


def video_findings(store: AnalysisStore, source: Source, threshold: float, min_area: float,
                   settings: TrackingSettings = DEFAULT_SETTINGS) -> TrackResult:
    """The findings of the analysed frames of a video source (as the viewer lists them)."""
    return findings_for_store(store, str(source.path), threshold, min_area, source.fps or 25.0,
                              settings)
