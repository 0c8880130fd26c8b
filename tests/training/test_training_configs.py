"""The committed training configs: they load, name no machine's paths, and every stage of the
bundled model carves the same holdouts (its card's choices were all made on those)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from training.config import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "training" / "configs").glob("*.json"))


def _holdout_carve(cfg: TrainConfig) -> tuple:
    """What decides which images a run holds out (sources.gather_sources)."""
    return cfg.seed, tuple((s["path"], s.get("train"), s.get("holdout")) for s in cfg.sources)


def test_there_are_configs():
    assert len(CONFIGS) >= 2


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_loads_and_points_inside_the_repository(path):
    cfg = TrainConfig.load(path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert cfg.sources, "a committed config names its sources"
    for src in cfg.sources:
        assert not Path(src["path"]).is_absolute() and ".." not in Path(src["path"]).parts
    assert raw.get("out") in (None, "") and raw.get("data_root") in (None, "")  # given per run
    if cfg.init_from:
        start = Path(cfg.init_from)
        assert not start.is_absolute() and (ROOT / start).is_file()


def test_every_stage_carves_the_same_holdouts():
    carves = {p.name: _holdout_carve(TrainConfig.load(p)) for p in CONFIGS}
    assert len(set(carves.values())) == 1, carves


def test_a_training_option_beside_config_is_refused_not_silently_dropped(tmp_path):
    """``train --config F --epochs 3`` would train the file's epochs: say so before a long run."""
    from polypviewer.engine.errors import PolypViewerError
    from training.cli import add_train_arguments, config_from_args

    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(TrainConfig(epochs=7, sources=[{"path": "ds"}]).to_dict()))
    p = argparse.ArgumentParser()
    add_train_arguments(p)
    args = ["--config", str(cfg), "--out", str(tmp_path / "run")]
    with pytest.raises(PolypViewerError, match="--cadx-views, --epochs cannot change"):
        config_from_args(p.parse_args([*args, "--epochs", "3", "--cadx-views", "flips"]))
    with pytest.raises(PolypViewerError, match="DATASET cannot change"):
        config_from_args(p.parse_args([*args, str(tmp_path / "other")]))
    ok = config_from_args(p.parse_args([*args, "--threads", "2", "--cache-dir", str(tmp_path)]))
    assert ok.epochs == 7 and ok.threads == 2 and ok.out == str(tmp_path / "run")
