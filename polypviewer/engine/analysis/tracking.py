"""Turn per-frame polyp regions into findings: one finding per polyp, the same ID everywhere.

A reviewer wants "3 polyps, seen at 02:14, 05:40, 11:02", not 900 positive frames, and must be
able to trust that count. Four steps, all set by :class:`TrackingSettings` (the only place
these numbers live; the GUI shows ``describe()``):

1. link regions frame to frame (``tracklets.Linker``: IoU/centroid with motion prediction,
   split and merged masks keep their polyp), surviving ``max_missing`` frames without it;
2. hysteresis: a tracklet counts only if its region was seen with at least
   ``enter_confidence`` in ``enter_hits`` of ``enter_window`` consecutive frames (strong
   evidence to enter; any region above the model's threshold keeps it going), so flicker and
   weak, hesitant regions never become findings;
3. re-identification: a region that reappears within ``reid_gap_s`` of a finding's last
   frame with a similar appearance (``appearance.py``) continues that finding, unless another
   polyp seen for ``min_duration_s`` began in between (the scope moved on);
4. findings shorter than ``min_duration_s`` are dropped.

Findings are numbered 1..K by first appearance; regions that belong to none get ID 0. Every
view (viewer, Findings panel, timeline, exports, report) reads the same :class:`TrackResult`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from ..models.schema import TRACKING_KEYS
from ..runtime.postprocess import Instance
from .appearance import similarity
from .tracklets import Linker

DEFAULT_FPS = 25.0  # for frames without a time stamp


@dataclass(frozen=True)
class TrackingSettings:
    """How regions become findings (see the module docstring); defaults chosen on data.

    The defaults were chosen on the tuning sequences of ``scripts/findings_bench.py``
    (Kvasir-SEG/BKAI-IGH train-split polyps, CP-CHILD train mucosa). The entry rule
    (``enter_confidence``, ``enter_hits``) depends on how confident and how steady a model's
    regions run, so a model file may set it (``"tracking"`` in its JSON,
    :func:`settings_for`): the defaults 0.9 and 6 are the values chosen with
    ``polyp-unet-lite0``; ``polyp-unet-lite0-v2`` sets 0.8 (with its second stage, pixel
    threshold 0.65, two tuning polyps stayed unfound at 0.9); ``polyp-unet-lite1`` sets 0.8
    and 3 (one tuning polyp stayed unfound at 6). ``reid_similarity`` is the strictest value
    that re-identifies returning polyps without merging the distinct polyps seen 1-2 s apart
    in the demo clip (0.8 merges them). docs/findings.md has the sweep and the figures on the
    separate validation sequences.
    """

    enter_hits: int = 6
    enter_window: int = 8
    enter_confidence: float = 0.9
    max_missing: int = 6
    reid_gap_s: float = 3.0
    reid_similarity: float = 0.9
    min_duration_s: float = 0.8
    min_iou: float = 0.1
    max_distance: float = 1.0

    def describe(self) -> str:
        """The settings in words, for the GUI and the report."""
        return (f"A finding is a polyp region seen with a confidence of at least "
                f"{self.enter_confidence:.2f} in {self.enter_hits} of {self.enter_window} "
                f"consecutive frames and for at least "
                f"{self.min_duration_s:g} s; it continues through up to {self.max_missing} "
                f"frames without it, and a polyp of similar appearance that reappears within "
                f"{self.reid_gap_s:g} s keeps its finding.")

    def short(self) -> str:
        """One line for a small panel; ``describe()`` says it in full."""
        return (f"Counted when seen ≥ {self.min_duration_s:g} s ({self.enter_hits} of "
                f"{self.enter_window} frames at ≥ {self.enter_confidence:.2f}); same polyp "
                f"back within {self.reid_gap_s:g} s keeps its number")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrackingSettings:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


DEFAULT_SETTINGS = TrackingSettings()


def settings_for(metadata: dict | None) -> TrackingSettings:
    """The tracking settings for a model: the defaults with its file's ``tracking`` values."""
    own = (metadata or {}).get("tracking") or {}
    return replace(DEFAULT_SETTINGS, **{k: TRACKING_KEYS[k][0](v) for k, v in own.items()
                                        if k in TRACKING_KEYS})


VERDICTS = ("confirmed", "false alarm", "unsure")


@dataclass(frozen=True)
class Finding:
    """One polyp as the reviewer sees it; times are None for stills.

    ``size_fraction`` is the region's share of the frame at the best frame: a size in mm is
    not measurable without a reference in view. ``verdict``/``note`` are the reviewer's
    (``verdicts.apply``); a "false alarm" is listed but not counted.
    """

    id: int
    first_index: int
    last_index: int
    first_time_s: float | None
    last_time_s: float | None
    duration_s: float | None  # last_time_s - first_time_s
    n_frames: int  # frames in which it was detected
    best_index: int
    best_bbox: tuple[int, int, int, int]
    peak_confidence: float
    mean_confidence: float
    mean_area: float  # pixels
    size_fraction: float | None = None
    neoplastic_probability: float | None = None
    verdict: str = ""
    note: str = ""

    @property
    def counted(self) -> bool:
        return self.verdict != "false alarm"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["best_bbox"] = list(self.best_bbox)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Finding:
        names = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        d["best_bbox"] = tuple(int(v) for v in d.get("best_bbox", (0, 0, 0, 0)))
        return cls(**d)


@dataclass
class TrackResult:
    """``ids_per_frame[i]`` aligns with frame i's regions: finding IDs 1..K, 0 = no finding.

    ``n_analysed``/``n_frames`` say how much of the source the findings cover.
    """

    ids_per_frame: dict[int, list[int]]
    findings: list[Finding]
    settings: TrackingSettings = DEFAULT_SETTINGS
    n_analysed: int = 0
    n_frames: int = 0

    @property
    def counted(self) -> list[Finding]:
        """Findings that count (reviewer's false alarms left out)."""
        return [f for f in self.findings if f.counted]

    @property
    def complete(self) -> bool:
        return self.n_frames > 0 and self.n_analysed >= self.n_frames

    def spans(self) -> list[tuple[int, int, int]]:
        """(first frame, last frame, ID) of each finding, for the timeline."""
        return [(f.first_index, f.last_index, f.id) for f in self.findings]

    def to_dict(self) -> dict:
        return {"settings": self.settings.to_dict(), "n_analysed": self.n_analysed,
                "n_frames": self.n_frames, "findings": [f.to_dict() for f in self.findings],
                "ids": {str(i): v for i, v in self.ids_per_frame.items() if v}}

    @classmethod
    def from_dict(cls, d: dict, frames: Iterable[int] = ()) -> TrackResult:
        ids = {int(k): [int(x) for x in v] for k, v in d.get("ids", {}).items()}
        for i in frames:
            ids.setdefault(int(i), [])
        return cls(ids, [Finding.from_dict(f) for f in d.get("findings", [])],
                   TrackingSettings.from_dict(d.get("settings", {})),
                   int(d.get("n_analysed", 0)), int(d.get("n_frames", 0)))


Frames = Iterable[tuple[int, float | None, list[Instance]]]
Appearance = Callable[[int, Sequence[int]], np.ndarray]


@dataclass
class _Chain:
    """Tracklet groups that are one finding."""

    hits: list[tuple[int, int]] = field(default_factory=list)

    @property
    def first(self) -> int:
        return self.hits[0][0]

    @property
    def last(self) -> int:
        return self.hits[-1][0]


def _confirmed(frames: np.ndarray, hits: int, window: int) -> bool:
    """Seen in at least ``hits`` frames of some ``window`` consecutive frames."""
    if len(frames) < hits:
        return False
    return bool((frames[hits - 1:] - frames[:len(frames) - hits + 1] < window).any())


def track(frames: Frames, settings: TrackingSettings = DEFAULT_SETTINGS, *,
          appearance: Appearance | None = None, frame_area: float | None = None,
          n_frames: int | None = None) -> TrackResult:
    """Findings of a whole (possibly partial) video analysis; see the module docstring.

    ``appearance(index, bbox)`` describes a region (``appearance.FrameAppearance``); without
    it a reappearing polyp keeps its finding only if it comes back where it left.
    ``frame_area`` (pixels) gives each finding its share of the frame.
    """
    s = settings
    linker = Linker(s.max_missing, s.min_iou, s.max_distance)
    insts: dict[int, list[Instance]] = {}
    times: dict[int, float | None] = {}
    for index, time_s, instances in frames:
        linker.update(index, [i.bbox for i in instances])
        insts[index], times[index] = list(instances), time_s

    def t(i: int) -> float:
        return times[i] if times.get(i) is not None else i / DEFAULT_FPS

    def conf(h: tuple[int, int]) -> float:
        return insts[h[0]][h[1]].confidence

    def best(hits: list[tuple[int, int]]) -> tuple[int, int]:
        return max(hits, key=lambda h: (conf(h), -h[0]))

    def near(chain: _Chain, hits: list[tuple[int, int]]) -> bool:
        """Comes back where it left (within one box size of its last box)."""
        last = np.asarray(insts[chain.last][chain.hits[-1][1]].bbox, float)
        box = last + np.array([-1, -1, 1, 1]) * (last[2:] - last[:2]).max()
        cx, cy = insts[hits[0][0]][hits[0][1]].centroid
        return bool(box[0] <= cx <= box[2] and box[1] <= cy <= box[3])

    def looks_alike(chain: _Chain, hits: list[tuple[int, int]], confirmed: bool) -> float:
        # a blip too brief to be a finding joins one only where that polyp was
        if appearance is None or not confirmed:
            if not near(chain, hits):
                return 0.0
            if appearance is None:
                return 1.0
        a, b = best(chain.hits[-4 * s.enter_window:]), best(hits[:4 * s.enter_window])
        ia, ib = insts[a[0]][a[1]], insts[b[0]][b[1]]
        if max(ia.area, ib.area) > 9 * max(min(ia.area, ib.area), 1):
            return 0.0  # the scope zooms, but not ninefold in a few seconds
        return similarity(appearance(a[0], ia.bbox), appearance(b[0], ib.bbox))

    chains: list[_Chain] = []
    for group in linker.groups():
        hits = sorted(h for tr in group for h in tr.hits)
        strong = np.unique([h[0] for h in hits if conf(h) >= s.enter_confidence])
        confirmed = _confirmed(strong, s.enter_hits, s.enter_window)
        first = hits[0][0]
        # a finding can be continued only if no other polyp (one seen for the minimum
        # duration, not a blip) came into view after it left: the scope moved on, so a
        # look-alike after that is another polyp (a merge would hide one from the count; a
        # repeat only costs the reviewer a second look)
        newest = max((o.first for o in chains if t(o.last) - t(o.first) >= s.min_duration_s),
                     default=-1)
        open_ = [c for c in chains if newest <= c.last < first
                 and t(first) - t(c.last) <= s.reid_gap_s]
        scored = [(looks_alike(c, hits, confirmed), -k) for k, c in enumerate(chains) if c in open_]
        scored = [x for x in scored if x[0] >= s.reid_similarity]
        if scored:
            chain = chains[-max(scored)[1]]
            chain.hits = sorted(chain.hits + hits)
        elif confirmed:
            chains.append(_Chain(hits))

    kept = [c for c in chains if t(c.last) - t(c.first) >= s.min_duration_s]
    kept.sort(key=lambda c: c.first)
    ids = {i: [0] * len(v) for i, v in insts.items()}
    findings = []
    for k, c in enumerate(kept, start=1):
        for i, j in c.hits:
            ids[i][j] = k
        findings.append(_finding(k, c.hits, insts, times, frame_area))
    analysed = len(insts)
    return TrackResult(ids, findings, s, analysed, int(n_frames or analysed))


def _finding(k: int, hits: list[tuple[int, int]], insts: dict[int, list[Instance]],
             times: dict[int, float | None], frame_area: float | None) -> Finding:
    regions = [insts[i][j] for i, j in hits]
    b = max(range(len(hits)), key=lambda n: (regions[n].confidence, -hits[n][0]))
    first, last, best_index = hits[0][0], hits[-1][0], hits[b][0]
    t0, t1 = times.get(first), times.get(last)
    cadx = [p for p in (getattr(r, "neoplastic_probability", None) for r in regions) if p is not None]
    return Finding(
        k, first, last, t0, t1, (t1 - t0) if t0 is not None and t1 is not None else None,
        len({i for i, _ in hits}), best_index, tuple(int(v) for v in regions[b].bbox),
        float(regions[b].confidence), float(np.mean([r.confidence for r in regions])),
        float(np.mean([r.area for r in regions])),
        float(regions[b].area / frame_area) if frame_area else None,
        float(np.mean(cadx)) if cadx else None)


# how stills are counted, for the views that show the tracking settings beside video findings
STILLS_SHORT = "Stills: each region of each image is its own finding"
STILLS_DESCRIBE = ("Images are not tracked: neighbouring files are unrelated pictures, so every "
                   "polyp region of every image is its own finding, numbered in file order.")


def per_image(frames: Frames, n_frames: int | None = None,
              frame_areas: dict[int, float] | None = None) -> TrackResult:
    """Stills (a folder, a dataset): every region is its own finding, numbered 1..K in order.

    Neighbouring files are unrelated pictures, so linking regions across them (as ``track``
    does for video) would merge different polyps and drop single-image ones as flicker.
    """
    numbering = StillNumbering()
    n = 0
    for index, time_s, instances in frames:
        area = (frame_areas or {}).get(index)
        numbering.add(index, time_s, instances, area)
        n += 1
    return TrackResult(numbering.ids, numbering.findings, DEFAULT_SETTINGS, n, int(n_frames or n))


class StillNumbering:
    """``per_image`` one image at a time, for exports that stream stills."""

    def __init__(self) -> None:
        self.ids: dict[int, list[int]] = {}
        self.findings: list[Finding] = []

    def add(self, index: int, time_s: float | None, instances: list[Instance],
            frame_area: float | None = None) -> list[int]:
        row = []
        for _ in instances:
            k = len(self.findings) + 1
            self.findings.append(_finding(k, [(index, len(row))], {index: instances},
                                          {index: time_s}, frame_area))
            row.append(k)
        self.ids[index] = row
        return row


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
