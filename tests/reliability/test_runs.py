"""Run folders under damage: a copied run resumes into the copy, a damaged one gives one line."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from synthetic import TINY, write_dataset

from training.cli import main
from training.config import TrainConfig
from training.events import CancelToken
from training.loop import CHECKPOINT, run_training

PREVIOUS = "checkpoint.prev.pt"


def tiny_config(ds: Path, out: Path, epochs: int) -> TrainConfig:
    return TrainConfig(datasets=[str(ds)], out=str(out), model=TINY, pretrained=False,
                       epochs=epochs, batch_size=2, workers=0, threads=1, augment="light",
                       device="cpu", val_fraction=0.34)


class Recorder:
    def __init__(self, on_event=None) -> None:
        self.events, self.on_event = [], on_event

    def __call__(self, ev) -> None:
        self.events.append(ev)
        if self.on_event is not None:
            self.on_event(ev)

    def of(self, kind: str) -> list:
        return [e for e in self.events if e.kind == kind]


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _interrupted_run(tmp_path: Path, epochs_done: int, epochs: int = 3) -> Path:
    """A run cancelled after ``epochs_done`` finished epochs, its config.json written."""
    ds = write_dataset(tmp_path / "ds", n=6)
    out = tmp_path / "run"
    cancel = CancelToken()
    seen = []

    def stop(e):
        if e.kind == "epoch_metrics":
            seen.append(e)
            if len(seen) >= epochs_done:
                cancel.cancel()

    assert run_training(tiny_config(ds, out, epochs=epochs), Recorder(stop), cancel) is None
    return out


def _error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


def test_resume_of_a_copied_run_writes_only_into_the_copy(tmp_path):
    orig = _interrupted_run(tmp_path, epochs_done=1, epochs=2)
    copy = tmp_path / "copy"
    shutil.copytree(orig, copy)
    before = _digest(orig)
    assert main(["--resume", str(copy)]) == 0
    assert _digest(orig) == before  # the run the config came from is untouched
    assert (copy / "model.safetensors").is_file() and (copy / "summary.json").is_file()
    assert not (orig / "model.safetensors").exists()
    assert json.loads((copy / "config.json").read_text())["out"] == str(copy)


@pytest.mark.parametrize("text, why", [
    ("{not json", "config.json"),
    ("[1, 2, 3]", "config.json"),
    ('{"epochs": "abc"}', "epochs"),
    ('{"model": {"input_size": 64, "colour": 1}}', "colour"),
])
def test_garbage_config_gives_one_line(tmp_path, capsys, text, why):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(text)
    assert main(["--resume", str(run)]) == 2
    line = _error_line(capsys)
    assert str(run / "config.json") in line and why in line


def test_truncated_checkpoint_resumes_from_the_previous_one(tmp_path):
    out = _interrupted_run(tmp_path, epochs_done=2)
    assert (out / PREVIOUS).is_file()  # epoch 1's checkpoint stays until epoch 2's is complete
    data = (out / CHECKPOINT).read_bytes()
    (out / CHECKPOINT).write_bytes(data[: len(data) // 2])
    rec = Recorder()
    cfg = TrainConfig.load(out / "config.json")
    assert run_training(cfg, rec, CancelToken(), resume=True) is not None
    logs = [e.data["message"] for e in rec.of("log")]
    assert any(CHECKPOINT in m and "damaged" in m and PREVIOUS in m for m in logs), logs
    assert rec.of("run_started")[0].data["start_epoch"] == 1
    assert [e.data["epoch"] for e in rec.of("epoch_metrics")] == [1, 2]
    assert [h["epoch"] for h in json.loads((out / "metrics.json").read_text())] == [0, 1, 2]


def test_damaged_checkpoint_without_an_earlier_one_stops_with_one_line(tmp_path, capsys):
    out = _interrupted_run(tmp_path, epochs_done=1)
    assert not (out / PREVIOUS).exists()
    (out / CHECKPOINT).write_bytes(b"PK\x03\x04 truncated")
    assert main(["--resume", str(out)]) == 2
    line = _error_line(capsys)
    assert str(out / CHECKPOINT) in line and "damaged" in line
    assert (out / CHECKPOINT).read_bytes() == b"PK\x03\x04 truncated"  # kept for the user


def test_failed_checkpoint_write_keeps_the_last_good_one(tmp_path, monkeypatch):
    import errno

    import torch

    out = _interrupted_run(tmp_path, epochs_done=1)
    good = (out / CHECKPOINT).read_bytes()
    real_save = torch.save

    def full_disk(obj, f, *a, **kw):
        real_save(obj, f, *a, **kw)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    cfg = TrainConfig.load(out / "config.json")
    with pytest.raises(Exception, match=str(out)):
        run_training(cfg, Recorder(), CancelToken(), resume=True)
    assert (out / CHECKPOINT).read_bytes() == good
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
