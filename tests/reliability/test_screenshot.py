"""``gui --screenshot`` tells the truth: a path it cannot write, a full disk or no model → one
line and a non-zero exit, checked before the window opens where the path alone decides."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from synthetic import synthetic_frame

from polypviewer.cli.main import main
from polypviewer.engine.errors import PolypViewerError


@pytest.fixture
def image(tmp_path) -> Path:
    img, _ = synthetic_frame(np.random.default_rng(0))
    path = tmp_path / "frame.png"
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path


def _one_error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


def test_screenshot_under_a_file_is_refused_before_the_window_opens(image, tmp_path, capsys,
                                                                    monkeypatch):
    from polypviewer.gui import app

    monkeypatch.setattr(app, "create_window", lambda *a: pytest.fail("the window was opened"))
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    assert main(["gui", str(image), "--screenshot", str(blocker / "shot.png")]) == 1
    assert f"{blocker} is a file, not a folder" in _one_error_line(capsys)


def test_screenshot_of_an_unknown_format_is_refused(image, tmp_path, capsys, monkeypatch):
    from polypviewer.gui import app

    monkeypatch.setattr(app, "create_window", lambda *a: pytest.fail("the window was opened"))
    assert main(["gui", str(image), "--screenshot", str(tmp_path / "shot.xyz")]) == 1
    line = _one_error_line(capsys)
    assert "shot.xyz" in line and ".png" in line
    assert not (tmp_path / "shot.xyz").exists()


def test_screenshot_on_a_full_disk_fails_and_leaves_no_empty_file(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QLabel

    from polypviewer.gui.app import save_screenshot

    widget = QLabel("polyp")
    qtbot.addWidget(widget)
    widget.resize(64, 32)
    real = Path.write_bytes

    def full(self, data):
        real(self, b"")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    out = tmp_path / "shot.png"
    with pytest.raises(PolypViewerError, match="No space left") as e:
        save_screenshot(widget, out)
    assert str(out) in str(e.value)
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary
    monkeypatch.setattr(Path, "write_bytes", real)
    save_screenshot(widget, out)
    assert cv2.imread(str(out)).shape[:2] == (32, 64)


def test_screenshot_without_a_model_exits_non_zero(image, tmp_path):
    out = tmp_path / "shot.png"
    missing = tmp_path / "gone.safetensors"
    cmd = [sys.executable, "-m", "polypviewer", "gui", str(image), "--screenshot", str(out),
           "--model", str(missing), "--device", "cpu"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert res.returncode == 1
    # the last line says why (Qt's own warnings and the worker's log may come before it)
    said = [line for line in res.stderr.splitlines() if line.startswith("screenshot:")]
    assert len(said) == 1 and "no model" in said[0].lower(), res.stderr[-2000:]
    assert res.stderr.strip().splitlines()[-1] == said[0]
    assert "screenshot saved" not in res.stdout
    assert cv2.imread(str(out)) is not None  # the picture of the model-less window is kept
