"""The wizard's neoplastic head fit (``train --task cadx``): its command line, its pages, and a
real fit's events, results table, registration and Runs panel row."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
from synthetic import TINY, write_classed, write_dataset
from wizard_helpers import added

from polypviewer.engine.models.factory import create_model
from polypviewer.engine.models.modelfile import load_model, save_model
from polypviewer.gui.wizard.runs import CADX_FILE, read_run
from polypviewer.gui.wizard.spec import RunSpec, train_args
from polypviewer.paths import user_models_dir
from training.cli import add_train_arguments, config_from_args
from training.events import Event

TRAINING_ONLY = ("--epochs", "--lr", "--loss", "--augment", "--batch-size", "--cv", "--cadx",
                 "--optimizer", "--scheduler", "--device")


def _parsed(args: list[str]):
    p = argparse.ArgumentParser()
    add_train_arguments(p)
    a = p.parse_args(args)
    return a, config_from_args(a)


@pytest.fixture
def seg_model(tmp_path):
    torch.manual_seed(0)
    return save_model(tmp_path / "seg", create_model(TINY).eval(), TINY, threshold=0.4,
                      name="seg", frame_threshold=0.7)


def test_the_fit_spec_is_the_fit_command_and_nothing_of_training(tmp_path, seg_model):
    classed = write_dataset(tmp_path / "classed", n=4)
    (classed / "classes").mkdir()
    plain = write_dataset(tmp_path / "plain", n=4, seed=1)
    spec = RunSpec(task="cadx", datasets=[str(classed), str(plain)], init="model",
                   init_from=str(seg_model), size=64, cadx_sizes=[96, 64], val_fraction=0.25,
                   seed=7, name="fit", epochs=99, lr=0.5, cadx=True)
    args = train_args(spec, "OUT")
    assert not set(TRAINING_ONLY) & set(args)
    a, cfg = _parsed(args)
    assert a.task == "cadx" and cfg.init_from == str(seg_model) and cfg.out == "OUT"
    assert cfg.scales == [64, 96] and cfg.model.input_size == 64 and cfg.cadx_views == "flips"
    assert [s["path"] for s in cfg.sources] == [str(classed), str(plain)]
    assert {s["holdout"] for s in cfg.sources} == {0.25} and cfg.seed == 7 and cfg.name == "fit"
    spec.cadx_flips, spec.cadx_sizes = False, []
    a, cfg = _parsed(train_args(spec, "OUT"))
    assert cfg.cadx_views == "off" and cfg.scales == [64]  # the model's own size


@pytest.mark.parametrize("change, refusal", [
    (lambda spec, plain: setattr(spec, "init_from", None), "trained model"),
    (lambda spec, plain: setattr(spec, "datasets", [plain]), "classes/ folder"),
    (lambda spec, plain: setattr(spec, "split", "kfold"), "k-fold"),
    (lambda spec, plain: setattr(spec, "tune", True), "Optuna"),
])
def test_the_fit_spec_refuses_what_the_fit_cannot_do(tmp_path, seg_model, change, refusal):
    classed = write_dataset(tmp_path / "classed", n=4)
    (classed / "classes").mkdir()
    plain = write_dataset(tmp_path / "plain", n=4, seed=1)
    spec = RunSpec(task="cadx", datasets=[str(classed)], init_from=str(seg_model), size=64)
    train_args(spec, "OUT")  # as it is, it runs
    change(spec, str(plain))
    with pytest.raises(ValueError, match=refusal):
        train_args(spec, "OUT")


def test_the_fit_task_offers_its_options_and_hides_trainings(qtbot, wizard, tmp_path):
    data, mp = wizard.data_page, wizard.model_page
    qtbot.waitUntil(lambda: mp.models_task is None, timeout=60_000)
    plain = write_dataset(tmp_path / "plain", n=6)
    added(qtbot, data, plain)
    wizard.next()
    mp.task_btn["cadx"].setChecked(True)
    assert not mp.isComplete() and "classes/ folder" in mp.note.text()  # says why
    wizard.back()
    added(qtbot, data, write_classed(tmp_path / "classed", n=6))
    wizard.next()
    assert mp.task_btn["cadx"].isChecked() and not mp.isComplete()
    assert "Choose the trained model" in mp.note.text()
    mp.base_model.setCurrentIndex(0)
    assert mp.isComplete(), mp.note.text()
    assert mp.init_btn["model"].isChecked() and mp.base_model.isEnabled()
    for w in (mp.arch, mp.encoder, mp.size, mp.init_btn["imagenet"], mp.init_btn["scratch"]):
        assert not w.isEnabled()
    assert mp.cadx_options.isVisibleTo(mp)
    # the Data page's training choices (mix, framed negatives, the channel by gradient) go
    assert not data.cadx.isVisibleTo(data) and not data.mix.isVisibleTo(data)
    own = mp.base_meta()["config"]["input_size"]
    assert mp.cadx_options.sizes() == [own]  # the model's own size by default
    assert {256, 320, 384, 448} <= set(mp.cadx_options.size_boxes)
    assert mp.cadx_options.flips.isChecked() and "four flips" in mp.cadx_options.flips.toolTip()
    for box in mp.cadx_options.size_boxes.values():
        box.setChecked(False)
    assert not mp.isComplete() and "at least one size" in mp.note.text()
    for at in (256, 384):
        mp.cadx_options.size_boxes[at].setChecked(True)
    wizard.next()
    assert not wizard.split_page.btn["kfold"].isEnabled()
    wizard.next()
    sp = wizard.settings_page
    for w in (sp.advanced, sp.tune, sp.estimate_btn, sp.preset, sp.device):
        assert not w.isVisibleTo(sp)
    assert sp.cadx_note.isVisibleTo(sp)
    assert sp.buttonText(sp.wizard().WizardButton.CommitButton) == "Start the fit"
    args = train_args(wizard.spec(), "OUT")
    a, cfg = _parsed(args)
    assert a.task == "cadx" and cfg.scales == [256, 384] and cfg.cadx_views == "flips"
    assert cfg.init_from == mp.base_model.currentData() and cfg.model.input_size == own
    assert not set(TRAINING_ONLY) & set(args)
    wizard.back()
    wizard.back()
    mp.task_btn["polyp"].setChecked(True)  # back to training: its settings return
    assert not mp.cadx_options.isVisibleTo(mp) and mp.size.isEnabled()
    assert data.cadx.isVisibleTo(data) and data.mix.isVisibleTo(data)
    wizard.next()
    wizard.next()
    assert sp.advanced.isVisibleTo(sp) and not sp.cadx_note.isVisibleTo(sp)


@pytest.mark.timeout(300)  # a real fit, in this process
def test_a_fit_run_is_monitored_shown_registered_and_listed(qtbot, tmp_path, seg_model, capsys):
    from polypviewer.gui.wizard.monitor import RunMonitor
    from polypviewer.gui.wizard.results import ResultsView
    from training.cli import main

    classed = write_classed(tmp_path / "classed")
    run = tmp_path / "runs" / "20250101-000000-fit"
    spec = RunSpec(task="cadx", datasets=[str(classed)], init_from=str(seg_model), size=64,
                   cadx_sizes=[64, 96], cadx_flips=False, val_fraction=0.25)
    args = train_args(spec, str(run))
    assert main([*args, "--events", "jsonl"]) == 0
    events = [Event.from_json(line) for line in capsys.readouterr().out.splitlines()
              if line.startswith("{")]
    (run / "command.json").write_text(json.dumps({"command": "train", "args": args}))

    monitor = RunMonitor()
    qtbot.addWidget(monitor)
    for ev in events:
        monitor.on_event(ev)
    started = events[0].data
    assert monitor.run_bar.maximum() == started["epochs"] == monitor.run_bar.value()
    assert "passes" in monitor.run_bar.format() and "holdout" in monitor.epoch_bar.format()
    assert not monitor.plots.isVisibleTo(monitor) and "neoplastic head" in monitor.status.text()

    view = ResultsView()
    qtbot.addWidget(view)
    view.show_run(run)
    fit = json.loads((run / CADX_FILE).read_text())
    best = next(g for g in fit["grid"] if g["l2"] == fit["l2"])
    text = view.metrics.text()
    for at, v in best["holdout"].items():
        assert f"<td>{at} px</td><td>{v['predicted']['polyps']}</td>" in text
        assert f"<td>{v['truth']['polyps']}</td><td>{v['truth']['accuracy']:.3f}</td>" in text
    assert view.register_btn.isEnabled() and not view.cmp_box.isVisibleTo(view)
    assert not view.tabs.isVisibleTo(view)  # no curves or sweep to show
    view.name.setText("fitted")
    view.register()
    qtbot.waitUntil(lambda: view.register_task is None, timeout=60_000)
    assert view.use_btn.isEnabled(), view.register_status.text()
    registered = load_model(view.model_path)
    assert registered.config.seg_channels == 2 and registered.metadata["frame_threshold"] == 0.7
    assert (user_models_dir() / "fitted.md").read_text().count("holdout at") == 2

    info = read_run(run)
    assert info.status == "finished" and info.datasets == ["classed"]
    assert info.settings.startswith("neoplastic head fit of seg at 64, 96 px")
    # the random tiny model predicts no polyp: the true polyps' AUC stands in
    assert all(v["predicted"]["polyps"] == 0 for v in best["holdout"].values())
    assert info.best == f"holdout AUC {best['holdout_auc_truth']:.3f} (true polyps)"
