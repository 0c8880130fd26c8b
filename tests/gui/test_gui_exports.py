"""Every export writes its file; the screenshot mode saves a picture and exits 0."""

from __future__ import annotations

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


@pytest.mark.parametrize("kind, expected", [("masks", "masks"), ("overlays", "overlays")])
def test_folder_exports(qtbot, analysed, tmp_path, kind, expected):
    out = tmp_path / kind
    with qtbot.waitSignal(analysed.exporter.finished, timeout=SLOW) as blocker:
        analysed.exporter.export(kind, str(out))
    assert blocker.args == [str(out)]
    assert len(list((out / expected).glob("*.png"))) == 3


@pytest.mark.parametrize("kind, name", [("table", "t.csv"), ("json", "r.json"), ("coco", "c.json"),
                                        ("mp4", "v.mp4"), ("report", "r.html"), ("report", "r.pdf")])
def test_one_file_exports(qtbot, analysed, tmp_path, kind, name):
    out = tmp_path / name
    with qtbot.waitSignal(analysed.exporter.finished, timeout=SLOW) as blocker:
        analysed.exporter.export(kind, str(out))
    assert blocker.args == [str(out)]
    assert [p.name for p in tmp_path.iterdir()] == [name] and out.stat().st_size > 0


def test_the_report_of_stills_names_the_four_flips_they_were_analysed_with(qtbot, analysed,
                                                                           tmp_path):
    out = tmp_path / "r.html"
    with qtbot.waitSignal(analysed.exporter.finished, timeout=SLOW):
        analysed.exporter.export("report", str(out))
    assert "Test-time views</th><td>4 views (flipped both ways)" in out.read_text()


@pytest.mark.timeout(600)  # a child process importing torch: a minute on a busy machine
def test_screenshot_mode(qtbot, tiny_model_path, video, tmp_path):
    # a child process, as the CLI runs it: screenshot mode quits its QApplication at the end
    import os
    import subprocess
    import sys

    out = tmp_path / "shot.png"
    cmd = [sys.executable, "-m", "polypviewer", "gui", str(video), "--frame", "6",
           "--screenshot", str(out), "--model", str(tiny_model_path), "--device", "cpu"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert res.returncode == 0, res.stderr[-2000:]
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > 300 and img.shape[1] > 600
