"""Shared pieces of the wizard tests: a stub main window, tools, a tiny finished run folder."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from synthetic import TINY

from polypviewer.engine.models.factory import create_model
from polypviewer.engine.models.modelfile import save_model

WAIT = 900_000  # ms; child processes import torch, which is slow on a busy machine


class StubMainWindow:
    """Just the hooks the wizard uses: Tools entry, dock, set_model, current_model."""

    def __init__(self, current: str | None = None):  # a host.HostWindow without widgets
        self.actions, self.docks, self.models = {}, {}, []
        self.current = current

    def add_tool_action(self, title, callback=None, shortcut=""):
        self.actions[title] = callback

    def add_dock(self, widget, title, area=None):
        self.docks[title] = widget

    def set_model(self, path):
        self.models.append(path)

    def current_model(self):
        return self.current


def refreshed(qtbot, panel) -> None:
    """Refresh the Runs panel and wait for its scan (it runs in a worker)."""
    panel.refresh()
    qtbot.waitUntil(lambda: not panel.scanning(), timeout=60_000)


def added(qtbot, page, path) -> None:
    """Add a dataset on the Data page and wait for its check (it runs in a worker)."""
    page.add_dataset(path)
    qtbot.waitUntil(lambda: not page.busy(), timeout=60_000)


def register(qtbot, view) -> None:
    """Press Register and wait for the worker that re-saves the model."""
    view.register()
    qtbot.waitUntil(lambda: view.register_task is None, timeout=60_000)


def tiny_settings(wiz, epochs: int = 2) -> None:
    """TINY-like settings through the Advanced fields (pretrained off, 64 px, CPU, no workers)."""
    mp, sp = wiz.model_page, wiz.settings_page
    mp.init_btn["scratch"].setChecked(True)
    mp.size.setValue(64)
    sp.preset.setCurrentText("Custom")
    sp.advanced.setChecked(True)
    sp.epochs.setValue(epochs)
    sp.batch.setValue(2)
    sp.augment.setCurrentText("none")
    sp.workers.setValue(0)
    sp.amp.setChecked(False)
    sp.device.setCurrentIndex(sp.device.findData("cpu"))
    sp.name.setText("tiny")


def fake_finished_run(root: Path, dataset: Path) -> Path:
    """A run folder as a finished training leaves it (model, summary, split), without training."""
    run = root / "20250101-000000-tiny"
    run.mkdir(parents=True)
    torch.manual_seed(0)
    save_model(run / "model", create_model(TINY).eval(), TINY, threshold=0.5, name="tiny-run",
               training={"val_dice_model_res": 0.5, "n_train": 4, "n_val": 2})
    (run / "summary.json").write_text(json.dumps({"val_dice_model_res": 0.5, "n_train": 4,
                                                  "n_val": 2, "threshold": 0.5}))
    images = sorted((dataset / "images").iterdir())
    (run / "split.json").write_text(json.dumps({"train": [str(p) for p in images[2:]],
                                                "val": [str(p) for p in images[:2]]}))
    (run / "config.json").write_text(json.dumps({"datasets": [str(dataset)], "epochs": 2,
                                                 "model": TINY.to_dict()}))
    return run
