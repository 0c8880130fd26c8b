"""Frame-to-frame linking of polyp regions into tracklets (the first stage of tracking).

A tracklet is one polyp followed while it stays in view: regions are matched to the box each
tracklet is predicted at (its last box pushed forward by its velocity) by IoU and centroid
distance, one to one (Hungarian, where leaving a tracklet or a region unmatched has a cost
too, so one good match is never traded for two poor ones). A mask that splits keeps one
tracklet (the extra pieces inside the predicted box join it); two tracklets whose regions
merge into one become one group, so the polyp keeps one finding either way. During a blur or
water dropout a polyp's mask often breaks into small pieces: a region under half its box's
area inside the predicted box is a partial view, which keeps the box where it was predicted
(for up to ``max_missing`` frames), so the whole polyp is matched again when it returns.
``tracking.track`` turns the groups into findings (hysteresis, re-identification, minimum
duration).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

BIG = 1e6
UNMATCHED = 1.0  # cost of leaving a tracklet or a region unmatched (a match costs 0..2)
PARTIAL = 0.5  # a region under this share of the tracklet's box area is a partial view


def iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def inside(a: np.ndarray, b: np.ndarray) -> float:
    """Share of box ``a`` that lies inside box ``b`` (intersection over a's area)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    area = (a[2] - a[0]) * (a[3] - a[1])
    return float(iw * ih / area) if iw > 0 and ih > 0 and area > 0 else 0.0


def _area(b: np.ndarray) -> float:
    return float(max(b[2] - b[0], 0) * max(b[3] - b[1], 0))


def _assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost matching in which any row or column may stay unmatched at ``UNMATCHED``.

    Plain Hungarian on the rectangular matrix matches as many pairs as it can, and so would
    give a polyp's region to a speck's tracklet if that let the polyp's tracklet take another
    speck; padding with an "unmatched" option per row and per column removes that.
    """
    n, m = cost.shape
    full = np.full((n + m, m + n), BIG)
    full[:n, :m] = cost
    full[:n, m:][np.diag_indices(n)] = UNMATCHED
    full[n:, :m][np.diag_indices(m)] = UNMATCHED
    full[n:, m:] = 0.0
    rows, cols = linear_sum_assignment(full)
    return [(i, j) for i, j in zip(rows, cols) if i < n and j < m and cost[i, j] < BIG]


def centre(b: np.ndarray) -> np.ndarray:
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])


@dataclass
class Tracklet:
    id: int
    box: np.ndarray  # x0, y0, x1, y1 (float), the union of its regions in its last frame
    last_index: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    hits: list[tuple[int, int]] = field(default_factory=list)  # (frame index, region position)
    n_updates: int = 0
    n_partial: int = 0  # consecutive partial views (the box kept where predicted)

    def predicted(self, index: int) -> np.ndarray:
        shift = self.velocity * (index - self.last_index)
        return self.box + np.concatenate([shift, shift])


class Linker:
    """Links regions of frames arriving in increasing index order; see the module docstring."""

    def __init__(self, max_missing: int, min_iou: float, max_distance: float,
                 velocity_smoothing: float = 0.5) -> None:
        self.max_missing = int(max_missing)
        self.min_iou = float(min_iou)
        self.max_distance = float(max_distance)
        self.smoothing = float(velocity_smoothing)
        self.tracklets: list[Tracklet] = []
        self._active: list[Tracklet] = []
        self._parent: dict[int, int] = {}
        self._last: int | None = None

    # ------------------------------------------------------------------ groups (merges)
    def root(self, tid: int) -> int:
        while self._parent.get(tid, tid) != tid:
            tid = self._parent[tid]
        return tid

    def _merge(self, keep: int, gone: int) -> None:
        a, b = self.root(keep), self.root(gone)
        if a != b:
            self._parent[max(a, b)] = min(a, b)

    def groups(self) -> list[list[Tracklet]]:
        """Tracklets joined by merges, each group ordered by first hit; groups by first hit."""
        out: dict[int, list[Tracklet]] = {}
        for t in self.tracklets:
            out.setdefault(self.root(t.id), []).append(t)
        return sorted(out.values(), key=lambda g: min(h[0] for t in g for h in t.hits))

    # ------------------------------------------------------------------ linking
    def _cost(self, tr: Tracklet, index: int, box: np.ndarray) -> float | None:
        pred = tr.predicted(index)
        o = iou(pred, box)
        diag = np.hypot(*(pred[2:] - pred[:2])) + np.hypot(*(box[2:] - box[:2]))
        dist = float(np.linalg.norm(centre(pred) - centre(box)) / max(diag / 2, 1.0))
        if o < self.min_iou and dist > self.max_distance:
            return None
        return (1.0 - o) + min(dist, self.max_distance) / self.max_distance

    def update(self, index: int, boxes: Sequence[Sequence[float]]) -> list[int]:
        """Tracklet ID of each region (same order)."""
        if self._last is not None and index <= self._last:
            raise ValueError(f"frames must arrive in increasing order ({index} after {self._last})")
        self._last = index
        self._active = [t for t in self._active if index - t.last_index - 1 <= self.max_missing]
        live = self._active
        bx = [np.asarray(b, dtype=float) for b in boxes]
        owner: list[Tracklet | None] = [None] * len(bx)
        if live and bx:
            cost = np.full((len(live), len(bx)), BIG)
            for i, tr in enumerate(live):
                for j, b in enumerate(bx):
                    c = self._cost(tr, index, b)
                    if c is not None:
                        cost[i, j] = c
            for i, j in _assign(cost):
                owner[j] = live[i]
            matched = {id(t) for t in owner if t is not None}
            for j, b in enumerate(bx):
                if owner[j] is not None:
                    # merge: another live tracklet's predicted box lies inside this region
                    for tr in live:
                        if id(tr) not in matched and inside(tr.predicted(index), b) >= 0.5:
                            self._merge(owner[j].id, tr.id)
                            tr.last_index = -10 ** 9  # continues as the merged region
                    continue
                # split: a piece inside a tracked polyp's predicted box stays that polyp
                best, share = None, 0.5
                for tr in live:
                    s = inside(b, tr.predicted(index) + np.array([-4.0, -4.0, 4.0, 4.0]))
                    if s >= share and id(tr) in matched:
                        best, share = tr, s
                owner[j] = best
        for j, b in enumerate(bx):
            if owner[j] is None:
                tr = Tracklet(len(self.tracklets) + 1, b, index)
                self.tracklets.append(tr)
                self._active.append(tr)
                owner[j] = tr
        self._advance(index, bx, owner)
        return [t.id for t in owner]

    def _advance(self, index: int, bx: list[np.ndarray], owner: list[Tracklet]) -> None:
        per: dict[int, tuple[Tracklet, list[int]]] = {}
        for j, tr in enumerate(owner):
            per.setdefault(tr.id, (tr, []))[1].append(j)
        for tr, js in per.values():
            stack = np.stack([bx[j] for j in js])
            box = np.concatenate([stack[:, :2].min(0), stack[:, 2:].max(0)])
            pred = tr.predicted(index)
            partial = (bool(tr.hits) and tr.n_partial < self.max_missing
                       and _area(box) < PARTIAL * _area(pred) and inside(box, pred) >= 0.8)
            tr.n_partial = tr.n_partial + 1 if partial else 0
            if partial:
                box = pred  # pieces of it: it is still where it was predicted, moving as it was
            elif tr.hits:
                step = (centre(box) - centre(tr.box)) / max(index - tr.last_index, 1)
                tr.velocity = (self.smoothing * tr.velocity + (1 - self.smoothing) * step
                               if tr.n_updates > 1 else step)
                tr.n_updates += 1
            tr.box, tr.last_index = box, index
            tr.hits += [(index, j) for j in js]
        self._active = [t for t in self._active if t.last_index > -10 ** 8]
