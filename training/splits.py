"""Train/validation splits: given files, seeded random, or k-fold (seeds 002/004)."""

from __future__ import annotations

import random

from polypviewer.engine.media.dataset import Pair


def random_split(pairs: list[Pair], val_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    if not 0.0 < val_fraction < 1.0:
        raise ValueError("val_fraction must be between 0 and 1")
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(pairs) * val_fraction))
    if n_val >= len(pairs):
        raise ValueError(f"cannot split {len(pairs)} image(s) into train and validation")
    val_idx = set(order[:n_val])
    return ([p for i, p in enumerate(pairs) if i not in val_idx],
            [p for i, p in enumerate(pairs) if i in val_idx])


def kfold(pairs: list[Pair], k: int, seed: int) -> list[tuple[list[Pair], list[Pair]]]:
    """k disjoint validation folds covering every pair exactly once."""
    if k < 2 or k > len(pairs):
        raise ValueError(f"k-fold needs 2 <= k <= number of images ({len(pairs)})")
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    folds = [order[i::k] for i in range(k)]
    out = []
    for f in folds:
        fs = set(f)
        out.append(([p for i, p in enumerate(pairs) if i not in fs],
                    [p for i, p in enumerate(pairs) if i in fs]))
    return out
