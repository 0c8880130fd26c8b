"""Drive the training wizard end to end on a real dataset, as a user would, offscreen.

Opens the main window, Tools -> Train a model…, adds DATASET, keeps the polyp segmentation
task, picks the dataset's own split files (splits/train.txt, splits/val.txt) and the
"Quick check on CPU" preset, starts the run (a child process), screenshots the Run page once
curves are visible, compares the new model with the current (bundled) one on the Results page
and screenshots it, then registers the model.

Usage: uv run python scripts/wizard_demo.py PATH/TO/kvasir-seg [--shots docs/screenshots]
       [--work DIR] [--name kvasir-quick-check]

The app and its training child run with a throwaway home folder (a new temporary folder, or
--work): HOME, the XDG folders and PolypViewer's own folders all point inside it, and the
dataset is reached through the link ~/datasets/NAME. So runs, registered models, cache and
settings never touch your own folders, and the screenshots (where the wizard writes the home
folder as ~) show no path of this machine. The script prints where that home is.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PRESET = "Quick check on CPU"
TIMEOUT_S = 3 * 3600
WINDOW = (900, 1000)  # the wizard: tall enough for the Results page with its comparison


def _isolate(home: Path, dataset: Path) -> Path:
    """Make ``home`` the home folder of this process and its children (the training run):
    HOME, the XDG folders (Qt's and matplotlib's too) and PolypViewer's own folders inside it,
    and ``home/datasets/NAME`` a link to ``dataset``; returns that link."""
    os.environ["HOME"] = str(home)
    for var, sub in (("XDG_DATA_HOME", ".local/share"), ("XDG_CONFIG_HOME", ".config"),
                     ("XDG_CACHE_HOME", ".cache"),
                     ("POLYPVIEWER_DATA_DIR", ".local/share/PolypViewer"),
                     ("POLYPVIEWER_CONFIG_DIR", ".config/PolypViewer"),
                     ("POLYPVIEWER_CACHE_DIR", ".cache/PolypViewer")):
        (home / sub).mkdir(parents=True, exist_ok=True)
        os.environ[var] = str(home / sub)
    link = home / "datasets" / dataset.name
    link.parent.mkdir(exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(dataset, target_is_directory=True)
    # the child run inherits this environment: check that its home is the new one as well
    probe = "import os, pathlib; print(pathlib.Path.home()); print(os.path.expanduser('~'))"
    seen = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True).stdout.splitlines()
    if Path.home() != home or seen != [str(home)] * 2:
        raise SystemExit(f"the home folder is not {home} here ({Path.home()}) or in a child ({seen})")
    return link


def _pump(until, timeout_s: float = TIMEOUT_S, what: str = "") -> None:
    """Process Qt events until ``until()`` is true (the window stays live meanwhile)."""
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + timeout_s
    while not until():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        QApplication.processEvents()
        time.sleep(0.02)


def _settle(seconds: float = 0.5) -> None:
    end = time.monotonic() + seconds
    _pump(lambda: time.monotonic() > end)


def _click(wiz, which) -> None:
    button = wiz.button(which)
    if not button.isEnabled() or not button.isVisible():
        raise RuntimeError(f"{button.text()!r} is not available on page {wiz.currentPage().title()!r}")
    button.click()
    _settle(0.2)


def _check_no_paths(wiz, paths) -> None:
    """Warn when a text on the current page shows one of ``paths`` (the screenshot would)."""
    from PySide6.QtWidgets import QAbstractButton, QLabel, QLineEdit, QPlainTextEdit

    page = wiz.currentPage()
    texts = [w.text() for kind in (QLabel, QLineEdit, QAbstractButton) for w in page.findChildren(kind)]
    texts += [w.toPlainText() for w in page.findChildren(QPlainTextEdit)]
    found = sorted({p for p in paths for t in texts if p in t})
    if found:
        print(f"WARNING: the {page.title()!r} page shows {', '.join(found)}", file=sys.stderr)


def _tools_action(win, title_start: str):
    menu = win.menus["Tools"]
    return next(a for a in menu.actions() if a.text().startswith(title_start))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dataset", help="dataset folder (images/, masks/, splits/train.txt, val.txt)")
    p.add_argument("--shots", default="docs/screenshots", help="folder for the two screenshots")
    p.add_argument("--work", help="folder to use as the home folder: user data, cache, settings "
                                  "(default: a new temporary folder, kept so the model can be "
                                  "evaluated)")
    p.add_argument("--name", default="kvasir-quick-check", help="name to register the model as")
    p.add_argument("--description", default="Quick check on CPU from the training wizard "
                                             "(3 epochs, 192 px, 200 training images)")
    a = p.parse_args()
    dataset = Path(a.dataset).resolve()
    for f in ("images", "masks", "splits/train.txt", "splits/val.txt"):
        if not (dataset / f).exists():
            p.error(f"{dataset} has no {f}")
    work = Path(a.work).resolve() if a.work else Path(tempfile.mkdtemp(prefix="pv-wizard-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    shots = Path(a.shots).resolve()
    real_dataset, dataset = dataset, _isolate(work, dataset)
    shots.mkdir(parents=True, exist_ok=True)

    from PySide6.QtWidgets import QApplication, QWizard

    from polypviewer.gui.app import create_window
    from polypviewer.gui.wizard.spec import display_command
    from polypviewer.paths import runs_dir, user_models_dir

    B = QWizard.WizardButton
    print(f"home folder (user data, cache and settings): {work}; dataset: {dataset}")
    print("load average (1, 5, 15 min) at the start: " +
          ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    win = create_window(None, "cpu")
    win.resize(1400, 900)
    win.show()
    _settle(0.5)

    # ---- Tools -> Train a model… --------------------------------------------------------
    t0 = time.monotonic()
    _tools_action(win, "Train a model").trigger()
    wiz = win.training_tools.wizard
    wiz.resize(*WINDOW)
    _settle(0.3)

    # Data: "Add folder…" with the dataset chosen in the folder dialog
    data = wiz.data_page
    data.add_dataset(dataset)
    _pump(lambda: not data.busy(), 600, "the dataset check")
    if not data.isComplete():
        raise SystemExit(f"the dataset check refused the data: {data.reason.text()}")
    print("data check:", data.summary.text().replace("\n", " | "))
    _click(wiz, B.NextButton)

    # Task and model: polyp segmentation (the default), ImageNet start
    mp = wiz.model_page
    mp.task_btn["polyp"].click()
    if mp.init_btn["imagenet"].isEnabled():
        mp.init_btn["imagenet"].click()
    _click(wiz, B.NextButton)

    # Split: the dataset's split files
    sp = wiz.split_page
    sp.btn["files"].click()
    sp.train_file.setCurrentText("train.txt")
    sp.val_file.setCurrentText("val.txt")
    assert sp.train_file.currentText() == "train.txt" and sp.val_file.currentText() == "val.txt"
    _click(wiz, B.NextButton)

    # Settings: the preset, a run name; "Start training" starts the child process
    st = wiz.settings_page
    st.preset.setCurrentText(PRESET)
    st.name.setText(a.name)
    st.description.setText(a.description)
    spec = wiz.spec()
    print(f"preset {PRESET!r}: {spec.epochs} epochs, {spec.size} px, batch {spec.batch_size}, "
          f"max {spec.max_train_images} training images, device {spec.device}")
    st.estimate_btn.click()  # the page's own estimate, to set against the real run below
    _pump(lambda: not st.busy(), what="the run-time estimate")
    estimate = st.last_estimate
    print(st.estimate_label.text())
    _click(wiz, B.CommitButton)
    run_started = time.monotonic()

    run = wiz.run_page
    proc, mon = run.proc, run.monitor
    if proc is None:
        raise SystemExit(f"the run did not start: {run.error.text()}")
    print(f"run folder: {proc.run_dir}")
    print("command:", display_command(proc.command, proc.args))

    # Run page mid-run: wait for two epochs of curves (or one if the run ends first)
    _pump(lambda: mon.curve_points("val_dice") >= 2 or not proc.running, what="curves")
    if proc.running or mon.curve_points("val_dice") >= 1:
        _settle(1.0)  # let the sample image and plots paint
        wiz.grab().save(str(shots / "wizard-run.png"))
        print(f"saved {shots / 'wizard-run.png'} ({mon.curve_points('val_dice')} epoch(s) plotted)")
        _check_no_paths(wiz, (str(work), str(real_dataset)))
    _pump(lambda: not proc.running, what="the end of the run")
    if proc.status != "finished":
        print("\n".join(proc.log_lines[-30:]), file=sys.stderr)
        raise SystemExit(f"the run {proc.status}: {proc.message}")
    _pump(run.isComplete, 10, "the Run page to complete")
    run_s = time.monotonic() - run_started
    if estimate is not None:
        summary = Path(proc.run_dir) / "summary.json"
        train_s = json.loads(summary.read_text())["train_time_s"] if summary.is_file() else None
        print(f"estimate {estimate.total_s:.0f} s; the run took {run_s:.0f} s from Start to the "
              f"end (training epochs {train_s if train_s is None else round(train_s)} s); "
              f"estimate / run = {estimate.total_s / run_s:.2f}")
    _click(wiz, B.NextButton)

    # Results: metrics and plots; "Compare with the current model"; screenshot; Register
    view = wiz.results_page.view
    view.name.setText(a.name)
    view.description.setText(a.description)
    _settle(0.5)
    t_cmp = time.monotonic()
    view.compare_btn.click()
    _pump(lambda: not view.busy(), 1800, "the comparison")
    compare_s = time.monotonic() - t_cmp
    print(f"comparison ({compare_s:.0f} s):", view.compare_label.text())
    if not view.pairs_widget.isVisible():
        raise SystemExit(f"no comparison shown: {view.compare_label.text()}")
    _settle(1.0)
    wiz.grab().save(str(shots / "wizard-results.png"))
    print(f"saved {shots / 'wizard-results.png'}")
    _check_no_paths(wiz, (str(work), str(real_dataset)))
    m = re.search(r"validation Dice</b>: ([0-9.]+)", view.metrics.text())
    val_dice = float(m.group(1)) if m else float("nan")
    asked = []
    # the page asks before registering a model clearly worse than the current one; a user who
    # wants the quick check registered answers yes
    view.confirm = lambda title, text: asked.append(text) or True
    view.register_btn.click()
    if asked:
        print("asked before registering:", asked[0])
    target = user_models_dir() / f"{a.name}.safetensors"
    _pump(lambda: target.with_suffix(".json").is_file() and target.is_file(), 120,
          "the registered model")
    elapsed = time.monotonic() - t0
    print(view.register_status.text())

    print()
    print(f"time from opening the wizard to the registered model: {elapsed:.0f} s "
          f"({elapsed / 60:.1f} min), of which {compare_s:.0f} s for the comparison")
    print(f"registered model: {target.with_suffix('.json')}")
    print(f"val Dice on the results page: {val_dice:.4f}")
    print(f"runs folder: {runs_dir()}")
    print(f"check it: uv run polypviewer evaluate {dataset} --split "
          f"{dataset / 'splits' / 'val.txt'} --model {target.with_suffix('.json')}")
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))

    wiz.close()
    win.training_tools.shutdown()
    win.close()
    QApplication.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
