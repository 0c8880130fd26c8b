"""What a run trains and holds out, from its config: ``sources`` (each with its own holdout),
or the older ``datasets`` form (split files, a random fraction or a cross-validation fold),
which is pooled into one source.
"""

from __future__ import annotations

from pathlib import Path

from polypviewer.engine.errors import DatasetError
from polypviewer.engine.media.dataset import Pair, find_pairs

from .config import TrainConfig
from .sources import SourceSplit, gather_sources
from .splits import kfold, random_split


def gather_pairs(cfg: TrainConfig) -> tuple[list[Pair], list[Pair]]:
    """Training and validation pairs over all datasets (merged, seed 001).

    With ``cv_fold`` set, all training-split pairs of all datasets are pooled and the fold's
    validation part comes from ``splits.kfold(pairs, cv_folds, seed)``.
    """
    train, val = [], []
    try:
        if cfg.cv_fold is not None:
            pool = [p for root in cfg.datasets
                    for p in find_pairs(root, cfg.train_split, require_masks=True)]
            train, val = kfold(pool, cfg.cv_folds, cfg.seed)[cfg.cv_fold]
        else:
            for root in cfg.datasets:
                tr = find_pairs(root, cfg.train_split, require_masks=True)
                if cfg.val_split:
                    va = find_pairs(root, cfg.val_split, require_masks=True)
                    if not cfg.train_split:  # train on everything that is not validation
                        held = {p.stem for p in va}
                        tr = [p for p in tr if p.stem not in held]
                else:
                    tr, va = random_split(tr, cfg.val_fraction, cfg.seed)
                train += tr
                val += va
    except ValueError as e:  # too few images for the split / fold
        raise DatasetError(str(e)) from e
    overlap = {p.image for p in train} & {p.image for p in val}
    if overlap:
        raise DatasetError(f"{len(overlap)} image(s) are in both training and validation, "
                           f"e.g. {sorted(overlap)[0].name}")
    if cfg.max_train_images:
        train = train[: cfg.max_train_images]
    return train, val


def training_sources(cfg: TrainConfig) -> list[SourceSplit]:
    """The run's sources: ``cfg.sources``, or all ``datasets`` pooled as one (the older form)."""
    if cfg.sources:
        if cfg.cv_fold is not None:
            raise DatasetError("cross-validation pools 'datasets'; it does not take sources")
        return gather_sources(cfg.sources, cfg.data_root, cfg.val_fraction, cfg.seed)
    train, val = gather_pairs(cfg)
    name = "+".join(Path(d).name for d in cfg.datasets) or "data"
    return [SourceSplit(name, Path(cfg.datasets[0]) if cfg.datasets else Path("."),
                        float(len(train)), train, val, negative=False)]


def split_stems(cfg: TrainConfig) -> list[str] | None:
    """Split files the run reads, for the dataset check (None = the whole dataset)."""
    files = [f for f in (cfg.train_split, cfg.val_split) if f]
    if not files or (cfg.val_split and not cfg.train_split):
        return None
    return files
