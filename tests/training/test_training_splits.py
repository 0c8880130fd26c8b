"""Splits: seeded random, k-fold, split files, and how the loop combines them."""

from __future__ import annotations

import pytest
from synthetic import write_dataset
from training_helpers import tiny_config

from polypviewer.engine.errors import DatasetError
from polypviewer.engine.media.dataset import Pair
from training.run_sources import gather_pairs
from training.splits import kfold, random_split


def pairs(n):
    return [Pair(f"s{i}", f"s{i}.png", None) for i in range(n)]


def test_random_split_is_seeded_disjoint_and_complete():
    ps = pairs(20)
    tr, va = random_split(ps, 0.25, seed=3)
    assert len(va) == 5 and set(tr) | set(va) == set(ps) and not set(tr) & set(va)
    assert random_split(ps, 0.25, seed=3) == (tr, va)
    assert random_split(ps, 0.25, seed=4)[1] != va
    with pytest.raises(ValueError):
        random_split(pairs(1), 0.5, 0)


@pytest.mark.parametrize("n,k", [(10, 2), (11, 3), (7, 7)])
def test_kfold_folds_are_disjoint_and_cover_everything(n, k):
    ps = pairs(n)
    folds = kfold(ps, k, seed=0)
    assert len(folds) == k
    vals = [set(v) for _, v in folds]
    assert set().union(*vals) == set(ps)
    assert sum(len(v) for v in vals) == n
    for tr, va in folds:
        assert not set(tr) & set(va) and set(tr) | set(va) == set(ps)
        assert abs(len(va) - n / k) < 1
    with pytest.raises(ValueError):
        kfold(ps, n + 1, 0)


def test_split_files_drive_gather_pairs(tmp_path):
    ds = write_dataset(tmp_path / "ds", n=6)
    tr_f, va_f = tmp_path / "train.txt", tmp_path / "val.txt"
    tr_f.write_text("# training\nimg00\nimg01.png\nimg02\n\n")
    va_f.write_text("img03\nimg04\n")
    tr, va = gather_pairs(tiny_config(ds, tmp_path / "r", train_split=str(tr_f), val_split=str(va_f)))
    assert [p.stem for p in tr] == ["img00", "img01", "img02"]
    assert [p.stem for p in va] == ["img03", "img04"]
    # only a validation split: training is every other image
    tr, va = gather_pairs(tiny_config(ds, tmp_path / "r", val_split=str(va_f)))
    assert [p.stem for p in tr] == ["img00", "img01", "img02", "img05"]
    va_f.write_text("img02\n")
    with pytest.raises(DatasetError, match="both training and validation"):
        gather_pairs(tiny_config(ds, tmp_path / "r", train_split=str(tr_f), val_split=str(va_f)))
    va_f.write_text("img99\n")
    with pytest.raises(DatasetError, match="img99"):
        gather_pairs(tiny_config(ds, tmp_path / "r", val_split=str(va_f)))


def test_cv_fold_pools_datasets_and_matches_kfold(tmp_path):
    a = write_dataset(tmp_path / "a", n=4, seed=1)
    b = write_dataset(tmp_path / "b", n=3, seed=2)
    vals = []
    for i in range(3):
        tr, va = gather_pairs(tiny_config([a, b], tmp_path / "r", cv_folds=3, cv_fold=i))
        assert len(tr) + len(va) == 7 and not {p.image for p in tr} & {p.image for p in va}
        vals += [p.image for p in va]
    assert len(vals) == 7 == len(set(vals))
    with pytest.raises(DatasetError):
        gather_pairs(tiny_config([a], tmp_path / "r", cv_folds=9, cv_fold=0))
