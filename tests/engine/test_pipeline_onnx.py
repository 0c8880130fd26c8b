"""ONNX backend: matches PyTorch, cached once per weights, read-only model folders, int8, fallback."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from synthetic import synthetic_frame

from polypviewer import paths
from polypviewer.engine import fsutil
from polypviewer.engine.media.sources import Frame
from polypviewer.engine.runtime.backends import TorchBackend, make_backend, onnx_backend
from polypviewer.engine.runtime.backends.onnx_backend import (
    OnnxBackend,
    check_frames,
    ensure_onnx,
    read_props,
)
from polypviewer.engine.runtime.inference import Predictor
from polypviewer.engine.runtime.pipeline import AnalysisOptions, analyse


@pytest.fixture
def model_copy(tiny_model_path, tmp_path):
    """A private copy of the tiny model, so cache files of other tests do not interfere."""
    d = tmp_path / "models"
    d.mkdir()
    for suffix in (".safetensors", ".json"):
        shutil.copy(tiny_model_path.with_suffix(suffix), d / f"tiny{suffix}")
    return d / "tiny.safetensors"


@pytest.fixture(scope="module")
def predictor(tiny_model_path):
    return Predictor(tiny_model_path, device="cpu")


def test_onnx_matches_torch_and_feeds_the_pipeline(predictor):
    onnx = make_backend(predictor, "auto")  # auto on CPU = ONNX Runtime
    assert onnx.kind == "onnx" and "ONNX Runtime" in onnx.note
    # the U-Net's upsampling got constant scales and its head became depthwise (onnx_graph)
    assert int(onnx.props["static_resizes"]) >= 4 and onnx.props["depthwise_heads"] == "1"
    frames = check_frames(predictor.config.input_size, n=3, seed=7)
    p_onnx, f_onnx = onnx.forward(frames)
    p_torch, f_torch = TorchBackend(predictor).forward(frames)
    assert p_onnx.shape == p_torch.shape == (3, 64, 64)
    assert np.abs(p_onnx - p_torch).max() < 1e-3 and np.abs(f_onnx - f_torch).max() < 1e-3
    rng = np.random.default_rng(3)
    src = [Frame(i, None, synthetic_frame(rng)[0], f"f{i}") for i in range(5)]
    out = list(analyse(src, onnx, AnalysisOptions(batch_size=2)))
    assert [f.index for f, _ in out] == list(range(5))
    for frame, pred in out:
        ref = predictor.predict(frame.rgb)
        assert np.abs(pred.prob - ref.prob).max() < 1e-3
        assert (pred.mask != ref.mask).mean() < 0.01  # only pixels within 1e-3 of the threshold


def test_export_is_cached_and_reused(model_copy, monkeypatch):
    pred = Predictor(model_copy, device="cpu")
    path, props = ensure_onnx(pred.loaded)
    assert path == model_copy.with_suffix(".onnx") and float(props["max_abs_diff"]) < 1e-3
    calls = []
    monkeypatch.setattr(onnx_backend, "_export_bytes", lambda *a: calls.append(a) or b"")
    again, _ = ensure_onnx(Predictor(model_copy, device="cpu").loaded)
    assert again == path and calls == []
    path.write_bytes(b"not an onnx file")  # damaged or stale -> exported again
    monkeypatch.undo()
    redone, props = ensure_onnx(pred.loaded)
    assert redone == path and read_props(path)["polypviewer_key"] == props["polypviewer_key"]


def test_read_only_model_folder_falls_back_to_user_cache(model_copy, monkeypatch):
    folder = model_copy.parent
    real = fsutil.write_bytes

    def write_bytes(path, data):  # root ignores chmod, so refuse explicitly too
        if str(path).startswith(str(folder)):
            raise PermissionError(13, "Permission denied", str(path))
        real(path, data)

    monkeypatch.setattr(fsutil, "write_bytes", write_bytes)
    folder.chmod(0o555)
    try:
        backend = OnnxBackend(Predictor(model_copy, device="cpu"))
    finally:
        folder.chmod(0o755)
    assert backend.path.parent == paths.user_cache_dir() / "onnx"
    assert not model_copy.with_suffix(".onnx").exists()
    assert backend.forward(check_frames(64, 1))[0].shape == (1, 64, 64)


def test_int8_runs_and_reports_dice(predictor):
    backend = OnnxBackend(predictor, quantize=True, min_dice=0.0)
    assert backend.kind == "onnx-int8" and backend.path.name.endswith(".int8.onnx")
    assert 0.0 <= backend.dice_vs_fp32 <= 1.0
    probs, frame = backend.forward(check_frames(64, 2))
    assert probs.shape == (2, 64, 64) and ((probs >= 0) & (probs <= 1)).all() and frame.shape == (2,)


def test_export_failure_falls_back_to_torch_with_reason(model_copy, monkeypatch, caplog):
    def broken(*a):
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(onnx_backend, "_export_bytes", broken)
    backend = make_backend(Predictor(model_copy, device="cpu"), "onnx")
    assert backend.kind == "torch" and "exporter crashed" in backend.note
    assert "exporter crashed" in caplog.text


def test_numerical_mismatch_is_refused(model_copy, monkeypatch):
    monkeypatch.setattr(onnx_backend, "TOLERANCE", 0.0)
    with pytest.raises(Exception, match="differs from PyTorch"):
        ensure_onnx(Predictor(model_copy, device="cpu").loaded)
    assert not model_copy.with_suffix(".onnx").exists()
