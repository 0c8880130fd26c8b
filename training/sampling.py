"""Which images an epoch draws: per-source weights, one size per batch, one seed per item.

Everything comes from ``seed + epoch``, so an epoch repeats exactly when a run resumes.
"""

from __future__ import annotations

import numpy as np


class SourceBatchSampler:
    """Batches of ``(index, size, item_seed)``; a source's share of draws is its weight's share.

    Within a source images are drawn without replacement (a fresh shuffle each time the
    source runs out), so small sources cycle instead of repeating at random.
    Under DDP each rank takes every ``world``-th batch.
    """

    def __init__(self, counts: list[int], weights: list[float], batch_size: int,
                 epoch_samples: int | None, sizes: list[int], seed: int,
                 rank: int = 0, world: int = 1, drop_last: bool = True) -> None:
        if len(counts) != len(weights) or not counts:
            raise ValueError("one weight per source is needed")
        keep = [i for i, n in enumerate(counts) if n > 0]
        if not keep:
            raise ValueError("no training images")
        w = np.array([weights[i] for i in keep], float)
        self.counts, self.keep = counts, keep
        self.p = w / w.sum()
        self.offsets = np.cumsum([0] + list(counts))
        self.batch_size, self.sizes, self.seed = batch_size, list(sizes), seed
        self.epoch_samples = epoch_samples or int(sum(counts))
        self.rank, self.world, self.drop_last = rank, world, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _n_batches(self) -> int:
        n = self.epoch_samples // self.batch_size
        if not self.drop_last and self.epoch_samples % self.batch_size:
            n += 1
        return max(1, n)

    def __len__(self) -> int:
        return max(1, self._n_batches() // self.world)

    def draws(self) -> np.ndarray:
        """The epoch's global image indices in draw order."""
        rng = np.random.default_rng([self.seed, self.epoch])
        which = rng.choice(len(self.keep), size=self.epoch_samples, p=self.p)
        out = np.empty(self.epoch_samples, np.int64)
        for k, src in enumerate(self.keep):
            slots = np.flatnonzero(which == k)
            n = self.counts[src]
            reps = -(-len(slots) // n) if len(slots) else 0
            order = np.concatenate([rng.permutation(n) for _ in range(reps)]) if reps else []
            out[slots] = self.offsets[src] + np.asarray(order[:len(slots)], np.int64)
        return out

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch, 1])
        idx = self.draws()
        item_seeds = rng.integers(0, 2**31 - 1, size=len(idx))
        n = self._n_batches()
        sizes = rng.choice(self.sizes, size=n)
        for b in range(n):
            if b % self.world != self.rank or b // self.world >= len(self):
                continue
            sl = slice(b * self.batch_size, min((b + 1) * self.batch_size, len(idx)))
            if sl.start >= len(idx):
                break
            yield [(int(i), int(sizes[b]), int(s)) for i, s in zip(idx[sl], item_seeds[sl])]
