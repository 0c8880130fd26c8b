"""The viewer's analysis job run the way its worker thread runs it, without a window."""

from __future__ import annotations

import threading
from pathlib import Path


def run_analysis_job(path: Path, model_path: Path):
    """``gui.jobs.analyse_source`` over ``path`` to its end: (its result, the Progress items it
    yielded, the AnalysisStore it filled)."""
    from polypviewer.engine.runtime.inference import Predictor
    from polypviewer.engine.runtime.results import AnalysisStore
    from polypviewer.gui import jobs

    pred = Predictor(model_path, device="cpu")
    opened = jobs.open_media(str(path), pred)
    try:
        store = opened.store or AnalysisStore.open(opened.source, pred, n_frames=opened.n)
        gen = jobs.analyse_source(str(path), pred, store, opened.n, threading.Event())
        progress = []
        try:
            while True:
                progress.append(next(gen))
        except StopIteration as stop:
            ok = stop.value
    finally:
        opened.source.close()
    return ok, progress, store
