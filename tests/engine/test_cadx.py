"""The neoplastic channel from the model to every output; one-channel models unchanged."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
from synthetic import TINY, synthetic_frame

from polypviewer.cli.main import main
from polypviewer.cli.predict_output import CADX_COLUMN, CSV_COLUMNS
from polypviewer.engine.media.sources import Frame
from polypviewer.engine.models.factory import create_model
from polypviewer.engine.models.modelfile import load_model, save_model
from polypviewer.engine.runtime.backends import TorchBackend
from polypviewer.engine.runtime.inference import Predictor
from polypviewer.engine.runtime.pipeline import AnalysisOptions, StoreSink, analyse, analyse_into
from polypviewer.engine.runtime.postprocess import find_instances
from polypviewer.engine.runtime.results import AnalysisStore

NEO = 0.8  # the constant P(neoplastic | polyp) of the synthetic two-channel model


@pytest.fixture(scope="module")
def cadx_model_path(tmp_path_factory):
    """Two channels: polyp from random weights (bias up so regions exist), neoplastic = NEO."""
    torch.manual_seed(0)
    cfg = replace(TINY, seg_channels=2)
    model = create_model(cfg).eval()
    head = model.segmentation_head[0]
    with torch.no_grad():
        model.neoplastic_head.bias.fill_(math.log(NEO / (1 - NEO)))  # its convs start at zero
        head.weight.mul_(0.01)
        head.bias.zero_()
    return save_model(tmp_path_factory.mktemp("m") / "cadx", model, cfg, threshold=0.4, name="cadx")


def _frames(n=3):
    rng = np.random.default_rng(3)
    return [synthetic_frame(rng)[0] for _ in range(n)]


def write_images(folder, n):
    folder.mkdir(parents=True)
    for i, rgb in enumerate(_frames(n)):
        cv2.imwrite(str(folder / f"frame{i}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def read_csv(path):
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_instances_average_the_class_map_over_their_region():
    mask = np.zeros((20, 30), bool)
    mask[2:6, 2:6] = True
    mask[10:18, 15:25] = True
    cadx = np.zeros(mask.shape, np.float32)
    cadx[2:6, 2:4], cadx[2:6, 4:6] = 0.2, 0.6  # small region: mean 0.4
    cadx[10:18, 15:25] = 0.9
    insts, _ = find_instances(mask, mask.astype(np.float32), 1, cadx)
    assert [round(i.neoplastic_probability, 4) for i in insts] == [0.9, 0.4]  # largest first
    assert insts[0].to_dict()["neoplastic_probability"] == 0.9
    plain, _ = find_instances(mask, mask.astype(np.float32), 1)
    assert all(i.neoplastic_probability is None for i in plain)
    assert "neoplastic_probability" not in plain[0].to_dict()


def test_predictor_reports_neoplastic_probability_per_polyp(cadx_model_path):
    pred = Predictor(cadx_model_path, device="cpu", threshold=0.0)
    assert pred.has_cadx
    out = pred.predict(_frames(1)[0])
    assert out.count >= 1 and out.cadx is not None and out.cadx.shape == out.prob.shape
    for inst in out.instances:
        assert inst.neoplastic_probability == pytest.approx(NEO, abs=1e-4)
    again = out.rethreshold(0.0)
    assert again.instances[0].neoplastic_probability == pytest.approx(NEO, abs=1e-4)


def test_pipeline_and_analysis_store_carry_the_channel(cadx_model_path, tmp_path):
    pred = Predictor(cadx_model_path, device="cpu", threshold=0.0)
    frames = [Frame(i, i / 25, rgb, f"f{i}") for i, rgb in enumerate(_frames(3))]
    got = [p for _, p in analyse(frames, TorchBackend(pred), AnalysisOptions(batch_size=2))]
    assert all(p.instances[0].neoplastic_probability == pytest.approx(NEO, abs=1e-4) for p in got)
    store = AnalysisStore(tmp_path / "store", {"size": 64, "threshold": 0.0,
                                               "min_area_fraction": 0.001, "n_frames": 3})
    maps = []
    list(analyse(frames, TorchBackend(pred), AnalysisOptions(batch_size=2),
                 model_output=lambda f, p, fp, box, cadx=None: maps.append((f, p, fp, box, cadx))))
    for f, p, fp, box, cadx in maps:
        assert cadx is not None
        store.put(f.index, p, fp, box, cadx=cadx)
    store.flush()
    reopened = AnalysisStore(tmp_path / "store", store.meta)
    for i in range(3):
        assert reopened.get(i).instances[0].neoplastic_probability == pytest.approx(NEO, abs=3e-3)
        assert reopened.instances(i)[0].neoplastic_probability == pytest.approx(NEO, abs=3e-3)
        assert reopened.cadx_model(i) is not None


def test_store_sink_keeps_the_channel(cadx_model_path, tmp_path):
    """The one push path into the analysis cache (viewer, dataset review, archive) carries it."""
    pred = Predictor(cadx_model_path, device="cpu", threshold=0.0)
    frames = [Frame(i, i / 25, rgb, f"f{i}") for i, rgb in enumerate(_frames(3))]
    store = AnalysisStore(tmp_path / "store", {"size": 64, "threshold": 0.0,
                                               "min_area_fraction": 0.001, "n_frames": 3})
    done = [f.index for f in analyse_into(StoreSink(store), frames, TorchBackend(pred),
                                          AnalysisOptions(batch_size=2))]
    assert done == [0, 1, 2]
    reopened = AnalysisStore(tmp_path / "store", store.meta)  # flushed by analyse_into
    for i in range(3):
        assert reopened.cadx_model(i) is not None
        assert reopened.get(i).instances[0].neoplastic_probability == pytest.approx(NEO, abs=3e-3)


def test_onnx_backend_exports_the_channel(cadx_model_path):
    pytest.importorskip("onnxruntime")
    from polypviewer.engine.runtime.backends.onnx_backend import OnnxBackend

    pred = Predictor(cadx_model_path, device="cpu", threshold=0.0)
    backend = OnnxBackend(pred)
    batch = np.stack([pred.prepare(f)[0] for f in _frames(2)])
    probs, frame, cadx = backend.forward_all(batch)
    ref = pred.forward_all(batch)
    assert np.abs(probs - ref[0]).max() < 1e-3 and np.abs(cadx - ref[2]).max() < 1e-3
    assert backend.forward(batch)[0].shape == probs.shape


def test_one_channel_model_has_no_cadx_anywhere(tiny_model_path, tmp_path):
    pred = Predictor(tiny_model_path, device="cpu", threshold=0.0)
    assert not pred.has_cadx
    out = pred.predict(_frames(1)[0])
    assert out.cadx is None and all(i.neoplastic_probability is None for i in out.instances)
    assert pred.forward_all(np.stack([pred.prepare(_frames(1)[0])[0]]))[2] is None
    write_images(tmp_path / "in", n=2)
    assert main(["predict", str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--model",
                 str(tiny_model_path), "--device", "cpu"]) == 0
    assert tuple(read_csv(tmp_path / "o" / "predictions.csv")[0]) == CSV_COLUMNS


def test_predict_csv_has_the_research_column(cadx_model_path, tmp_path, capsys):
    write_images(tmp_path / "in", n=2)
    assert main(["predict", str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--model",
                 str(cadx_model_path), "--device", "cpu", "--threshold", "0.01"]) == 0
    assert "research only" in capsys.readouterr().out
    rows = read_csv(tmp_path / "o" / "predictions.csv")
    assert tuple(rows[0]) == CSV_COLUMNS + (CADX_COLUMN,)
    for r in rows:
        values = json.loads(r[CADX_COLUMN])
        assert len(values) == int(r["polyp_count"])
        assert all(v == pytest.approx(NEO, abs=1e-3) for v in values)


def test_saved_two_channel_model_round_trips(cadx_model_path):
    loaded = load_model(cadx_model_path)
    assert loaded.config.seg_channels == 2
    assert json.loads(cadx_model_path.with_suffix(".json").read_text())["config"]["seg_channels"] == 2
