"""Every export writes its file; the screenshot mode saves a picture and exits 0."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import pytest
from gui_helpers import SLOW, open_and_wait


@pytest.fixture
def analysed(qtbot, make_window, image_folder):
    return open_and_wait(qtbot, make_window(), image_folder, frame=1, analysed=True)


def test_export_current_frame_png(analysed, tmp_path):
    out = analysed.exporter.export_frame(str(tmp_path / "frame.png"))
    img = cv2.imread(out)
    assert img.shape[:2] == analysed.view.frame.shape[:2]


@pytest.mark.parametrize("kind, expected", [("masks", "masks"), ("table", "predictions.csv"),
                                            ("coco", "coco.json"), ("mp4", "annotated.mp4"),
                                            ("report", "report.html")])
def test_whole_source_exports(qtbot, analysed, tmp_path, kind, expected):
    out = tmp_path / kind
    with qtbot.waitSignal(analysed.exporter.finished, timeout=SLOW) as blocker:
        analysed.exporter.export(kind, str(out))
    assert blocker.args == [str(out)]
    assert (out / expected).exists()
    if kind == "masks":
        assert len(list((out / "masks").glob("*.png"))) == 3
    if kind == "table":
        assert (out / "predictions.json").exists()


def test_screenshot_mode(qtbot, tiny_model_path, video, tmp_path):
    from polypviewer.gui.app import run_app

    out = tmp_path / "shot.png"
    args = SimpleNamespace(frame=6, screenshot=str(out), model=str(tiny_model_path), device="cpu")
    assert run_app([str(video)], args) == 0
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > 300 and img.shape[1] > 600
