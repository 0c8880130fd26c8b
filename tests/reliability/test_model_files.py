"""Bad model files: each is refused with one line naming the file and the field, and never
stops the other models (registry, ``polypviewer models``, ``predict``) from working."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from synthetic import TINY, synthetic_frame

from polypviewer.cli.main import main
from polypviewer.engine.errors import ModelFileError
from polypviewer.engine.models import registry
from polypviewer.engine.models.factory import create_model
from polypviewer.engine.models.modelfile import load_model, read_metadata, save_model
from polypviewer.engine.models.registry import list_models, resolve_model
from polypviewer.paths import user_models_dir


def _install(src: Path, folder: Path, stem: str, **changes) -> Path:
    """Copy the tiny model into ``folder`` as ``stem`` with top-level/config metadata changes."""
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in (".safetensors", ".json"):
        shutil.copy(src.with_suffix(suffix), folder / f"{stem}{suffix}")
    j = folder / f"{stem}.json"
    meta = json.loads(j.read_text())
    meta["name"] = stem
    for key, value in changes.items():
        if key.startswith("config."):
            meta["config"][key.removeprefix("config.")] = value
        elif value is _DROP:
            meta.pop(key)
        else:
            meta[key] = value
    j.write_text(json.dumps(meta))
    return folder / f"{stem}.safetensors"


_DROP = object()

# (metadata change, field named in the message)
BAD_METADATA = [
    ({"format_version": "1"}, "format_version"),
    ({"name": 12345}, "name"),
    ({"name": ""}, "name"),
    ({"threshold": "abc"}, "threshold"),
    ({"threshold": 1e308}, "threshold"),
    ({"threshold": 0}, "threshold"),
    ({"config": "Unet"}, "config"),
    ({"config.mean": [0.5, 0.5]}, "config.mean"),
    ({"config.mean": [0.5, "x", 0.5]}, "config.mean"),
    ({"config.std": [0.0, 0.0, 0.0]}, "config.std"),
    ({"config.input_size": "256"}, "config.input_size"),
    ({"config.input_size": -5}, "config.input_size"),
    ({"config.input_size": 1e9}, "config.input_size"),
    ({"config.input_size": 100}, "config.input_size"),
    ({"config.decoder_channels": [10_000_000, 16, 8, 8, 8]}, "config.decoder_channels"),
    ({"config.decoder_channels": "16"}, "config.decoder_channels"),
    ({"config.classification_head": "yes"}, "config.classification_head"),
    ({"config.arch": "Banana"}, "config.arch"),
    ({"config.class_names": "polyp"}, "config.class_names"),
    ({"config.wings": 2}, "config.wings"),
    ({"weights_sha256": "abc"}, "weights_sha256"),
]


@pytest.mark.parametrize(("change", "field"), BAD_METADATA, ids=[f for _, f in BAD_METADATA])
def test_bad_metadata_names_file_and_field(tiny_model_path, tmp_path, change, field):
    path = _install(tiny_model_path, tmp_path, "bad", **change)
    for fn in (read_metadata, load_model):
        with pytest.raises(ModelFileError) as err:
            fn(path)
        msg = str(err.value)
        assert "bad.json" in msg and f"'{field}'" in msg, msg


def test_missing_sha256_is_reported_as_missing(tiny_model_path, tmp_path):
    path = _install(tiny_model_path, tmp_path, "nosha", weights_sha256=_DROP)
    with pytest.raises(ModelFileError, match=r"nosha\.json.*'weights_sha256' is missing") as err:
        load_model(path)
    assert "differs" not in str(err.value)


def test_newer_format_still_says_newer(tiny_model_path, tmp_path):
    path = _install(tiny_model_path, tmp_path, "future", format_version=99)
    with pytest.raises(ModelFileError, match="needs a newer PolypViewer"):
        read_metadata(path)


def _save_with(tmp_path: Path, fill: float) -> Path:
    torch.manual_seed(0)
    model = create_model(TINY).eval()
    with torch.no_grad():
        next(model.decoder.parameters()).view(-1)[3] = fill
    return save_model(tmp_path / "nan", model, TINY, threshold=0.5, name="nan")


@pytest.mark.parametrize("fill", [math.nan, math.inf])
def test_non_finite_weights_refused(tmp_path, fill):
    path = _save_with(tmp_path, fill)  # the sha256 matches: only the values are wrong
    with pytest.raises(ModelFileError, match=r"nan\.safetensors.*decoder\..*NaN or infinite"):
        load_model(path)


def test_valid_metadata_round_trips_unchanged(tiny_model_path):
    meta = read_metadata(tiny_model_path)
    assert meta == json.loads(tiny_model_path.with_suffix(".json").read_text())
    assert load_model(tiny_model_path).threshold == meta["threshold"]


# ----------------------------------------------------------------- one bad file, the rest works
@pytest.fixture
def mixed_user_folder(tiny_model_path, tmp_path, monkeypatch):
    """A good user model beside two malformed ones; the bundled folder is the real one."""
    folder = user_models_dir()
    good = _install(tiny_model_path, folder, "good")
    _install(tiny_model_path, folder, "strver", format_version="1")
    _install(tiny_model_path, folder, "intname", name=12345)
    (folder / "notes.json").write_text(json.dumps({"theme": "dark"}))  # foreign: ignored
    return good


def test_registry_lists_bad_files_as_unusable(mixed_user_folder):
    usable = [e for e in list_models() if e.source == "user"]
    assert [e.name for e in usable] == ["good"]
    bad = {e.path.stem: e.problem for e in list_models(include_unusable=True) if e.problem}
    assert set(bad) == {"intname", "strver"}
    assert "strver.json" in bad["strver"] and "'format_version'" in bad["strver"]
    assert "intname.json" in bad["intname"] and "'name'" in bad["intname"]
    # the default model and other names still resolve
    assert resolve_model(None).stem == registry.DEFAULT_MODEL
    assert resolve_model("good") == mixed_user_folder
    with pytest.raises(ModelFileError, match=r"strver\.json.*'format_version'"):
        resolve_model("strver")


def test_models_command_lists_unusable(mixed_user_folder, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("good") for line in out.splitlines())
    assert "strver.json" in out and "intname.json" in out and "unusable" in out
    assert main(["models", "--json"]) == 0
    rows = {Path(r["path"]).stem: r for r in json.loads(capsys.readouterr().out)}
    assert rows["good"]["problem"] is None
    assert "'format_version'" in rows["strver"]["problem"]


def test_predict_works_beside_bad_files(mixed_user_folder, tmp_path):
    img, _ = synthetic_frame(np.random.default_rng(0))
    cv2.imwrite(str(tmp_path / "frame.png"), img)
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "frame.png"), "--out", str(out), "--model", "good",
                 "--device", "cpu"]) == 0
    assert (out / "predictions.csv").read_text().count("\n") == 2  # header + one frame

