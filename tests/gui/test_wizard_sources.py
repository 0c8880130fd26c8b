"""The wizard drives multi-source training: negatives folders, equal shares, the neoplastic
channel; every produced command line must parse and resolve in training itself."""

from __future__ import annotations

import argparse
import shutil

import pytest
from synthetic import write_dataset
from wizard_helpers import added

from polypviewer.gui.wizard.spec import RunSpec, train_args
from training.cli import add_train_arguments, config_from_args
from training.run_sources import training_sources


def _negatives(root):
    """A dataset folder without masks/: every image is "no polyp"."""
    shutil.rmtree(write_dataset(root, n=4, seed=3) / "masks")
    return root


def _parsed(args: list[str]):
    p = argparse.ArgumentParser()
    add_train_arguments(p)
    return config_from_args(p.parse_args(args))


def _sources(args: list[str]) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == "--source"]


@pytest.fixture
def two(tmp_path):
    a, b = write_dataset(tmp_path / "a", n=6), write_dataset(tmp_path / "b", n=4, seed=1)
    return str(a), str(b)


def test_pooled_keeps_positional_datasets(two):
    args = train_args(RunSpec(datasets=list(two)), "OUT")
    assert args[:2] == list(two) and "--source" not in args and "--cadx" not in args
    cfg = _parsed(args)
    assert cfg.datasets == list(two) and not cfg.sources


def test_balanced_gives_each_dataset_weight_one(two):
    spec = RunSpec(datasets=list(two), mix="balanced", val_fraction=0.25)
    args = train_args(spec, "OUT")
    assert _sources(args) == [f"{two[0]}:weight=1:holdout=0.25", f"{two[1]}:weight=1:holdout=0.25"]
    assert not set(two) & set(args[args.index("--out"):]) and args.index("--out") == 4
    assert "--train-split" not in args and "--val-split" not in args
    srcs = training_sources(_parsed(args))
    assert [s.weight for s in srcs] == [1.0, 1.0] and [len(s.holdout) for s in srcs] == [2, 1]


def test_negatives_force_sources_and_split_file_only_where_present(two, tmp_path):
    neg = str(_negatives(tmp_path / "neg"))
    (tmp_path / "a" / "splits").mkdir()
    (tmp_path / "a" / "splits" / "train.txt").write_text("img00\nimg01\nimg02\nimg03\n")
    spec = RunSpec(datasets=[two[0], neg], negatives=[neg], split="files",
                   train_split=str(tmp_path / "a" / "splits" / "train.txt"),
                   val_split=str(tmp_path / "a" / "splits" / "train.txt"))
    assert spec.uses_sources  # pooled is not possible with negatives
    args = train_args(spec, "OUT")
    assert _sources(args) == [f"{two[0]}:train=splits/train.txt:weight=1:holdout=0.2",
                              f"{neg}:weight=1:holdout=0.2"]
    assert "--train-split" not in args and "--val-split" not in args
    srcs = training_sources(_parsed(args))
    assert [s.negative for s in srcs] == [False, True]
    assert len(srcs[0].train) + len(srcs[0].holdout) == 4  # the split file, not all 6


def test_cadx_with_pooled_uses_sources_weighted_by_count(two, tmp_path):
    (tmp_path / "a" / "classes").mkdir()
    args = train_args(RunSpec(datasets=list(two), cadx=True), "OUT")
    assert args.count("--cadx") == 1 and all(":weight" not in s for s in _sources(args))
    cfg = _parsed(args)
    assert cfg.model.seg_channels == 2 and len(cfg.sources) == 2


def test_same_folder_names_get_distinct_source_names(tmp_path):
    a = str(write_dataset(tmp_path / "x" / "data", n=4))
    b = str(write_dataset(tmp_path / "y" / "data", n=4, seed=1))
    args = train_args(RunSpec(datasets=[a, b], mix="balanced"), "OUT")
    assert [s.name for s in training_sources(_parsed(args))] == ["data-1", "data-2"]


def test_sources_refuse_kfold_and_tune(two):
    with pytest.raises(ValueError):
        train_args(RunSpec(datasets=list(two), mix="balanced", split="kfold"), "OUT")
    with pytest.raises(ValueError):
        train_args(RunSpec(datasets=list(two), mix="balanced", tune=True), "OUT")


def test_data_page_accepts_negatives_and_forces_equal_share(qtbot, wizard, tmp_path):
    data = wizard.data_page
    neg = _negatives(tmp_path / "neg")
    added(qtbot, data, neg)
    assert not data.isComplete() and "only negatives" in data.reason.text()
    good = write_dataset(tmp_path / "good", n=6)
    added(qtbot, data, good)
    assert data.isComplete(), data.reason.text()
    assert "neg: negatives (no masks), 4 images" in data.summary.text()
    assert data.mix.isVisibleTo(data) and data.mix.currentData() == "balanced"
    assert not data.mix.model().item(0).isEnabled()  # pooled reads a mask for every image
    assert not data.cadx.isEnabled()
    assert data.framed.isVisibleTo(data) and data.framed.isChecked()
    spec = wizard.spec()
    assert spec.negatives == [str(neg)] and spec.uses_sources and not spec.cadx
    args = train_args(spec, "OUT")
    assert len(_sources(args)) == 2 and str(neg) not in args
    assert _parsed(args).framed_negatives == 0.5  # training reads the wizard's choice
    data.framed.setChecked(False)
    assert "--framed-negatives" not in train_args(wizard.spec(), "OUT")
    wizard.next()
    wizard.next()  # Split: k-fold pools datasets, so it is off with sources
    assert wizard.currentPage() is wizard.split_page and not wizard.split_page.btn["kfold"].isEnabled()
    wizard.next()
    assert not wizard.settings_page.tune.isEnabled()


def test_data_page_offers_mix_and_neoplastic_channel(qtbot, wizard, tmp_path):
    data = wizard.data_page
    one = write_dataset(tmp_path / "one", n=4)
    (one / "classes").mkdir()
    added(qtbot, data, one)
    assert not data.mix.isVisibleTo(data)  # one dataset: nothing to mix
    assert data.cadx.isEnabled() and "classes/" in data.summary.text()
    added(qtbot, data, write_dataset(tmp_path / "two", n=4, seed=1))
    assert data.mix.isVisibleTo(data) and data.mix.currentData() == "pooled"
    assert not wizard.spec().uses_sources
    data.mix.setCurrentIndex(1)
    data.cadx.setChecked(True)
    spec = wizard.spec()
    assert spec.mix == "balanced" and spec.cadx
    args = train_args(spec, "OUT")
    assert "--cadx" in args and all(s.endswith("weight=1:holdout=0.2") for s in _sources(args))


def test_data_page_takes_a_plain_image_folder_as_negatives(qtbot, wizard, tmp_path):
    data = wizard.data_page
    plain = tmp_path / "plain"
    shutil.copytree(_negatives(tmp_path / "neg") / "images", plain)
    added(qtbot, data, write_dataset(tmp_path / "good", n=6))
    added(qtbot, data, plain)
    assert data.isComplete(), data.reason.text()
    assert data.negatives == [str(plain)] and "plain: negatives (no masks), 4 images" \
        in data.summary.text()
    srcs = training_sources(_parsed(train_args(wizard.spec(), "OUT")))
    assert [s.negative for s in srcs] == [False, True]
