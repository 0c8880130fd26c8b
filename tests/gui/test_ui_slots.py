"""No UI-thread slot makes the window wait: every delivered event is timed (slot_timer.py).

Each test drives one part of the app through its slow paths (opening, analysing, scrubbing,
re-analysing, switching source and model while work runs, closing) and then checks the
longest event the UI thread handled, rendering aside (Qt's software painting of the window,
reported, not limited). Run with ``-s`` to see the longest ones.
"""

from __future__ import annotations

import json
import statistics
import time
from contextlib import contextmanager

import pytest
from conftest import pv_threads
from gui_helpers import SLOW
from PySide6.QtCore import Qt
from slot_timer import on_ui, slot_timer
from synthetic import write_dataset
from wizard_helpers import StubMainWindow, fake_finished_run, tiny_settings

from polypviewer.paths import resources_dir

BASE_LIMIT_MS = 50.0


def plot_build_ms() -> float:
    """CPU time of the UI's heaviest legitimate event: building one plot into a layout.

    The median of five builds of a titled ``pg.PlotWidget`` with a legend and a grid, added to
    a layout, as the wizard's monitor and the findings panel build theirs.
    """
    import pyqtgraph as pg
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    from polypviewer.gui import memory
    from polypviewer.gui.app import make_app

    make_app()
    memory.freeze_libraries()  # as create_window does
    host = QWidget()
    layout = QVBoxLayout(host)
    host.resize(800, 600)  # not shown: a shown window would take the keys of the one tested
    times = []
    for _ in range(7):
        t = time.thread_time()
        plot = pg.PlotWidget(title="calibration")
        plot.addLegend()
        plot.showGrid(x=True, y=True, alpha=0.2)
        layout.addWidget(plot)
        times.append(1e3 * (time.thread_time() - t))
        plot.setParent(None)
        plot.deleteLater()
    host.deleteLater()
    return statistics.median(times[2:])  # the first builds pay one-time costs


def limit_ms(builds: list[float]) -> float:
    """50 ms, or two plot builds where that is more (a slower or busier CPU).

    Building widgets is UI work whose cost follows the CPU, and a shared machine's speed
    drifts within minutes, so the build is timed just before and just after the checked
    block and the slower one counts. Two builds leave room for the layout work that comes
    with a real plot; a slot that runs a model, reads a file or waits takes far longer.
    """
    return max(BASE_LIMIT_MS, 2.0 * max(builds))


DEMO = resources_dir() / "samples" / "demo.mp4"


def _print(slots) -> None:
    render = [s for s in slots if s.rendering]
    slots = [s for s in slots if not s.rendering]
    worst = f"{render[0].ms:.1f} ms" if render else "none over 2 ms"
    print(f"\nrendering: {len(render)} events over 2 ms, longest {worst}")
    print(f"slots: {len(slots)} events over 2 ms; longest (ms CPU + waiting / wall, receiver, event):")
    for s in slots[:6]:
        print(f"  {s.cpu_ms:6.1f} + {s.waited_ms:6.1f} / {s.wall_ms:7.1f}  {s.receiver}  {s.event}")
        if s.stack:
            print("    " + s.stack.replace("\n", "\n    "))


def _check(name: str, slots, limit: float) -> None:
    slow = [s for s in slots if s.ms > limit and not s.rendering]
    assert not slow, f"{name}: UI-thread events over {limit:.0f} ms:\n" + "\n".join(
        str(s) for s in slow[:5])


@contextmanager
def ui_events_checked(name: str):
    """Time every UI-thread event of the block; printed always, checked if the block passed."""
    builds = [plot_build_ms()]  # calibrated outside the timed block
    timer = slot_timer()
    timer.start()
    try:
        yield
    finally:
        slots = timer.stop()
        _print(slots)
    builds.append(plot_build_ms())
    limit = limit_ms(builds)
    print(f"UI-thread limit {limit:.0f} ms (plot builds before / after: "
          f"{builds[0]:.1f} / {builds[1]:.1f} ms)")
    _check(name, slots, limit)


@pytest.mark.skipif(not DEMO.is_file(), reason="the demo clip is not bundled in this checkout")
def test_review_never_blocks_the_ui_thread(qtbot, make_window, image_folder, tiny_model_path):
    win = make_window()
    r = win.review
    with ui_events_checked("review"):
        on_ui(qtbot, win.open_path, str(DEMO))
        qtbot.waitUntil(lambda: r.media is not None and r.shown == 0, timeout=SLOW)
        with qtbot.waitSignal(r.analysis_finished, timeout=SLOW) as done:
            qtbot.keyClick(win, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
        assert done.args == ["done"]
        qtbot.waitUntil(lambda: r.findings.track is not None, timeout=SLOW)
        for i in range(0, r.n, 23):  # scrub
            on_ui(qtbot, r.seek, i)
            qtbot.waitUntil(lambda i=i: r.shown == i, timeout=SLOW)
        for key in (Qt.Key.Key_Right, Qt.Key.Key_Right, Qt.Key.Key_Left, Qt.Key.Key_End):
            qtbot.keyClick(win, key)
        qtbot.waitUntil(lambda: r.shown == r.n - 1, timeout=SLOW)
        on_ui(qtbot, win.controls.threshold.setValue, 30)
        qtbot.keyClick(win, Qt.Key.Key_G)  # Grad-CAM in its worker
        qtbot.waitUntil(lambda: win.view.layers["gradcam"].has_data, timeout=SLOW)
        on_ui(qtbot, win.feature_dock.show)
        on_ui(qtbot, win.feature_dock.raise_)
        qtbot.waitUntil(lambda: bool(win.features.shown_stages), timeout=SLOW)
        qtbot.keyClick(win, Qt.Key.Key_Space)  # play, then pause
        qtbot.wait(300)
        qtbot.keyClick(win, Qt.Key.Key_Space)
        with qtbot.waitSignal(r.analysis_started, timeout=SLOW):
            on_ui(qtbot, r.reanalyse)  # deletes the cache, analyses again
        qtbot.waitUntil(lambda: r.store is not None and len(r.store) > 0, timeout=SLOW)
        on_ui(qtbot, win.open_path, str(image_folder))  # while the analysis runs
        qtbot.waitUntil(lambda: r.media is not None and r.media.kind == "folder", timeout=SLOW)
        on_ui(qtbot, r.load_model, str(tiny_model_path), "cpu")  # twice quickly: the last wins
        on_ui(qtbot, r.load_model, str(tiny_model_path), "cpu", 96)
        qtbot.waitUntil(lambda: r.predictor is not None and r.predictor.config.input_size == 96
                        and r.store is not None and r.store.complete, timeout=SLOW)
        on_ui(qtbot, win.close)
        qtbot.waitUntil(lambda: not pv_threads(), timeout=SLOW)


def test_dataset_review_never_blocks_the_ui_thread(qtbot, tmp_path, tiny_model_path):
    from polypviewer.gui.annotate import AnnotateWorkspace

    root = write_dataset(tmp_path / "ds", n=12)
    ws = AnnotateWorkspace(model=str(tiny_model_path), device="cpu")
    qtbot.addWidget(ws)
    ws.resize(1200, 800)
    ws.show()
    with ui_events_checked("dataset review"):
        on_ui(qtbot, ws.open_dataset, root)
        qtbot.waitUntil(lambda: not ws.busy and ws.table_model.rowCount() == 12, timeout=SLOW)
        on_ui(qtbot, ws.table.setFocus)
        on_ui(qtbot, ws.table.selectRow, 0)
        for k in range(1, 12):  # walk the images with the keyboard
            qtbot.keyClick(ws.table, Qt.Key.Key_Down)
            qtbot.waitUntil(lambda k=k: ws.frame is not None
                            and ws.current_index == ws.visible_indices()[k], timeout=SLOW)
        on_ui(qtbot, ws.tabs.setCurrentWidget, ws.summary)
        qtbot.waitUntil(lambda: ws.summary.sweep_result is not None, timeout=SLOW)
        on_ui(qtbot, ws.use_threshold, 0.3)
        qtbot.waitUntil(lambda: not ws.busy, timeout=SLOW)
        on_ui(qtbot, ws.open_dataset, root)  # again, from the cache
        qtbot.waitUntil(lambda: not ws.busy and ws.table_model.rowCount() == 12, timeout=SLOW)
        on_ui(qtbot, ws.close)
        qtbot.waitUntil(lambda: not pv_threads(), timeout=SLOW)


def _old_runs(root, n: int) -> None:
    """Cancelled runs with long event logs (a few thousand epochs' events each)."""
    events = "".join(json.dumps({"kind": "epoch", "data": {"epoch": e, "val_dice": 0.5}}) + "\n"
                     for e in range(5000)) + json.dumps({"kind": "cancelled", "data": {}}) + "\n"
    for i in range(n):
        run = root / f"20240101-0000{i:02d}-old"
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"datasets": ["ds"], "epochs": 5000}))
        (run / "events.jsonl").write_text(events)


def test_wizard_never_blocks_the_ui_thread(qtbot, tmp_path):
    from polypviewer.gui.wizard import install

    dataset = write_dataset(tmp_path / "ds", n=6)
    mw = StubMainWindow()
    tools = install(mw)
    tools._runs_root = tmp_path / "runs"
    run = fake_finished_run(tools.runs_root(), dataset)
    _old_runs(tools.runs_root(), 40)  # history: the panel must not re-read it in a slot
    # the first "Train a model…" imports the pages and the weight packages on the UI thread
    # (about 0.1 s with a warm disk cache): measured here is what the wizard does after that
    import polypviewer.gui.wizard.wizard  # noqa: F401
    from polypviewer.engine.models.pretrained import available_pretrained

    available_pretrained()
    with ui_events_checked("wizard"):
        qtbot.addWidget(tools.panel)
        on_ui(qtbot, tools.panel.show)
        wiz = on_ui(qtbot, tools.open_wizard)
        on_ui(qtbot, wiz.data_page.add_dataset, dataset)
        qtbot.waitUntil(wiz.data_page.isComplete, timeout=SLOW)
        for _page in ("task and model", "split", "settings"):
            qtbot.mouseClick(wiz.button(wiz.WizardButton.NextButton), Qt.MouseButton.LeftButton)
        on_ui(qtbot, tiny_settings, wiz)
        qtbot.waitUntil(lambda: not wiz.busy(), timeout=SLOW)
        qtbot.mouseClick(tools.panel.buttons["refresh"], Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: tools.panel.status_of(run) == "finished", timeout=SLOW)
        on_ui(qtbot, tools.panel.select, run)
        qtbot.mouseClick(tools.panel.buttons["show"], Qt.MouseButton.LeftButton)
        view = tools.panel.windows[-1].view
        qtbot.waitUntil(lambda: not view.busy(), timeout=SLOW)
        on_ui(qtbot, view.name.setText, "slot-test")
        qtbot.mouseClick(view.register_btn, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "Registered" in view.register_status.text(), timeout=SLOW)
        on_ui(qtbot, tools.panel.windows[-1].close)
        on_ui(qtbot, wiz.close)
        on_ui(qtbot, tools.shutdown)
