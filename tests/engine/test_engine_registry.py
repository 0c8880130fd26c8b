"""Registry: models are found by path or by name in the user folder; bad JSON is skipped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from polypviewer import paths
from polypviewer.engine.errors import ModelFileError
from polypviewer.engine.models import registry
from polypviewer.engine.models.registry import list_models, resolve_model


@pytest.fixture
def user_model(tiny_model_path) -> Path:
    """The tiny model installed in the (per-test) user models folder as 'my-model'."""
    folder = paths.user_models_dir()
    folder.mkdir(parents=True)
    for suffix in (".safetensors", ".json"):
        shutil.copy(tiny_model_path.with_suffix(suffix), folder / f"my-model{suffix}")
    j = folder / "my-model.json"
    meta = json.loads(j.read_text())
    meta["name"] = "Friendly name"
    j.write_text(json.dumps(meta))
    return folder / "my-model.safetensors"


@pytest.fixture
def no_bundled(tmp_path, monkeypatch):
    """Hide the repo's bundled models so results depend on this test only."""
    monkeypatch.setattr(registry, "bundled_models_dir", lambda: tmp_path / "no-bundled")


def test_user_dir_is_isolated():
    assert "userdirs" in str(paths.user_models_dir())


def test_default_model_name_when_none(no_bundled):
    with pytest.raises(ModelFileError, match=f"no model named '{registry.DEFAULT_MODEL}'"):
        resolve_model(None)


def test_resolve_by_path(tiny_model_path):
    assert resolve_model(tiny_model_path) == tiny_model_path
    assert resolve_model(tiny_model_path.with_suffix(".json")) == tiny_model_path
    assert resolve_model(str(tiny_model_path)) == tiny_model_path


def test_resolve_run_folder(tiny_model_path, tmp_path):
    run = tmp_path / "run1"
    run.mkdir()
    for suffix in (".safetensors", ".json"):
        shutil.copy(tiny_model_path.with_suffix(suffix), run / f"model{suffix}")
    assert resolve_model(run) == run / "model.safetensors"


def test_missing_path_raises(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        resolve_model(tmp_path / "gone.safetensors")


def test_resolve_by_name_and_stem(user_model, no_bundled):
    assert resolve_model("Friendly name") == user_model
    assert resolve_model("my-model") == user_model


def test_unknown_name_lists_available(user_model, no_bundled):
    with pytest.raises(ModelFileError, match=r"no model named 'nope' \(available: Friendly name\)"):
        resolve_model("nope")


def test_unknown_name_with_nothing_installed(no_bundled):
    with pytest.raises(ModelFileError, match="none installed"):
        resolve_model("nope")


def test_list_models_skips_foreign_json(user_model, no_bundled):
    folder = user_model.parent
    (folder / "settings.json").write_text(json.dumps({"theme": "dark"}))
    (folder / "broken.json").write_text("{")
    entries = list_models()
    assert [(e.name, e.source) for e in entries] == [("Friendly name", "user")]
    assert entries[0].path == user_model
    assert entries[0].metadata["format"] == "polypviewer-model"


def test_bundled_listed_before_user(user_model, tmp_path, monkeypatch, tiny_model_path):
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    for suffix in (".safetensors", ".json"):
        shutil.copy(tiny_model_path.with_suffix(suffix), bundled / f"b{suffix}")
    monkeypatch.setattr(registry, "bundled_models_dir", lambda: bundled)
    assert [e.source for e in list_models()] == ["bundled", "user"]
    assert resolve_model("tiny") == bundled / "b.safetensors"
