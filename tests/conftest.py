"""Shared fixtures: small synthetic images, datasets and a tiny model; never real data."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from synthetic import TINY, synthetic_frame, write_dataset  # noqa: E402,F401

from polypviewer.engine.models.factory import create_model  # noqa: E402
from polypviewer.engine.models.modelfile import save_model  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Tests never touch the real user folders."""
    base = tmp_path_factory.mktemp("userdirs")
    for kind in ("DATA", "CACHE", "CONFIG"):
        monkeypatch.setenv(f"POLYPVIEWER_{kind}_DIR", str(base / kind.lower()))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def dataset(tmp_path) -> Path:
    return write_dataset(tmp_path / "ds")


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """A tiny (random-weight) model saved in the real model-file format."""
    torch.manual_seed(0)
    model = create_model(TINY, pretrained=False).eval()
    return save_model(tmp_path_factory.mktemp("models") / "tiny", model, TINY, threshold=0.5,
                      name="tiny")


@pytest.fixture
def refuses(tiny_model_path, tmp_path):
    """``refuses(key, value)``: the tiny model's metadata with ``key`` set to ``value`` is
    refused by the schema with a message naming the field."""
    from polypviewer.engine.errors import ModelFileError
    from polypviewer.engine.models.schema import validate_metadata

    def check(key: str, value) -> None:
        meta = json.loads(tiny_model_path.with_suffix(".json").read_text())
        meta[key] = value
        with pytest.raises(ModelFileError, match=key):
            validate_metadata(meta, tmp_path / "m.json")
    return check


@pytest.fixture(scope="session")
def qapp_cls():
    """pytest-qt's QApplication for every test folder, timing each event the UI thread delivers
    (tests/gui/test_ui_slots.py): one class, whichever test makes the process's application."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "gui"))
    from slot_timer import TimedApplication

    return TimedApplication
