"""Analysing one procedure for the archive: the GUI's analysis path, then its tracking.

The per-frame maps go into the same analysis cache the review window reads, so a procedure
analysed by a batch opens in the app with no re-analysis; with ``keep_maps=False`` they go to
a temporary folder that is removed afterwards (audits that need only the database).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..engine.analysis import tracking
from ..engine.analysis.findings_cache import findings_for_store
from ..engine.media.sources import open_source
from ..engine.runtime.pipeline import AnalysisOptions, StoreSink, analyse_into
from ..engine.runtime.results import VERSION as CACHE_VERSION
from ..engine.runtime.results import AnalysisStore
from .db import ProcedureRecord


@dataclass(frozen=True)
class BatchSettings:
    """What decides a procedure's results besides the model; hashed to recognise done work."""

    input_size: int
    threshold: float
    min_area_fraction: float
    tracking: dict = field(default_factory=lambda: tracking.DEFAULT_SETTINGS.to_dict())
    cache_version: int = CACHE_VERSION
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:16]


def settings_for(predictor) -> BatchSettings:
    # test-time views other than one view go in ``extra``: one-view records keep their hash
    views = predictor.tta
    return BatchSettings(int(predictor.loaded.config.input_size), float(predictor.threshold),
                         float(predictor.min_area_fraction),
                         tracking.settings_for(predictor.loaded.metadata).to_dict(),
                         extra={} if views == "off" else {"test_time_views": views})


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def _frame_pixels(store: AnalysisStore, index: int) -> float:
    box = store.letterbox(index)
    return float(max(1, box.height * box.width))


def analyse_procedure(path: str, kind: str, content_hash: str, predictor, backend, *,
                      cache_root: str | None = None, keep_maps: bool = True,
                      cancel: threading.Event | None = None) -> ProcedureRecord:
    """One procedure's record; a failure (corrupt file, unreadable folder) becomes its status."""
    settings = settings_for(predictor)
    loaded = predictor.loaded
    sha = loaded.metadata.get("weights_sha256") or ""
    rec = ProcedureRecord(path=path, kind=kind, content_hash=content_hash, model_name=loaded.name,
                          model_sha256=sha, settings_hash=settings.digest(),
                          settings=settings.as_dict(), status="failed", started_at=_now(),
                          worker=socket.gethostname())
    t0 = time.perf_counter()
    tmp = None if keep_maps else tempfile.mkdtemp(prefix="polypviewer-batch-")
    try:
        src = open_source(path)
        try:
            n = len(src)
            fps = src.fps if kind == "video" else None
            store = AnalysisStore.open(src, predictor, n_frames=n, root=cache_root if keep_maps else tmp)
            todo = [i for i in range(n) if not store.has(i)]
            if todo:  # the viewer's path: model-size maps into the cache, flushed at the end
                options = AnalysisOptions(indices=tuple(todo))
                for _ in analyse_into(StoreSink(store), src, backend, options, cancel):
                    pass
            probs = store.frame_probs[:n].copy()
            analysed = np.flatnonzero(~np.isnan(probs))
            store.complete = len(analysed) == n
            counts = store.counts[:n].copy()
            # the one tracking path: the same findings (and cached findings.json) as the viewer
            result = findings_for_store(store, path, predictor.threshold, predictor.min_area_fraction,
                                        fps, tracking.settings_for(loaded.metadata))
            pixels = {f.id: _frame_pixels(store, f.best_index) for f in result.findings}
        finally:
            src.close()
        rec.n_frames, rec.frames_read, rec.fps = n, int(len(analysed)), fps
        rec.duration_s = (n / fps) if fps else None
        rec.findings = [dict(f.to_dict(), area_fraction=(f.size_fraction if f.size_fraction is not None
                                                         else float(f.mean_area) / pixels[f.id]))
                        for f in result.findings]
        rec.frame_probs, rec.counts = probs, counts
        cancelled = cancel is not None and cancel.is_set()
        rec.status = "done" if len(analysed) == n and not cancelled else "partial"
        if rec.status == "partial":
            rec.error = f"analysed {len(analysed)} of {n} frames"
    except Exception as e:  # noqa: BLE001 - any failure is this procedure's result, not the batch's
        rec.status, rec.error = "failed", (str(e) or type(e).__name__)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    rec.analysis_s = time.perf_counter() - t0
    rec.finished_at = _now()
    return rec
