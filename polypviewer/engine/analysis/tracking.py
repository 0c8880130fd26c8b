"""Turn per-frame polyp regions into findings: one ID per polyp for as long as it is in view.

A reviewer wants "3 polyps, seen at 02:14, 05:40, 11:02", not 900 positive frames. Regions
are linked frame to frame by box overlap (IoU) and centroid distance, with the previous
position pushed forward by the track's velocity so a moving polyp keeps its ID; a track
survives ``max_gap`` missed frames (blur, occlusion by a tool); tracks shorter than
``min_length`` frames are flicker, not findings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..runtime.postprocess import Instance

DEFAULT_MAX_GAP = 5
DEFAULT_MIN_LENGTH = 3


@dataclass(frozen=True)
class Finding:
    """One tracked polyp; times are None for stills; ``best_index`` is its most confident frame."""

    id: int
    first_index: int
    last_index: int
    first_time_s: float | None
    last_time_s: float | None
    duration_s: float | None  # last_time_s - first_time_s
    n_frames: int  # frames in which it was detected
    best_index: int
    peak_confidence: float
    mean_area: float  # pixels

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Track:
    id: int
    box: np.ndarray  # x0, y0, x1, y1 (float)
    last_index: int
    first_index: int
    first_time: float | None
    last_time: float | None
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    n: int = 0
    area_sum: float = 0.0
    best_index: int = 0
    peak: float = -1.0

    def predicted(self, index: int) -> np.ndarray:
        shift = self.velocity * (index - self.last_index)
        return self.box + np.concatenate([shift, shift])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _centre(b: np.ndarray) -> np.ndarray:
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])


class Tracker:
    """Incremental linking for frames arriving in increasing index order (live analysis).

    ``min_iou``: a region continues a track if its box overlaps the predicted box at least this
    much, or if its centre lies within ``max_distance`` box diagonals of the predicted centre.
    """

    def __init__(self, max_gap: int = DEFAULT_MAX_GAP, min_iou: float = 0.1,
                 max_distance: float = 1.0, velocity_smoothing: float = 0.5) -> None:
        self.max_gap = int(max_gap)
        self.min_iou = float(min_iou)
        self.max_distance = float(max_distance)
        self.smoothing = float(velocity_smoothing)
        self._tracks: dict[int, _Track] = {}  # every track, for findings
        self._active: dict[int, _Track] = {}  # tracks that may still continue
        self._next_id = 1
        self._last_index: int | None = None

    def _cost(self, track: _Track, index: int, box: np.ndarray) -> float | None:
        pred = track.predicted(index)
        iou = _iou(pred, box)
        diag = np.hypot(*(pred[2:] - pred[:2])) + np.hypot(*(box[2:] - box[:2]))
        dist = float(np.linalg.norm(_centre(pred) - _centre(box)) / max(diag / 2, 1.0))
        if iou < self.min_iou and dist > self.max_distance:
            return None
        return (1.0 - iou) + min(dist, self.max_distance) / self.max_distance

    def update(self, index: int, instances: list[Instance], time_s: float | None = None) -> list[int]:
        """IDs for ``instances`` (same order); new regions get new IDs."""
        if self._last_index is not None and index <= self._last_index:
            raise ValueError(f"frames must arrive in increasing order ({index} after "
                             f"{self._last_index}); use a new Tracker for a new pass")
        self._last_index = index
        for tid in [t.id for t in self._active.values() if index - t.last_index > self.max_gap + 1]:
            del self._active[tid]  # expired: kept for findings, no longer matched
        live = list(self._active.values())
        boxes = [np.asarray(inst.bbox, dtype=float) for inst in instances]
        ids = [0] * len(instances)
        big = 1e6
        if live and boxes:
            cost = np.full((len(live), len(boxes)), big)
            for i, tr in enumerate(live):
                for j, b in enumerate(boxes):
                    c = self._cost(tr, index, b)
                    if c is not None:
                        cost[i, j] = c
            rows, cols = linear_sum_assignment(cost)
            for i, j in zip(rows, cols):
                if cost[i, j] < big:
                    ids[j] = live[i].id
                    self._extend(live[i], index, boxes[j], instances[j], time_s)
        for j, inst in enumerate(instances):
            if not ids[j]:
                tr = _Track(self._next_id, boxes[j], index, index, time_s, time_s)
                self._next_id += 1
                self._tracks[tr.id] = self._active[tr.id] = tr
                self._stats(tr, index, inst)
                ids[j] = tr.id
        return ids

    def _extend(self, tr: _Track, index: int, box: np.ndarray, inst: Instance,
                time_s: float | None) -> None:
        step = (_centre(box) - _centre(tr.box)) / (index - tr.last_index)
        tr.velocity = self.smoothing * tr.velocity + (1 - self.smoothing) * step if tr.n > 1 else step
        tr.box, tr.last_index, tr.last_time = box, index, time_s
        self._stats(tr, index, inst)

    @staticmethod
    def _stats(tr: _Track, index: int, inst: Instance) -> None:
        tr.n += 1
        tr.area_sum += inst.area
        if inst.confidence > tr.peak:
            tr.peak, tr.best_index = inst.confidence, index

    def findings(self, min_length: int = DEFAULT_MIN_LENGTH) -> list[Finding]:
        """Tracks seen in at least ``min_length`` frames, by first appearance, with track IDs."""
        out = []
        for tr in sorted(self._tracks.values(), key=lambda t: (t.first_index, t.id)):
            if tr.n < min_length:
                continue
            dur = (tr.last_time - tr.first_time
                   if tr.first_time is not None and tr.last_time is not None else None)
            out.append(Finding(tr.id, tr.first_index, tr.last_index, tr.first_time, tr.last_time,
                               dur, tr.n, tr.best_index, float(tr.peak), tr.area_sum / tr.n))
        return out


@dataclass
class TrackResult:
    """``ids_per_frame[i]`` aligns with frame i's instances: finding IDs 1..K, 0 = flicker."""

    ids_per_frame: dict[int, list[int]]
    findings: list[Finding]


def track(frames: Iterable[tuple[int, float | None, list[Instance]]], *,
          max_gap: int = DEFAULT_MAX_GAP, min_length: int = DEFAULT_MIN_LENGTH,
          min_iou: float = 0.1, max_distance: float = 1.0) -> TrackResult:
    """Offline tracking of a whole analysis; findings renumbered 1..K by first appearance."""
    tracker = Tracker(max_gap=max_gap, min_iou=min_iou, max_distance=max_distance)
    raw: dict[int, list[int]] = {}
    for index, time_s, instances in frames:
        raw[index] = tracker.update(index, instances, time_s)
    kept = tracker.findings(min_length)
    renum = {f.id: k + 1 for k, f in enumerate(kept)}
    findings = [replace(f, id=renum[f.id]) for f in kept]
    ids = {i: [renum.get(t, 0) for t in v] for i, v in raw.items()}
    return TrackResult(ids, findings)


def per_image(frames: Iterable[tuple[int, float | None, list[Instance]]]) -> TrackResult:
    """Stills (a folder, a dataset): every region is its own finding, numbered 1..K in order.

    Neighbouring files are unrelated pictures, so linking regions across them (as ``track``
    does for video) would merge different polyps and drop single-image ones as flicker.
    """
    findings: list[Finding] = []
    ids: dict[int, list[int]] = {}
    for index, time_s, instances in frames:
        row = []
        for inst in instances:
            findings.append(Finding(len(findings) + 1, index, index, time_s, time_s,
                                    0.0 if time_s is not None else None, 1, index,
                                    float(inst.confidence), float(inst.area)))
            row.append(len(findings))
        ids[index] = row
    return TrackResult(ids, findings)


def segments(frame_probs: np.ndarray, threshold: float = 0.5, min_len: int = 1,
             gap: int = 0) -> list[tuple[int, int]]:
    """Runs of frames with probability >= threshold as inclusive (start, end) pairs.

    Runs separated by at most ``gap`` frames below threshold are merged (a blurred frame
    does not split a detection); runs shorter than ``min_len`` after merging are dropped.
    NaN (not analysed) counts as below threshold.
    """
    p = np.asarray(frame_probs, dtype=float)
    on = np.nan_to_num(p, nan=-np.inf) >= threshold
    if not on.any():
        return []
    edges = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    merged: list[list[int]] = []
    for s, e in zip(starts.tolist(), ends.tolist()):
        if merged and s - merged[-1][1] - 1 <= gap:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged if e - s + 1 >= min_len]
