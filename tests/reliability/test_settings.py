"""App settings: a bad value falls back to its default with a log line, old files are migrated,
and a model's threshold has one home (the user's model settings) for the GUI and the CLI."""

from __future__ import annotations

import gc
import logging
import threading

import pytest

from polypviewer.engine.models import model_settings
from polypviewer.engine.runtime.inference import Predictor
from polypviewer.paths import user_config_dir

pytest.importorskip("PySide6")

from polypviewer.gui import settings as gui_settings  # noqa: E402
from polypviewer.gui.settings import SCHEMA_VERSION, Settings  # noqa: E402

WAIT_MS = 120_000  # waits end as soon as the condition holds


def _ini(**values) -> None:
    """Write the settings file as an older version (or a hand edit) would have left it."""
    folder = user_config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["[General]"] + [f"{k}={v}" for k, v in values.items() if "/" not in k]
    groups: dict[str, list[str]] = {}
    for k, v in values.items():
        if "/" in k:
            group, key = k.split("/", 1)
            groups.setdefault(group, []).append(f"{key}={v}")
    for group, items in groups.items():
        lines += [f"[{group}]", *items]
    (folder / "polypviewer.ini").write_text("\n".join(lines) + "\n")


# ----------------------------------------------------------------- validation
BAD_VALUES = [
    ("analysis_size", "999999", 0),
    ("analysis_size", "100", 0),
    ("analysis_size", "big", 0),
    ("test_time_views", "rot90", "auto"),
    ("device", "banana", "auto"),
    ("min_area", "-3", 0.002),
    ("min_area", "nan", 0.002),
    ("overlay/mask_opacity", "7", 0.5),
]


@pytest.mark.parametrize(("key", "raw", "default"), BAD_VALUES, ids=[f"{k}={r}" for k, r, _ in BAD_VALUES])
def test_out_of_range_value_falls_back_with_a_log_line(key, raw, default, caplog):
    _ini(**{key: raw})
    s = Settings()
    type_ = type(default)
    with caplog.at_level(logging.WARNING, logger=gui_settings.__name__):
        assert s.get(key, default, type_) == default
    assert any(key in r.getMessage() and "polypviewer.ini" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("key", "raw", "expected"), [
    ("analysis_size", "320", 320), ("analysis_size", "0", 0), ("analysis_size", "fast", "fast"),
    ("test_time_views", "off", "off"), ("test_time_views", "Flips", "flips"),
    ("device", "cuda:1", "cuda:1"),
    ("min_area", "0.01", 0.01), ("overlay/mask_opacity", "0.25", 0.25)])
def test_valid_values_are_kept(key, raw, expected, caplog):
    _ini(**{key: raw})
    with caplog.at_level(logging.WARNING, logger=gui_settings.__name__):
        assert Settings().get(key, None, type(expected)) == expected
    assert not caplog.records


# ----------------------------------------------------------------- migrations
def test_fresh_settings_get_the_current_schema_version():
    s = Settings()
    assert s.get("schema_version", 0, int) == SCHEMA_VERSION


def test_old_threshold_keys_move_into_model_settings():
    _ini(**{"device": "cpu", "threshold/tiny": "0.41", "threshold/other model": "0.2",
            "threshold/broken": "abc"})
    s = Settings()
    assert model_settings.load_settings("tiny")["threshold"] == 0.41
    assert model_settings.load_settings("other model")["threshold"] == 0.2
    assert "threshold" not in model_settings.load_settings("broken")
    assert not [k for k in s.q.allKeys() if k.startswith("threshold/")]
    assert s.get("device", "auto", str) == "cpu"  # untouched
    assert s.get("schema_version", 0, int) == SCHEMA_VERSION
    # running again changes nothing
    model_settings.save_threshold("tiny", 0.33)
    Settings()
    assert model_settings.load_settings("tiny")["threshold"] == 0.33


def test_migration_keeps_the_explicitly_saved_threshold():
    """The INI value was written on every close; "Use this threshold" was the user's choice."""
    model_settings.save_threshold("tiny", 0.3)
    _ini(**{"threshold/tiny": "0.5"})
    Settings()
    assert model_settings.load_settings("tiny")["threshold"] == 0.3


def test_failed_migration_is_retried_next_start(caplog):
    _ini(**{"threshold/tiny": "0.41"})
    folder = model_settings.settings_path("tiny").parent
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("a file where the folder should be")  # the save fails like a full disk
    with caplog.at_level(logging.WARNING, logger=gui_settings.__name__):
        s = Settings()
    assert s.get("schema_version", 0, int) == 0
    assert any("retried next start" in r.getMessage() for r in caplog.records)
    folder.unlink()
    Settings()
    assert model_settings.load_settings("tiny")["threshold"] == 0.41


def test_newer_schema_is_left_alone(caplog):
    _ini(schema_version=str(SCHEMA_VERSION + 5), **{"threshold/tiny": "0.41"})
    with caplog.at_level(logging.WARNING, logger=gui_settings.__name__):
        s = Settings()
    assert s.get("schema_version", 0, int) == SCHEMA_VERSION + 5
    assert "threshold" not in model_settings.load_settings("tiny")


# ----------------------------------------------------------------- one threshold, everywhere
def test_predictor_resolves_the_users_threshold(tiny_model_path):
    assert Predictor(tiny_model_path, device="cpu").threshold == 0.5  # the file's own
    model_settings.save_threshold("tiny", 0.3)
    assert Predictor(tiny_model_path, device="cpu").threshold == 0.3
    assert Predictor(tiny_model_path, device="cpu", threshold=0.7).threshold == 0.7  # explicit wins


def test_cli_uses_the_users_threshold(tiny_model_path, tmp_path, capsys):
    import cv2
    import numpy as np
    from synthetic import synthetic_frame

    from polypviewer.cli.main import main

    model_settings.save_threshold("tiny", 0.3)
    img, _ = synthetic_frame(np.random.default_rng(0))
    cv2.imwrite(str(tmp_path / "f.png"), img)
    assert main(["predict", str(tmp_path / "f.png"), "--out", str(tmp_path / "out"),
                 "--model", str(tiny_model_path), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "threshold 0.30 (your setting)" in captured.out + captured.err


@pytest.fixture
def window(qtbot, tiny_model_path):
    """Open the main window on the tiny model and wait for it; ``window()`` again = a restart."""
    from polypviewer.gui.app import create_window

    wins = []

    def make():
        win = create_window(str(tiny_model_path), "cpu")
        wins.append(win)
        win.show()
        qtbot.waitUntil(lambda: win.review.predictor is not None, timeout=WAIT_MS)
        return win

    yield make
    for win in wins:
        win.close()
        win.deleteLater()
    from PySide6.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    gc.collect()
    assert not [t for t in threading.enumerate() if t.name.startswith("pv-") and t.is_alive()]


def test_restart_shows_the_threshold_saved_in_the_dataset_review(window):
    """The reported bug: "Use this threshold" saved 0.3, the viewer came back at 0.5."""
    first = window()
    assert first.review.threshold == 0.5
    model_settings.save_threshold("tiny", 0.3)  # what the dataset review's button does
    first.close()
    again = window()
    assert again.review.threshold == pytest.approx(0.3)
    assert again.controls.threshold.value() / 100 == pytest.approx(0.3)


def test_viewer_threshold_is_saved_through_model_settings(window, tiny_model_path):
    win = window()
    win.controls.threshold.setValue(62)  # the user moves the slider
    win.close()
    assert model_settings.load_settings("tiny")["threshold"] == pytest.approx(0.62)
    assert not [k for k in Settings().q.allKeys() if k.startswith("threshold")]
    assert Predictor(tiny_model_path, device="cpu").threshold == pytest.approx(0.62)  # the CLI too
    assert window().review.threshold == pytest.approx(0.62)


def test_bad_analysis_size_in_settings_still_loads_the_model(window):
    _ini(analysis_size="999999")
    win = window()
    assert win.review.input_size == 0 and win.review.predictor.config.input_size == 64
