"""Wizard pages without a child process: validation gate, choices -> command, panel, register."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from PySide6.QtGui import QGuiApplication
from synthetic import write_dataset
from wizard_helpers import StubMainWindow, fake_finished_run, refreshed, register, tiny_settings

from polypviewer.engine.models.modelfile import load_model
from polypviewer.gui.wizard import TITLE, TrainingTools, install
from polypviewer.gui.wizard.runs import COMMAND_FILE, EVENTS_FILE, read_run
from polypviewer.paths import user_models_dir


@pytest.fixture
def tools(qtbot, tmp_path):
    mw = StubMainWindow()
    t = install(mw)
    t._runs_root = tmp_path / "runs"
    qtbot.addWidget(t.panel)
    yield t
    if t.wizard is not None:
        qtbot.waitUntil(lambda: not t.wizard.busy(), timeout=60_000)
        t.wizard.close()
    t.shutdown()


def test_install_adds_tool_and_dock(tools):
    mw = tools.main_window
    assert TITLE in mw.actions and "Runs" in mw.docks
    assert mw.training_tools is tools


def test_walk_pages_fatal_problem_blocks_next(qtbot, tools, tmp_path):
    bad = write_dataset(tmp_path / "bad", n=4)
    (bad / "masks" / "img00.png").unlink()  # an image without mask is fatal
    good = write_dataset(tmp_path / "good", n=6)
    (good / "splits").mkdir()
    (good / "splits" / "train.txt").write_text("img00\nimg01\nimg02\nimg03\n")
    (good / "splits" / "val.txt").write_text("img04\nimg05\n")
    wiz = tools.open_wizard()
    qtbot.addWidget(wiz)
    qtbot.waitUntil(wiz.ready, timeout=60_000)  # pages are built over a few turns
    data = wiz.data_page
    data.add_dataset(bad)
    qtbot.waitUntil(lambda: not data.busy(), timeout=60_000)
    assert not data.isComplete()
    assert "image without mask" in data.reason.text()
    assert data.problems.topLevelItemCount() >= 1
    data.list.setCurrentRow(0)
    data.list.item(0).setSelected(True)
    data._remove_selected()
    data.add_dataset(good)
    qtbot.waitUntil(lambda: not data.busy(), timeout=60_000)
    assert data.isComplete(), data.reason.text()
    assert "6 images" in data.summary.text()

    wiz.next()
    mp = wiz.model_page
    assert mp.task_btn["polyp"].isChecked() and not mp.task_btn["classify"].isEnabled()
    mp.encoder.setCurrentText("resnet18")  # no offline weights: only from scratch
    assert not mp.init_btn["imagenet"].isEnabled() and mp.init_btn["scratch"].isChecked()
    assert "from scratch" in mp.note.text()
    mp.task_btn["other"].setChecked(True)
    mp.target.setText("instrument")
    wiz.next()
    split = wiz.split_page
    assert split.btn["files"].isEnabled()
    split.btn["files"].setChecked(True)
    assert split.train_file.currentText() == "train.txt" and split.val_file.currentText() == "val.txt"
    wiz.next()
    tiny_settings(wiz)
    spec = wiz.spec()
    from polypviewer.gui.wizard.spec import train_args

    args = train_args(spec, "OUT")
    assert args[0] == str(good) and "--no-pretrained" in args and "--no-cls-head" in args
    assert args[args.index("--train-split") + 1].endswith("train.txt")
    assert args[args.index("--encoder") + 1] == "resnet18"
    assert args[args.index("--size") + 1] == "64" and args[args.index("--epochs") + 1] == "2"
    assert "--cv" not in args
    split.btn["kfold"].setChecked(True)
    assert train_args(wiz.spec(), "OUT").count("--cv") == 1


def test_presets_and_augmentation_preview(qtbot, tools, dataset):
    wiz = tools.open_wizard()
    qtbot.addWidget(wiz)
    qtbot.waitUntil(wiz.ready, timeout=60_000)  # pages are built over a few turns
    wiz.data_page.add_dataset(dataset)
    qtbot.waitUntil(lambda: wiz.data_page.isComplete(), timeout=60_000)
    sp = wiz.settings_page
    sp.apply_preset("Quick check on CPU")
    spec = wiz.spec()
    assert (spec.epochs, spec.size, spec.device, spec.max_train_images) == (3, 192, "cpu", 200)
    sp.advanced.setChecked(True)
    sp.epochs.setValue(5)
    assert sp.preset.currentText() == "Custom"
    sp.augment.setCurrentText("strong")
    wiz.model_page.size.setValue(64)
    sp.preview()
    qtbot.waitUntil(lambda: sp.preview_task is None, timeout=120_000)
    assert sp.preview_grid.count() == 3 * 4  # 3 images, each original + 3 augmented


def test_every_loss_says_what_it_does(qtbot, tools):
    from PySide6.QtCore import Qt

    from training.losses import LOSSES

    wiz = tools.open_wizard()
    qtbot.addWidget(wiz)
    qtbot.waitUntil(wiz.ready, timeout=30_000)  # the later pages are built in the first turns
    box = wiz.settings_page.loss
    assert [box.itemText(i) for i in range(box.count())] == list(LOSSES)
    tips = [box.itemData(i, Qt.ItemDataRole.ToolTipRole) for i in range(box.count())]
    assert all(tips) and len(set(tips)) == len(tips)
    assert "per image" in tips[LOSSES.index("bce_image_dice")]


def test_runs_panel_statuses_copy_and_delete(qtbot, tools, dataset):
    root = tools.runs_root()
    done = fake_finished_run(root, dataset)
    cancelled = root / "r-cancelled"
    cancelled.mkdir()
    (cancelled / "config.json").write_text(json.dumps({"datasets": [str(dataset)]}))
    (cancelled / "checkpoint.pt").write_bytes(b"x")
    (cancelled / EVENTS_FILE).write_text('{"kind": "cancelled", "data": {"message": "stop"}}\n')
    interrupted = root / "r-interrupted"
    interrupted.mkdir()
    (interrupted / "config.json").write_text("{}")
    (interrupted / "checkpoint.pt").write_bytes(b"x")
    failed = root / "r-failed"
    failed.mkdir()
    (failed / COMMAND_FILE).write_text(json.dumps({"command": "train",
                                                   "args": [str(dataset), "--out", str(failed)]}))
    (failed / EVENTS_FILE).write_text('{"kind": "failed", "data": {"error": "DatasetError: gone"}}\n')
    panel = tools.panel
    refreshed(qtbot, panel)
    status = {r.name: r.status for r in panel.runs}
    assert status == {done.name: "finished", "r-cancelled": "cancelled",
                      "r-interrupted": "interrupted", "r-failed": "failed"}
    assert "Dice 0.500" in read_run(done).best
    panel.select(failed)
    panel.copy_command()
    text = QGuiApplication.clipboard().text()
    assert text.startswith("polypviewer train ") and "--out" in text
    panel.select(interrupted)
    assert panel.buttons["resume"].isEnabled()
    panel.copy_command()
    assert "--config" in QGuiApplication.clipboard().text()
    panel.confirm = lambda *_: False
    panel.delete_selected()
    assert interrupted.exists()
    panel.confirm = lambda *_: True
    panel.delete_selected()  # in a worker, then the list is scanned again
    qtbot.waitUntil(lambda: not interrupted.exists() and panel.tree.topLevelItemCount() == 3,
                    timeout=60_000)


def test_register_and_use_now(qtbot, tmp_path, dataset, tiny_model_path):
    mw = StubMainWindow(current=str(tiny_model_path))
    tools = TrainingTools(mw, runs_root=tmp_path / "runs")
    run = fake_finished_run(tools.runs_root(), dataset)
    from polypviewer.gui.wizard.results import ResultsView

    view = ResultsView(tools.current_model)
    view.confirm = lambda *_: True  # two random models: one may be "clearly worse"
    qtbot.addWidget(view)
    view.use_model.connect(tools.use_model)
    view.show_run(run)
    assert "validation Dice" in view.metrics.text()
    view.compare()
    qtbot.waitUntil(lambda: view.compare_task is None, timeout=120_000)
    assert "Mean Dice over 2" in view.compare_label.text(), view.compare_label.text()
    view.name.setText("bad name!")
    register(qtbot, view)
    assert not view.use_btn.isEnabled() and "letters" in view.register_status.text()
    view.name.setText("my-polyps")
    view.description.setText("tiny test model")
    with qtbot.waitSignal(tools.model_ready, timeout=5000):
        register(qtbot, view)
        assert view.use_btn.isEnabled()
        view.use_btn.click()
    path = user_models_dir() / "my-polyps.safetensors"
    loaded = load_model(path)
    assert loaded.name == "my-polyps" and loaded.metadata["description"] == "tiny test model"
    assert (user_models_dir() / "my-polyps.md").read_text().startswith("# my-polyps")
    assert mw.models == [str(path)]
    register(qtbot, view)  # the same name again is refused
    assert "already registered" in view.register_status.text()
    assert os.path.isfile(path)
    shutil.rmtree(run)


def test_results_and_monitor_fit_their_page(qtbot, tmp_path, dataset):
    """Plots scale to the page (no horizontal scrolling), empty messages take no room, epochs
    are whole numbers on the live curves' axis."""
    from PySide6.QtGui import QColor, QPixmap

    from polypviewer.gui.wizard.monitor import EpochAxis
    from polypviewer.gui.wizard.results import ResultsView

    run = fake_finished_run(tmp_path / "runs", dataset)
    big = QPixmap(1800, 800)
    big.fill(QColor("white"))
    big.save(str(run / "curves.png"))
    (run / "summary.json").write_text(json.dumps({"val_dice_model_res": 0.5, "best_epoch": 0,
                                                  "train_time_s": 125.0}))
    view = ResultsView()
    qtbot.addWidget(view)
    view.resize(860, 640)
    view.show_run(run)
    view.show()
    qtbot.waitExposed(view)
    label = view.tabs.widget(0)
    assert label.pixmap().width() <= view.tabs.width()
    assert not view.compare_label.isVisible() and not view.pairs_widget.isVisible()
    text = view.metrics.text()
    assert "<table>" in text and "validation Dice" in text
    assert "best epoch</b>: 1<" in text and "2 min 05 s" in text  # epochs from 1, like the plots
    axis = EpochAxis("bottom")
    ticks = [v for _, vals in axis.tickValues(0.9, 2.1, 400) for v in vals]
    assert ticks and all(float(v).is_integer() for v in ticks)
    assert axis.tickStrings([1.0, 2.0], 1, 1) == ["1", "2"]


def test_home_folder_shown_as_tilde_paths_kept(qtbot, tmp_path, monkeypatch):
    """The wizard writes the home folder as ~ in what it shows; what it runs keeps full paths."""
    from polypviewer.gui.wizard.monitor import RunMonitor
    from polypviewer.gui.wizard.page_data import DataPage
    from polypviewer.gui.wizard.process import RunProcess
    from polypviewer.gui.wizard.widgets import home_short

    home = tmp_path / "ann"
    monkeypatch.setenv("HOME", str(home))
    assert home_short(f"train {home}/data --out '{home}/runs/r 1'") == "train ~/data --out '~/runs/r 1'"
    assert home_short(str(home)) == "~"
    others = f"{home}e/x /mnt{home}/x {tmp_path}/bob"
    assert home_short(others) == others
    ds = write_dataset(home / "datasets" / "polyps", n=4)
    data = DataPage()
    qtbot.addWidget(data)
    data.add_dataset(ds)
    qtbot.waitUntil(lambda: not data.busy(), timeout=60_000)
    assert data.list.item(0).text() == "~/datasets/polyps" and data.datasets() == [str(ds)]
    run = home / "runs" / "r1"
    proc = RunProcess(run, "train", [str(ds), "--out", str(run)])  # never started
    mon = RunMonitor()
    qtbot.addWidget(mon)
    mon.attach(proc)
    mon.on_log(f"saved {run}/model.safetensors")
    assert mon.log.toPlainText().splitlines() == [
        "$ polypviewer train ~/datasets/polyps --out ~/runs/r1 --events jsonl",
        "saved ~/runs/r1/model.safetensors"]
    assert proc.argv[-5:-2] == [str(ds), "--out", str(run)]


def test_defaults_follow_the_machine_and_the_dataset_under_review(qtbot, tmp_path, dataset):
    from types import SimpleNamespace

    from polypviewer.gui.wizard.page_settings import default_preset
    from polypviewer.gui.wizard.spec import PRESETS

    assert default_preset([("auto", "Automatic"), ("cpu", "CPU")]) == "Quick check on CPU"
    assert default_preset([("auto", ""), ("cpu", ""), ("cuda:0", "GPU 0")]) == "Balanced"
    mw = StubMainWindow()
    mw.annotate_workspace = SimpleNamespace(opened=SimpleNamespace(source=SimpleNamespace(path=dataset)))
    tools = TrainingTools(mw, runs_root=tmp_path / "runs")
    wiz = tools.open_wizard()
    qtbot.addWidget(wiz)
    qtbot.waitUntil(wiz.ready, timeout=60_000)  # the run and results pages come a turn later
    assert wiz.data_page.datasets() == [str(dataset)]  # the dataset open in Dataset review
    sp, mp = wiz.settings_page, wiz.model_page
    assert sp.preset.currentText() == sp.default_preset
    assert mp.target.text() == "polyp"
    mp.initializePage()
    assert mp.size.value() == PRESETS[sp.default_preset]["size"] == wiz.spec().size
    sp.apply_preset("Best on GPU")  # the Task page shows what the preset trains at
    assert mp.size.value() == PRESETS["Best on GPU"]["size"] == wiz.spec().size
    mp.size.setValue(320)  # the user's own size: the preset becomes Custom and 320 is used
    assert sp.preset.currentText() == "Custom" and wiz.spec().size == 320
    from PySide6.QtWidgets import QWizard

    cancel = wiz.button(QWizard.WizardButton.CancelButton)
    assert cancel.isEnabled()
    wiz.run_page.monitor.ended.emit("finished", "")  # a finished run has nothing to cancel
    assert not cancel.isEnabled()
    qtbot.waitUntil(lambda: not wiz.busy(), timeout=60_000)
    wiz.close()
    tools.shutdown()


def test_register_and_use_now_ask_when_the_new_model_is_clearly_worse(qtbot, tmp_path, dataset):
    from polypviewer.gui.wizard.compute import Comparison
    from polypviewer.gui.wizard.results import ResultsView

    run = fake_finished_run(tmp_path / "runs", dataset)
    view = ResultsView(lambda: None)
    qtbot.addWidget(view)
    view.show_run(run)
    asked, used = [], []
    view.confirm = lambda title, text: asked.append(text) or False
    view.use_model.connect(used.append)
    view._compared(None, Comparison(("new", "current"), (0.55, 0.80), 2, []))
    assert "clearly worse" in view.compare_label.text()
    assert "headline validation Dice 0.500" in view.compare_label.text()  # why they differ
    view.name.setText("worse-model")
    view.register()
    assert asked and not (user_models_dir() / "worse-model.safetensors").exists()
    view.model_path = "x.safetensors"
    view.use_now()
    assert used == [] and len(asked) == 2
    view._compared(None, Comparison(("new", "current"), (0.79, 0.80), 2, []))  # about equal
    view.use_now()
    assert used == ["x.safetensors"] and len(asked) == 2
    shutil.rmtree(run)


def test_runs_panel_rereads_only_changed_runs(qtbot, tools, dataset):
    """The periodic scan stats files; a run is read again only when one of them changed."""
    root = tools.runs_root()
    done = fake_finished_run(root, dataset)
    other = root / "r-other"
    other.mkdir()
    (other / EVENTS_FILE).write_text('{"kind": "epoch", "data": {}}\n')
    scanner = tools.panel.scanner
    runs, _ = scanner.scan(root, set())
    reads = scanner.reads
    assert {r.name for r in runs} == {done.name, "r-other"}
    runs, changed = scanner.scan(root, set())
    assert not changed and scanner.reads == reads
    (other / EVENTS_FILE).write_text('{"kind": "cancelled", "data": {"message": "stop"}}\n')
    runs, changed = scanner.scan(root, set())
    assert changed and scanner.reads == reads + 1
    assert {r.name: r.status for r in runs}["r-other"] == "cancelled"
    runs, changed = scanner.scan(root, {str(other)})  # started by this app: read again
    assert changed and {r.name: r.status for r in runs}["r-other"] == "running"


def test_the_estimate_counts_the_split_files_images_not_everything_left_over(tmp_path):
    from polypviewer.gui.wizard.compute import split_sizes
    from polypviewer.gui.wizard.spec import RunSpec

    (tmp_path / "train.txt").write_text("\n".join(f"t{i}" for i in range(880)))
    (tmp_path / "val.txt").write_text("\n".join(f"v{i}" for i in range(120)))
    files = RunSpec(split="files", train_split=str(tmp_path / "train.txt"),
                    val_split=str(tmp_path / "val.txt"), max_train_images=200)
    assert split_sizes(files, 1000) == (200, 120)  # Kvasir-SEG's quick check: 120, not 800
    assert split_sizes(RunSpec(split="random", val_fraction=0.2), 1000) == (800, 200)
    assert split_sizes(RunSpec(split="kfold", folds=5), 1000) == (800, 200)


@pytest.mark.parametrize("turns", [0, 1, 2, 3, 5])
def test_closing_the_wizard_while_it_is_still_being_built(qtbot, tools, turns):
    from PySide6.QtCore import QCoreApplication

    wiz = tools.open_wizard()
    for _ in range(turns):  # let that many of its building turns run
        QCoreApplication.processEvents()
    wiz.reject()  # Cancel: the wizard is deleted, its remaining turns must not run
    qtbot.waitUntil(lambda: tools.wizard is None, timeout=10_000)
    qtbot.wait(300)  # an exception in a leftover turn fails the test (pytest-qt)
    again = tools.open_wizard()  # and a new one opens whole
    qtbot.addWidget(again)
    qtbot.waitUntil(again.ready, timeout=60_000)


def test_fine_tuning_offers_the_models_found_in_the_background(qtbot, tools):
    from polypviewer.engine.models.registry import DEFAULT_MODEL, list_models

    wiz = tools.open_wizard()
    qtbot.addWidget(wiz)
    mp = wiz.model_page
    qtbot.waitUntil(lambda: mp.models_task is None, timeout=60_000)
    names = [mp.base_model.itemText(i) for i in range(mp.base_model.count())]
    assert names == [f"{e.name} ({e.source})" for e in list_models()]
    mp.base_model.setCurrentIndex(next(i for i, n in enumerate(names) if n.startswith(DEFAULT_MODEL)))
    mp.init_btn["model"].setChecked(True)
    assert "Fine-tuning keeps the network of " + DEFAULT_MODEL in mp.note.text()
    spec = wiz.spec()
    default = next(e for e in list_models() if e.name == DEFAULT_MODEL)
    assert spec.init == "model" and spec.init_from == str(default.path)
    assert spec.encoder == default.metadata["config"]["encoder"]
