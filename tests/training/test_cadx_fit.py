"""Fitting the neoplastic head: per-polyp logistic regression on pooled encoder features."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from synthetic import TINY, synthetic_frame, write_classed

from polypviewer.engine.errors import DatasetError
from polypviewer.engine.models.factory import create_model
from polypviewer.engine.models.modelfile import load_model, save_model
from polypviewer.engine.runtime.preprocess import normalise
from training.cadx import fit_neoplastic_head, pooled_features, predicted_regions
from training.data import LABEL_NEOPLASTIC, LABEL_NON_NEOPLASTIC
from training.sources import gather_sources

TWO = replace(TINY, seg_channels=2)


def test_the_head_is_linear_so_its_region_mean_is_the_pooled_read_out():
    torch.manual_seed(0)
    model = create_model(TWO).eval()
    with torch.no_grad():
        for conv in model.neoplastic_head.convs:
            conv.weight.normal_()
        model.neoplastic_head.bias.fill_(0.3)
    rng = np.random.default_rng(1)
    img, mask = synthetic_frame(rng, 64, 64)
    label = np.where(mask > 0, LABEL_NEOPLASTIC, 0).astype(np.uint8)
    label[:8, :8] = LABEL_NON_NEOPLASTIC  # a second, separate region
    x, y = pooled_features(model, TWO, img[None], label[None])
    assert x.shape[0] == 2 and sorted(y) == [False, True]
    w = torch.cat([c.weight.flatten() for c in model.neoplastic_head.convs]).detach().numpy()
    with torch.no_grad():
        logits = model(normalise(img[None], TWO))[0][0, 1].numpy()
    regions = [label == LABEL_NON_NEOPLASTIC, label == LABEL_NEOPLASTIC]
    means = sorted(float(logits[r].mean()) for r in regions)
    assert np.allclose(sorted(x @ w + 0.3), means, atol=1e-4)


def test_fitted_head_separates_the_classes_and_leaves_the_segmentation_alone(tmp_path):
    torch.manual_seed(0)
    seg = create_model(TINY).eval()
    src = save_model(tmp_path / "seg", seg, TINY, threshold=0.4, frame_threshold=0.7,
                     fast_size=96, tracking={"enter_confidence": 0.75})
    root = write_classed(tmp_path / "ds")
    sources = gather_sources([{"path": str(root), "holdout": 0.25}], None, 0.1, seed=3)
    report = fit_neoplastic_head(str(src), sources, tmp_path / "run", emit=lambda *_: None)
    best = next(g for g in report["grid"] if g["l2"] == report["l2"])
    truth = best["holdout"]["64"]["truth"]
    assert truth["polyps"] == 6 and truth["accuracy"] >= 5 / 6
    fitted = load_model(tmp_path / "run" / "model.safetensors")
    assert fitted.config.seg_channels == 2 and fitted.threshold == 0.4
    assert fitted.metadata["frame_threshold"] == 0.7 and fitted.metadata["fast_size"] == 96
    assert fitted.metadata["tracking"] == {"enter_confidence": 0.75}
    assert fitted.metadata["training"]["neoplastic_head"]["l2"] == report["l2"]
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        (a, fa), (b, fb) = fitted.model(x), seg(x)
    assert torch.equal(a[:, :1], b) and torch.equal(fa, fb)


def test_predicted_regions_take_the_class_under_them_and_skip_regions_off_a_polyp():
    label = np.zeros((32, 32), np.uint8)
    label[2:12, 2:12] = LABEL_NEOPLASTIC
    label[2:12, 8:12] = LABEL_NON_NEOPLASTIC  # minority inside the first polyp
    label[20:30, 20:30] = LABEL_NON_NEOPLASTIC
    prob = np.zeros((32, 32), np.float32)
    prob[3:12, 3:12] = 0.9  # on the first polyp
    prob[20:26, 20:30] = 0.8  # on the second, partly
    prob[14:17, 0:20] = 0.95  # on mucosa only: not a polyp of known class
    prob[28:31, 2:4] = 0.99  # a speck below the size floor
    regions = predicted_regions(prob, label, 0.5, min_px=10)
    assert [(int(r.sum()), neo) for r, neo in regions] == [(81, True), (60, False)]
    assert [(int(r.sum()), neo) for r, neo in predicted_regions(prob, label, 0.85, 10)] == [
        (81, True)]


def test_the_head_is_fitted_at_several_sizes_and_scored_on_the_predicted_regions(tmp_path):
    torch.manual_seed(0)
    seg = create_model(TINY).eval()
    with torch.no_grad():  # a segmentation that calls every pixel polyp
        seg.segmentation_head[0].weight.zero_()
        seg.segmentation_head[0].bias.fill_(5.0)
    src = save_model(tmp_path / "seg", seg, TINY, threshold=0.5)
    root = write_classed(tmp_path / "ds")
    sources = gather_sources([{"path": str(root), "holdout": 0.25}], None, 0.1, seed=3)
    report = fit_neoplastic_head(str(src), sources, tmp_path / "run", sizes=[96, 64],
                                 emit=lambda *_: None)
    assert report["sizes"] == [64, 96]
    best = next(g for g in report["grid"] if g["l2"] == report["l2"])
    assert set(best["holdout"]) == {"64", "96"}
    assert best["train"]["polyps"] == 2 * 18  # every training polyp once per size
    assert all(v["truth"]["polyps"] == 6 for v in best["holdout"].values())
    # the one predicted region per image covers the whole frame, mostly mucosa: not a polyp,
    # so the true polyps' AUC chose the L2
    assert all(v["predicted"]["polyps"] == 0 for v in best["holdout"].values())
    assert best["holdout_auc_truth"] == max(g["holdout_auc_truth"] for g in report["grid"])
    meta = load_model(tmp_path / "run" / "model.safetensors").metadata
    assert meta["training"]["neoplastic_head"]["sizes"] == [64, 96]


def test_the_flips_pool_every_training_polyp_in_each_view_and_keep_the_holdout_as_is(tmp_path):
    torch.manual_seed(0)
    src = save_model(tmp_path / "seg", create_model(TINY).eval(), TINY, threshold=0.4)
    root = write_classed(tmp_path / "ds")
    sources = gather_sources([{"path": str(root), "holdout": 0.25}], None, 0.1, seed=3)
    report = fit_neoplastic_head(str(src), sources, tmp_path / "run", views="flips",
                                 emit=lambda *_: None)
    best = next(g for g in report["grid"] if g["l2"] == report["l2"])
    assert report["views"] == "flips" and best["train"]["polyps"] == 4 * 18
    held = (tmp_path / "run" / "holdouts" / "ds.txt").read_text().split()
    assert sorted(held) == sorted(p.stem for p in sources[0].holdout) and len(held) == 6
    truth = best["holdout"]["64"]["truth"]
    assert truth["polyps"] == 6 and truth["accuracy"] >= 5 / 6
    with pytest.raises(DatasetError, match="unknown views"):
        fit_neoplastic_head(str(src), sources, tmp_path / "bad", views="sideways")


def test_train_task_cadx_fits_at_every_scale_given(tmp_path):
    from training.cli import main

    torch.manual_seed(0)
    src = save_model(tmp_path / "seg", create_model(TINY).eval(), TINY, threshold=0.4)
    root = write_classed(tmp_path / "ds")
    rc = main(["--task", "cadx", "--source", f"{root}:holdout=0.25", "--init-from", str(src),
               "--scales", "64,96", "--size", "64", "--cadx-views", "flips",
               "--out", str(tmp_path / "run")])
    assert rc == 0
    meta = load_model(tmp_path / "run" / "model.safetensors").metadata
    assert meta["training"]["neoplastic_head"]["sizes"] == [64, 96]
    assert meta["training"]["neoplastic_head"]["views"] == "flips"


def _events(out: str) -> list:
    from training.events import Event

    return [Event.from_json(line) for line in out.splitlines() if line.startswith("{")]


def test_the_fit_speaks_the_training_event_stream(tmp_path, capsys):
    from training.cli import main

    torch.manual_seed(0)
    src = save_model(tmp_path / "seg", create_model(TINY).eval(), TINY, threshold=0.4)
    root = write_classed(tmp_path / "ds")
    rc = main(["--task", "cadx", "--source", f"{root}:holdout=0.25", "--init-from", str(src),
               "--scales", "64,96", "--size", "64", "--out", str(tmp_path / "run"),
               "--events", "jsonl"])
    assert rc == 0
    events = _events(capsys.readouterr().out)
    kinds = [e.kind for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "finished" and "log" in kinds
    started, finished = events[0].data, events[-1].data
    assert started["task"] == "cadx" and started["sizes"] == [64, 96]
    progress = [e.data for e in events if e.kind == "epoch_progress"]
    # every pooling pass reports its batches, up to the last one, as one "epoch" of the run
    assert sorted({p["epoch"] for p in progress}) == list(range(started["epochs"]))
    last = {p["epoch"]: p for p in progress}
    assert all(p["step"] == p["steps"] and p["eta_s"] == 0 for p in last.values())
    report = json.loads((tmp_path / "run" / "cadx_fit.json").read_text())
    best = next(g for g in report["grid"] if g["l2"] == report["l2"])
    assert finished["model"] == str(tmp_path / "run" / "model.safetensors")
    assert finished["l2"] == report["l2"] and finished["holdout"] == best["holdout"]
    assert set(finished["holdout"]) == {"64", "96"}


def test_a_cancelled_fit_ends_cancelled_and_writes_no_model(tmp_path):
    from training_helpers import Recorder

    from training.cadx_run import run_cadx_fit
    from training.config import TrainConfig
    from training.events import CancelToken

    torch.manual_seed(0)
    src = save_model(tmp_path / "seg", create_model(TINY).eval(), TINY, threshold=0.4)
    root = write_classed(tmp_path / "ds")
    cancel = CancelToken()
    rec = Recorder(lambda ev: ev.kind == "epoch_progress" and ev.data["epoch"] == 1
                   and cancel.cancel())  # as SIGTERM does, in the second pass
    cfg = TrainConfig(sources=[{"path": str(root), "holdout": 0.25}], out=str(tmp_path / "run"),
                      init_from=str(src), cadx_views="flips")
    assert run_cadx_fit(cfg, rec, cancel) is None
    assert rec.kinds()[-1] == "cancelled" and "no model" in rec.of("cancelled")[0].data["message"]
    assert max(e.data["epoch"] for e in rec.of("epoch_progress")) == 1  # stopped there
    assert not (tmp_path / "run" / "model.safetensors").exists()
    assert not (tmp_path / "run" / "cadx_fit.json").exists()


def test_a_bad_model_or_no_classes_fails_with_one_line(tmp_path, capsys):
    from training.cli import main

    root = write_classed(tmp_path / "ds")
    args = ["--task", "cadx", "--source", f"{root}:holdout=0.25", "--out", str(tmp_path / "run"),
            "--events", "jsonl"]
    assert main([*args, "--init-from", str(tmp_path / "missing.safetensors")]) == 2
    out = capsys.readouterr()
    failed = _events(out.out)[-1]
    assert failed.kind == "failed" and failed.data["expected"]
    assert "missing.json" in failed.data["error"] and failed.data["error"] in out.err
    src = save_model(tmp_path / "seg", create_model(TINY).eval(), TINY, threshold=0.4)
    shutil.rmtree(root / "classes")
    assert main([*args, "--init-from", str(src)]) == 2
    failed = _events(capsys.readouterr().out)[-1]
    assert failed.kind == "failed" and "classes/" in failed.data["error"]
    assert not (tmp_path / "run" / "model.safetensors").exists()


@pytest.mark.timeout(600)  # a child process that imports torch
@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM: the wizard kills the child there")
def test_sigterm_cancels_the_child_fit_as_the_wizard_does(tmp_path):
    from training.events import Event

    torch.manual_seed(0)
    src = save_model(tmp_path / "seg", create_model(TINY).eval(), TINY, threshold=0.4)
    root = write_classed(tmp_path / "ds")
    proc = subprocess.Popen(
        [sys.executable, "-m", "polypviewer", "train", "--task", "cadx", "--source",
         f"{root}:holdout=0.25", "--init-from", str(src), "--scales", "64,128,192,256,320",
         "--cadx-views", "flips", "--threads", "1", "--out", str(tmp_path / "run"),
         "--events", "jsonl"], stdout=subprocess.PIPE, text=True)
    events = []
    for line in proc.stdout:
        events.append(Event.from_json(line))
        if events[-1].kind == "run_started":
            proc.send_signal(signal.SIGTERM)  # what RunProcess.cancel sends
    assert proc.wait(60) == 130
    assert events[-1].kind == "cancelled" and "finished" not in [e.kind for e in events]
    assert not (tmp_path / "run" / "model.safetensors").exists()
