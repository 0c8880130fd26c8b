"""k-fold cross-validation through the CLI: fold runs, their splits and the summary."""

from __future__ import annotations

import json

from synthetic import write_dataset
from training_helpers import TINY_ARGS

from training.cli import main


def test_cv_runs_every_fold_and_summarises(tmp_path, capsys):
    ds = write_dataset(tmp_path / "ds", n=6)
    out = tmp_path / "cv"
    assert main([str(ds), "--out", str(out), "--cv", "2", "--epochs", "1", *TINY_ARGS]) == 0
    printed = capsys.readouterr().out
    assert "2-fold CV: val Dice" in printed and "±" in printed
    summary = json.loads((out / "cv_summary.json").read_text())
    assert summary["k"] == 2 and [f["fold"] for f in summary["folds"]] == [0, 1]
    dice = [f["val_dice_model_res"] for f in summary["folds"]]
    assert abs(summary["val_dice_model_res"]["mean"] - sum(dice) / 2) < 1e-9
    vals = []
    for i in range(2):
        fold = out / f"fold_{i}"
        assert (fold / "model.safetensors").is_file()
        assert json.loads((fold / "config.json").read_text())["cv_fold"] == i
        split = json.loads((fold / "split.json").read_text())
        assert not set(split["train"]) & set(split["val"]) and len(split["train"]) + len(split["val"]) == 6
        vals += split["val"]
    assert len(vals) == 6 == len(set(vals))  # every image validated exactly once

    # resuming a finished CV re-uses the folds and rewrites the same summary
    assert main(["--resume", str(out), "--events", "jsonl"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sum("already finished" in e["data"].get("message", "") for e in lines) == 2
    assert lines[-1]["kind"] == "cv_summary"
