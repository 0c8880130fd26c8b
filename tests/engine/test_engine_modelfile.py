"""Model files: exact round trip, and every kind of bad file is refused with ModelFileError."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch
from synthetic import TINY

from polypviewer.engine.errors import ModelFileError
from polypviewer.engine.models import modelfile
from polypviewer.engine.models.factory import create_model
from polypviewer.engine.models.modelfile import load_model, read_metadata, save_model


@pytest.fixture
def model_copy(tiny_model_path, tmp_path) -> Path:
    """A private copy of the tiny model that a test may damage."""
    for suffix in (".safetensors", ".json"):
        shutil.copy(tiny_model_path.with_suffix(suffix), tmp_path / f"m{suffix}")
    return tmp_path / "m.safetensors"


def test_round_trip_identical_outputs(tmp_path):
    torch.manual_seed(3)
    model = create_model(TINY).eval()
    with torch.no_grad():  # make BN stats non-default so they must be saved too
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
    path = save_model(tmp_path / "rt", model, TINY, threshold=0.37, name="round", description="d")
    assert path == tmp_path / "rt.safetensors" and path.with_suffix(".json").is_file()
    lm = load_model(path)
    assert lm.config == TINY and lm.threshold == pytest.approx(0.37) and lm.name == "round"
    assert not lm.model.training
    x = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        a, b = model(x), lm.model(x)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    # the JSON path and the stem load the same model
    assert load_model(tmp_path / "rt.json").name == "round"
    assert load_model(tmp_path / "rt").name == "round"


def test_metadata_contents(tiny_model_path):
    meta = read_metadata(tiny_model_path)
    assert meta["format"] == modelfile.FORMAT
    assert meta["weights_file"] == tiny_model_path.name
    assert len(meta["weights_sha256"]) == 64
    assert meta["n_parameters"] > 0


def test_tampered_weights_refused(model_copy):
    data = bytearray(model_copy.read_bytes())
    data[-5] ^= 0xFF
    model_copy.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="sha256"):
        load_model(model_copy)


def test_json_not_ours(model_copy):
    model_copy.with_suffix(".json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ModelFileError, match="not a PolypViewer model"):
        load_model(model_copy)
    model_copy.with_suffix(".json").write_text(json.dumps([1, 2, 3]))
    with pytest.raises(ModelFileError, match="not a PolypViewer model"):
        load_model(model_copy)


def test_invalid_json(model_copy):
    model_copy.with_suffix(".json").write_text("{not json")
    with pytest.raises(ModelFileError, match="invalid JSON"):
        load_model(model_copy)
    model_copy.with_suffix(".json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ModelFileError, match="invalid JSON"):
        read_metadata(model_copy)


def test_newer_format_refused(model_copy):
    j = model_copy.with_suffix(".json")
    meta = json.loads(j.read_text())
    meta["format_version"] = modelfile.FORMAT_VERSION + 1
    j.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="newer PolypViewer"):
        load_model(model_copy)


def test_missing_files(model_copy):
    model_copy.unlink()
    with pytest.raises(ModelFileError, match="weights .* not found"):
        load_model(model_copy)
    with pytest.raises(ModelFileError, match="metadata .* not found"):
        load_model(model_copy.parent / "absent.safetensors")


def test_unknown_config_key(model_copy):
    j = model_copy.with_suffix(".json")
    meta = json.loads(j.read_text())
    meta["config"]["wings"] = 2
    j.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match=r"m\.json: field 'config\.wings' is not a model config field"):
        load_model(model_copy)


def test_unknown_encoder(model_copy):
    j = model_copy.with_suffix(".json")
    meta = json.loads(j.read_text())
    meta["config"]["encoder"] = "no-such-encoder"
    j.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match=r"m\.json: model config not understood"):
        load_model(model_copy)


def test_weights_that_do_not_fit_config(model_copy, tmp_path):
    other = dataclasses.replace(TINY, decoder_channels=(32, 16, 8, 8, 8))
    j = model_copy.with_suffix(".json")
    meta = json.loads(j.read_text())
    meta["config"] = other.to_dict()
    j.write_text(json.dumps(meta))  # sha still matches the weights: only the shapes are wrong
    with pytest.raises(ModelFileError, match="do not fit"):
        load_model(model_copy)


def test_not_safetensors_with_matching_hash(model_copy):
    import hashlib

    blob = b"definitely not safetensors"
    model_copy.write_bytes(blob)
    j = model_copy.with_suffix(".json")
    meta = json.loads(j.read_text())
    meta["weights_sha256"] = hashlib.sha256(blob).hexdigest()
    j.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="not a valid safetensors"):
        load_model(model_copy)


def test_load_never_unpickles(tiny_model_path, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("torch.load must not be used for model files")

    monkeypatch.setattr(torch, "load", boom)
    import pickle

    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    assert load_model(tiny_model_path).name == "tiny"
