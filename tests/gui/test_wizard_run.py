"""Runs as child processes: live curves, cancel (checkpoint kept), resume, failures, results.

Tiny data (6 synthetic images at 64 px), 2 epochs, pretrained off, no loader workers; every
child is cancelled/killed at teardown.
"""

from __future__ import annotations

import time

import pytest
from synthetic import write_dataset
from wizard_helpers import WAIT, StubMainWindow, refreshed, register, tiny_settings

from polypviewer.engine.models.modelfile import load_model
from polypviewer.gui.wizard import TrainingTools
from polypviewer.paths import user_models_dir

# child processes import torch and train for real: minutes on a busy machine
pytestmark = pytest.mark.timeout(WAIT // 1000)


@pytest.fixture
def tools(qtbot, tmp_path):
    t = TrainingTools(StubMainWindow(), runs_root=tmp_path / "runs")
    qtbot.addWidget(t.panel)
    yield t
    t.shutdown()
    assert all(not r.running for r in t.manager.runs)
    if t.wizard is not None:
        t.wizard.close()


def _wizard_on_settings(qtbot, tools, dataset):
    wiz = tools.open_wizard()
    qtbot.addWidget(wiz)
    qtbot.waitUntil(wiz.ready, timeout=60_000)  # pages are built over a few turns
    wiz.data_page.add_dataset(dataset)
    qtbot.waitUntil(wiz.data_page.isComplete, timeout=60_000)
    wiz.next()  # task and model
    wiz.next()  # split (random, 20 %)
    wiz.split_page.val_pct.setValue(34)
    wiz.next()  # settings
    tiny_settings(wiz)
    return wiz


def test_run_cancel_resume_register(qtbot, tools, tmp_path):
    dataset = write_dataset(tmp_path / "ds", n=6)
    wiz = _wizard_on_settings(qtbot, tools, dataset)
    wiz.next()  # "Start training": the child process starts
    page = wiz.run_page
    proc = page.proc
    assert proc is not None and proc.running and not page.isComplete()
    mon = page.monitor
    qtbot.waitUntil(lambda: mon.curve_points("val_dice") >= 1 or not proc.running, timeout=WAIT)
    assert proc.running, proc.message
    assert mon.curve_points("train_loss") == 1 and mon.run_bar.value() == 1
    assert (proc.run_dir / "checkpoint.pt").is_file()
    # cancel: stops quickly (grace then kill), checkpoint kept, listed as cancelled
    t0 = time.monotonic()
    mon.cancel()
    qtbot.waitUntil(lambda: not proc.running, timeout=30_000)
    assert time.monotonic() - t0 < 10
    assert proc.status == "cancelled"
    assert (proc.run_dir / "checkpoint.pt").is_file()
    assert not (proc.run_dir / "summary.json").exists()
    # the wizard may be closed; the run stays in the panel
    wiz.close()
    panel = tools.panel
    refreshed(qtbot, panel)
    assert panel.status_of(proc.run_dir) == "cancelled"
    panel.select(proc.run_dir)
    assert panel.buttons["resume"].isEnabled()
    panel.resume_selected()
    qtbot.waitUntil(lambda: not panel.scanning(), timeout=60_000)
    resumed = tools.manager.live(proc.run_dir)
    assert resumed is not None and panel.status_of(proc.run_dir) == "running"
    qtbot.waitUntil(lambda: not resumed.running, timeout=WAIT)
    assert resumed.status == "finished", resumed.message + "\n".join(resumed.log_lines[-20:])
    started = [e for e in resumed.events if e.kind == "run_started"]
    assert started and started[0].data["start_epoch"] == 1
    refreshed(qtbot, panel)
    assert panel.status_of(proc.run_dir) == "finished"
    # results of the finished run, registered and used
    panel.select(proc.run_dir)
    panel.show_selected()
    view = panel.windows[-1].view
    assert view.tabs.count() == 3  # curves, threshold sweep, samples
    view.name.setText("tiny-wizard")
    register(qtbot, view)
    loaded = load_model(user_models_dir() / "tiny-wizard.safetensors")
    assert loaded.name == "tiny-wizard"
    with qtbot.waitSignal(tools.model_ready, timeout=5000):
        view.use_btn.click()
    assert tools.main_window.models == [str(user_models_dir() / "tiny-wizard.safetensors")]
    panel.windows[-1].close()


def test_bad_option_is_reported(qtbot, tools, tmp_path):
    run = tools.runs_root() / "bad"
    proc = tools.manager.start(run, "train", [str(tmp_path), "--out", str(run), "--loss", "nope"])
    qtbot.waitUntil(lambda: not proc.running, timeout=WAIT)
    assert proc.status == "failed"
    assert "invalid choice" in proc.message
    refreshed(qtbot, tools.panel)
    assert tools.panel.status_of(run) == "failed"


def test_missing_dataset_is_reported_in_the_monitor(qtbot, tools, tmp_path):
    dataset = write_dataset(tmp_path / "gone", n=4)
    wiz = _wizard_on_settings(qtbot, tools, dataset)
    import shutil

    shutil.rmtree(dataset)  # deleted between the check and the run
    wiz.next()
    proc = wiz.run_page.proc
    qtbot.waitUntil(lambda: not proc.running, timeout=WAIT)
    assert proc.status == "failed"
    assert "does not exist" in proc.message or "dataset" in proc.message.lower()
    assert "Training failed" in wiz.run_page.monitor.status.text()
    assert not wiz.run_page.isComplete()
