"""Findings of a cached analysis, computed once and kept next to it: the one tracking path.

The viewer, the Findings panel, the timeline and every export ask ``findings_for_store`` and
so get the same :class:`TrackResult` (the same IDs) for the same analysis, threshold and
settings. The result is saved as ``findings.json`` in the analysis folder (atomically) with
the key it was made for; reviewer verdicts (``verdicts.json``) are applied on every read.
A finding's times are the presentation times the cache keeps per frame (what the player and
the exported rows show), so they are right for variable-frame-rate videos too; ``index / fps``
only stands in for a frame without one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .. import fsutil
from . import verdicts
from .appearance import SourceAppearance
from .tracking import DEFAULT_SETTINGS, TrackingSettings, TrackResult, per_image, track

FILE = "findings.json"
FORMAT = "polypviewer-findings"
VERSION = 3  # 2: finding times are the frames' presentation times; 3: partial views and
# unmatched costs in tracklets.py, re-identification ends when another polyp came into view


def _key(analysed: np.ndarray, times: np.ndarray | None, threshold: float, min_area: float,
         settings: TrackingSettings) -> str:
    stamps = None if times is None else np.round(times * 1e6).astype(np.int64).tobytes()
    blob = json.dumps({"format": FORMAT, "version": VERSION, "threshold": round(float(threshold), 6),
                       "min_area": round(float(min_area), 9), "video": times is not None,
                       "settings": settings.to_dict(),
                       "frames": hashlib.sha256(analysed.astype(np.int64).tobytes()).hexdigest(),
                       "times": None if stamps is None else hashlib.sha256(stamps).hexdigest()},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _times(store, analysed: np.ndarray, fps: float) -> np.ndarray:
    """Seconds of each analysed frame: the stored presentation time, else ``index / fps``."""
    stored = store.frame_times[analysed]
    return np.where(np.isfinite(stored), stored, analysed / fps)


def _frame_area(store, index: int) -> float:
    box = store.letterbox(index)
    return float(box.height * box.width)


def findings_for_store(store, source_path: str | Path, threshold: float, min_area: float,
                       fps: float | None, settings: TrackingSettings = DEFAULT_SETTINGS,
                       use_cache: bool = True) -> TrackResult:
    """Findings of the analysed frames of ``store`` (videos tracked, stills one per region)."""
    probs = store.frame_probs
    analysed = np.flatnonzero(~np.isnan(probs))
    times = _times(store, analysed, fps) if fps else None
    key = _key(analysed, times, threshold, min_area, settings)
    path = Path(store.folder) / FILE
    result = _read(path, key, analysed) if use_cache else None
    if result is None:
        result = _compute(store, source_path, analysed, times, threshold, min_area, settings)
        try:
            fsutil.write_json(path, {"format": FORMAT, "version": VERSION, "key": key,
                                     "result": result.to_dict()})
        except OSError:
            pass  # a read-only cache still shows the findings; they are recomputed next time
    return verdicts.apply(result, verdicts.load(store.folder))


def _read(path: Path, key: str, analysed: np.ndarray) -> TrackResult | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("key") != key:
            return None
        return TrackResult.from_dict(doc["result"], analysed.tolist())
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _compute(store, source_path, analysed: np.ndarray, times: np.ndarray | None,
             threshold: float, min_area: float, settings: TrackingSettings) -> TrackResult:
    same = (abs(threshold - store.threshold) < 1e-6
            and abs(min_area - store.min_area_fraction) < 1e-9)
    frames = []
    for k, i in enumerate(analysed.tolist()):
        insts = store.instances(i) if same else store.get(i, threshold, min_area).instances
        frames.append((i, None if times is None else float(times[k]), insts))
    n = store.n_frames
    if times is None:
        return per_image(frames, n, {i: _frame_area(store, i) for i in analysed.tolist()})
    appearance = SourceAppearance(str(source_path))
    try:
        area = _frame_area(store, int(analysed[0])) if len(analysed) else None
        return track(frames, settings, appearance=appearance, frame_area=area, n_frames=n)
    finally:
        appearance.close()
