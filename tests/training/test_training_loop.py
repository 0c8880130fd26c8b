"""The segmentation loop end to end on a tiny model: outputs, events, cancel and resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
from synthetic import write_dataset
from training_helpers import TINY_ARGS, Recorder, tiny_config

from polypviewer.engine.models.modelfile import load_model
from training.cli import main
from training.events import CancelToken, Event
from training.loop import CHECKPOINT, run_training

OUTPUTS = ("checkpoint.pt", "metrics.csv", "metrics.json", "curves.png", "samples.png",
           "threshold_sweep.json", "threshold_sweep.png", "model.safetensors", "model.json",
           "config.json", "split.json", "summary.json")


def test_one_epoch_cli_jsonl_writes_every_output(tmp_path, capsys):
    ds = write_dataset(tmp_path / "ds", n=6)
    out = tmp_path / "run"
    rc = main([str(ds), "--out", str(out), "--epochs", "1", "--val-fraction", "0.34",
               "--events", "jsonl", *TINY_ARGS])
    assert rc == 0
    events = [Event.from_json(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    kinds = [e.kind for e in events]
    for k in ("run_started", "epoch_progress", "epoch_metrics", "finished"):
        assert k in kinds
    assert kinds[0] in ("run_started", "log") and kinds[-1] == "finished"
    for name in OUTPUTS:
        assert (out / name).is_file(), name
    sweep = json.loads((out / "threshold_sweep.json").read_text())
    loaded = load_model(out / "model.safetensors")
    assert loaded.threshold == pytest.approx(sweep["best_threshold"])
    assert loaded.config.input_size == 64
    assert loaded.metadata["training"]["epochs_run"] == 1
    split = json.loads((out / "split.json").read_text())
    assert len(split["train"]) == 4 and len(split["val"]) == 2
    assert not set(split["train"]) & set(split["val"])


def test_cancel_between_batches_keeps_no_epoch(tmp_path):
    ds = write_dataset(tmp_path / "ds", n=9)
    cancel = CancelToken()
    rec = Recorder(lambda e: cancel.cancel() if e.kind == "epoch_progress" else None)
    cfg = tiny_config(ds, tmp_path / "run", epochs=2)
    assert run_training(cfg, rec, cancel) is None
    # cancelled after the first batch: the second batch never ran, no epoch finished
    assert len(rec.of("epoch_progress")) == 1 and rec.of("epoch_progress")[0].data["steps"] > 1
    assert rec.kinds()[-1] == "cancelled"
    assert not (tmp_path / "run" / CHECKPOINT).exists()
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_cancel_during_the_holdout_pass_stops_it_and_resume_redoes_the_epoch(tmp_path):
    ds = write_dataset(tmp_path / "ds", n=6)
    out = tmp_path / "run"
    cancel = CancelToken()
    last_step = lambda e: e.kind == "epoch_progress" and e.data["step"] == e.data["steps"]  # noqa: E731
    rec = Recorder(lambda e: cancel.cancel() if last_step(e) else None)
    cfg = tiny_config(ds, out, epochs=1)
    assert run_training(cfg, rec, cancel) is None
    # the epoch's batches all ran; its holdout scores, checkpoint and model never came
    assert any(last_step(e) for e in rec.of("epoch_progress"))
    assert "epoch_metrics" not in rec.kinds() and rec.kinds()[-1] == "cancelled"
    assert not (out / CHECKPOINT).exists() and not (out / "model.safetensors").exists()

    rec2 = Recorder()
    final = run_training(cfg, rec2, CancelToken(), resume=True)
    assert final is not None and rec2.of("run_started")[0].data["start_epoch"] == 0
    assert [e.data["epoch"] for e in rec2.of("epoch_metrics")] == [0]


def test_resume_after_cancel_continues_from_next_epoch(tmp_path):
    ds = write_dataset(tmp_path / "ds", n=6)
    out = tmp_path / "run"
    cancel = CancelToken()
    rec = Recorder(lambda e: cancel.cancel() if e.kind == "epoch_metrics" else None)
    cfg = tiny_config(ds, out, epochs=2)
    assert run_training(cfg, rec, cancel) is None
    assert (out / CHECKPOINT).is_file() and not (out / "model.safetensors").exists()
    assert [h["epoch"] for h in json.loads((out / "metrics.json").read_text())] == [0]

    rec2 = Recorder()
    final = run_training(cfg, rec2, CancelToken(), resume=True)
    assert final is not None and final.is_file()
    assert rec2.of("run_started")[0].data["start_epoch"] == 1
    assert [e.data["epoch"] for e in rec2.of("epoch_metrics")] == [1]
    hist = json.loads((out / "metrics.json").read_text())
    assert [h["epoch"] for h in hist] == [0, 1]
    assert json.loads((out / "summary.json").read_text())["epochs_run"] == 2


def test_dataset_warnings_are_logged_and_fatal_problems_stop(tmp_path):
    import cv2

    ds = write_dataset(tmp_path / "ds", n=6)
    cv2.imwrite(str(ds / "masks" / "img00.png"), np.zeros((96, 128), np.uint8))  # empty mask
    rec = Recorder()
    cancel = CancelToken()
    rec.on_event = lambda e: cancel.cancel() if e.kind == "run_started" else None
    run_training(tiny_config(ds, tmp_path / "run"), rec, cancel)
    logs = [e.data["message"] for e in rec.of("log")]
    assert any("empty mask" in m for m in logs)

    (ds / "masks" / "img01.png").unlink()  # image without mask: fatal
    from polypviewer.engine.errors import DatasetError

    rec = Recorder()
    with pytest.raises(DatasetError, match="image without mask"):
        run_training(tiny_config(ds, tmp_path / "run2"), rec)
    assert rec.kinds()[-1] == "failed"
    assert main([str(ds), "--out", str(tmp_path / "run3"), *TINY_ARGS]) == 2
