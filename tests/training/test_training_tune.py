"""Optuna study: trials are ordinary runs, results on disk, poor trials pruned per epoch."""

from __future__ import annotations

import csv
import json

import optuna
from synthetic import write_dataset
from training_helpers import TINY_ARGS, Recorder, tiny_config

from training.cli import main
from training.tune import run_study


def test_tune_cli_two_trials(tmp_path, capsys):
    ds = write_dataset(tmp_path / "ds", n=6)
    study = tmp_path / "study"
    import argparse

    from training.cli import add_tune_arguments, run_tune

    p = argparse.ArgumentParser()
    add_tune_arguments(p)
    a = p.parse_args([str(ds), "--out", str(study), "--trials", "2", "--epochs", "1",
                      "--val-fraction", "0.34", *TINY_ARGS])
    assert run_tune(a) == 0
    assert "best trial" in capsys.readouterr().out
    rows = list(csv.DictReader(open(study / "trials.csv")))
    assert [r["number"] for r in rows] == ["0", "1"] and {r["state"] for r in rows} == {"COMPLETE"}
    best = json.loads((study / "best.json").read_text())
    assert best["n_complete"] == 2
    assert set(best["best_params"]) == {"lr", "loss", "encoder", "augment_strength"}
    assert best["best_value"] == max(float(r["val_dice"]) for r in rows)
    assert (study / f"trial_{best['best_trial']:03d}" / "model.safetensors").is_file()
    assert best["config"]["lr"] == best["best_params"]["lr"]
    assert main  # the train CLI stays importable beside tune


def test_pruned_trial_stops_after_reporting_epoch(tmp_path):
    ds = write_dataset(tmp_path / "ds", n=6)
    rec = Recorder()
    # a threshold no Dice can reach: the pruner stops every trial after its first epoch
    study = run_study(tiny_config(ds, tmp_path / "x", epochs=3), tmp_path / "study", 1,
                      listener=rec, pruner=optuna.pruners.ThresholdPruner(lower=2.0),
                      encoders=["timm-tf_efficientnet_lite0"])
    t = study.trials[0]
    assert t.state == optuna.trial.TrialState.PRUNED
    assert list(t.intermediate_values) == [0] and t.user_attrs["epochs_run"] == 1
    assert "cancelled" in rec.kinds() and not (tmp_path / "study" / "trial_000" / "model.json").exists()
    best = json.loads((tmp_path / "study" / "best.json").read_text())
    assert best["best_trial"] is None and best["n_pruned"] == 1
