"""Opening every kind of input, bad files, and a missing model: the window always lives on."""

from __future__ import annotations

import cv2
import numpy as np
from gui_helpers import SLOW, code_frame, decode_index, open_and_wait


def test_open_image_analyses_automatically(qtbot, make_window, tmp_path):
    path = tmp_path / "still.png"
    cv2.imwrite(str(path), cv2.cvtColor(code_frame(7), cv2.COLOR_RGB2BGR))
    win = open_and_wait(qtbot, make_window(), path, analysed=True)
    assert win.review.media.kind == "image" and win.review.n == 1
    assert decode_index(win.view.image_item.image) == 7
    assert win.view.badge_text().startswith(("Polyp", "No polyp"))
    assert not win.timeline.isVisible()
    assert "tiny" in win.model_label.text()


def test_open_folder_and_dataset(qtbot, make_window, image_folder, gui_dataset):
    win = open_and_wait(qtbot, make_window(), image_folder, frame=2, analysed=True)
    assert win.review.media.kind == "folder" and win.review.n == 3
    assert decode_index(win.view.frame) == 10  # frame2.png holds index 10
    assert win.view.layers["gt"].n_points == 0
    open_and_wait(qtbot, win, gui_dataset, analysed=True)
    assert win.review.media.kind == "dataset"
    qtbot.waitUntil(lambda: win.view.layers["gt"].n_points > 0, timeout=SLOW)  # GT outline drawn


def test_open_video_shows_exact_frame(qtbot, make_window, video):
    win = open_and_wait(qtbot, make_window(), video, frame=17)
    assert win.review.media.kind == "video" and win.review.n == 40
    assert decode_index(win.view.frame) == 17
    assert "frame 18 / 40" in win.transport.readout.text()
    assert not win.review.analysing()  # videos are analysed on request only
    qtbot.waitUntil(lambda: win.review.prediction is not None, timeout=SLOW)  # analysed live


def test_bad_file_shows_message_and_app_lives_on(qtbot, make_window, tmp_path, video):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    win = make_window()
    win.open_path(str(bad))
    qtbot.waitUntil(lambda: bool(win.last_error), timeout=SLOW)
    assert "broken.mp4" in win.last_error
    assert win.view.message.isVisible()
    win.open_path(str(tmp_path / "notes.txt"))
    (tmp_path / "notes.txt").write_text("x")
    qtbot.waitUntil(lambda: "notes.txt" in win.last_error, timeout=SLOW)
    open_and_wait(qtbot, win, video, frame=3)  # still works afterwards
    assert decode_index(win.view.frame) == 3


def test_no_model_installed_still_opens(qtbot, make_window, video, tmp_path, monkeypatch):
    from polypviewer.engine.models import registry

    monkeypatch.setattr(registry, "bundled_models_dir", lambda: tmp_path / "no-models")
    win = make_window(model=None, wait_model=False)
    qtbot.waitUntil(lambda: "No model installed" in win.last_error, timeout=SLOW)
    open_and_wait(qtbot, win, video, frame=5)
    assert decode_index(win.view.frame) == 5
    assert win.review.prediction is None and win.view.badge_text() == ""


def test_drop_opens_file(qtbot, make_window, video):
    from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    win = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(video))])
    event = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    win.dropEvent(event)
    qtbot.waitUntil(lambda: win.review.shown == 0, timeout=SLOW)
    assert np.array_equal(win.view.frame.shape, (96, 160, 3))


def test_analysis_size_setting(qtbot, make_window, video):
    """Choosing a faster analysis size reloads the model at that size and is remembered."""
    win = open_and_wait(qtbot, make_window(), video)
    assert win.review.predictor.config.input_size == 64  # the tiny model's own
    combo = win.controls.size
    i = combo.findData(192)
    old = win.review.predictor
    combo.setCurrentIndex(i)
    combo.activated.emit(i)
    qtbot.waitUntil(lambda: win.review.predictor is not old, timeout=SLOW)
    assert win.review.predictor.config.input_size == 192
    assert win.review.store is not None and win.review.store.size == 192
    assert "at 192 px" in win.model_label.text()
    win.save_settings()
    assert win.settings.get("analysis_size", 0, int) == 192
    again = make_window()
    assert again.controls.size.currentData() == 192
    assert again.review.predictor.config.input_size == 192


def test_test_time_views_follow_the_media_and_the_choice_is_remembered(qtbot, make_window,
                                                                       video, image_folder):
    """Auto: four flips for a folder of stills, one view for video; Off is kept for both."""
    win = open_and_wait(qtbot, make_window(), image_folder)
    assert win.controls.views.currentData() == "auto"
    qtbot.waitUntil(lambda: win.review.store is not None, timeout=SLOW)
    assert win.review.store.meta["preprocessing"]["tta"] == "flips"
    open_and_wait(qtbot, win, video)
    qtbot.waitUntil(lambda: win.review.store is not None, timeout=SLOW)
    assert win.review.store.meta["preprocessing"]["tta"] is False  # one view: the old key
    combo = win.controls.views
    i = combo.findData("off")
    old = win.review.predictor
    combo.setCurrentIndex(i)
    combo.activated.emit(i)
    qtbot.waitUntil(lambda: win.review.predictor is not old, timeout=SLOW)
    open_and_wait(qtbot, win, image_folder)
    qtbot.waitUntil(lambda: win.review.store is not None, timeout=SLOW)
    assert win.review.store.meta["preprocessing"]["tta"] is False
    win.save_settings()
    assert make_window().controls.views.currentData() == "off"


def test_folder_findings_are_per_image(qtbot, make_window, image_folder):
    """Stills are not tracked across files: each image's regions are listed with its name."""
    win = open_and_wait(qtbot, make_window(), image_folder, analysed=True)
    win.review.set_threshold(0.01)  # the tiny random model: make every image positive
    qtbot.waitUntil(lambda: win.findings.list.count() > 0, timeout=SLOW)
    store = win.review.store
    expected = sum(len(store.get(i, 0.01, win.review.min_area).instances) for i in range(3))
    qtbot.waitUntil(lambda: win.findings.list.count() == expected, timeout=SLOW)
    texts = [win.findings.list.item(i).text() for i in range(win.findings.list.count())]
    names = {p.stem for p in image_folder.iterdir()}
    assert all(any(n in t for n in names) for t in texts), (texts, names)
    assert all("frames" not in t for t in texts)


def test_current_model_for_the_tools(qtbot, make_window, tiny_model_path):
    """What the dataset review and the wizard are told the viewer runs (host.HostWindow)."""
    from polypviewer.engine.models.registry import DEFAULT_MODEL

    win = make_window()
    assert win.current_model() == str(tiny_model_path) and win.current_device() == "cpu"
    win.review.predictor, win.review.model_path = None, None  # nothing chosen yet
    assert win.current_model() == DEFAULT_MODEL
    win.review.model_path = "/models/mine.safetensors"
    assert win.current_model() == "/models/mine.safetensors"


def test_fast_profile_follows_the_model(qtbot, make_window, video, tiny_model_path, tmp_path):
    """The model's fast profile is offered, remembered as "fast", and a model without one
    then runs at its own size instead of failing to load."""
    import json
    import shutil

    folder = tmp_path / "fastmodel"
    folder.mkdir()
    weights = shutil.copy(tiny_model_path, folder / "tiny.safetensors")
    meta = json.loads(tiny_model_path.with_suffix(".json").read_text())
    meta["fast_size"] = 96
    (folder / "tiny.json").write_text(json.dumps(meta))
    win = open_and_wait(qtbot, make_window(weights), video)
    combo = win.controls.size
    i = combo.findData("fast")
    assert i == 1 and combo.itemText(i).startswith("Fast: 96 px")
    old = win.review.predictor
    combo.setCurrentIndex(i)
    combo.activated.emit(i)
    qtbot.waitUntil(lambda: win.review.predictor is not old, timeout=SLOW)
    assert win.review.predictor.config.input_size == 96
    assert "fast profile" in win.model_label.text()
    win.save_settings()
    assert win.settings.get("analysis_size", 0) == "fast"
    plain = make_window()  # the tiny model without a fast profile
    assert plain.review.input_size == "fast"
    assert plain.review.predictor.config.input_size == 64
    assert plain.controls.size.currentData() == 0
