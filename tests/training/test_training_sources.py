"""Multi-source training: negatives, per-source weights, the neoplastic channel, warm start."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from synthetic import TINY, synthetic_frame, write_dataset
from training_helpers import TINY_ARGS, Recorder, tiny_config

from polypviewer.engine.errors import DatasetError
from polypviewer.engine.models.config import ModelConfig
from polypviewer.engine.models.factory import create_model
from polypviewer.engine.models.modelfile import load_model, save_model
from training.cli import main
from training.data import LABEL_NEOPLASTIC, LABEL_NON_NEOPLASTIC, MultiSourceSet, load_labelled
from training.events import CancelToken
from training.loop import run_training
from training.losses import cadx_loss
from training.sampling import SourceBatchSampler
from training.sources import gather_sources, parse_source
from training.warmstart import init_model


def write_negatives(root, n=6, seed=5):
    """A dataset without masks/: real-looking frames that hold no polyp."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    for i in range(n):
        img, _ = synthetic_frame(rng, n_polyps=0)
        cv2.imwrite(str(root / "images" / f"neg{i:02d}.jpg"), img)
    return root


def add_classes(root):
    """classes/ maps: left half of each polyp neoplastic (1), right half non-neoplastic (2)."""
    (root / "classes").mkdir()
    for m in sorted((root / "masks").iterdir()):
        mask = cv2.imread(str(m), cv2.IMREAD_GRAYSCALE) > 127
        cls = np.zeros(mask.shape, np.uint8)
        half = mask.shape[1] // 2
        cls[:, :half][mask[:, :half]] = 1
        cls[:, half:][mask[:, half:]] = 2
        cv2.imwrite(str(root / "classes" / m.name), cls)
    return root


def test_parse_source_reads_options_from_the_end():
    s = parse_source("C:/data/bkai:train=splits/train.txt:weight=2.5:holdout=0.1")
    assert s == {"path": "C:/data/bkai", "train": "splits/train.txt", "weight": 2.5,
                 "holdout": 0.1}
    assert parse_source("data/neg") == {"path": "data/neg"}
    with pytest.raises(ValueError, match="unknown option 'wieght'"):
        parse_source("data/neg:wieght=2")
    with pytest.raises(ValueError, match="weight must be > 0"):
        parse_source("data/neg:weight=0")


def test_negatives_have_empty_targets_and_frame_label_zero(tmp_path):
    write_negatives(tmp_path / "neg", n=4)
    write_dataset(tmp_path / "pos", n=4)
    (split := tmp_path / "neg" / "some.txt").write_text("neg00\nneg01\nneg02\n")
    srcs = gather_sources([{"path": "pos", "holdout": 0}, {"path": "neg", "train": "some.txt",
                                                            "holdout": 0}],
                          str(tmp_path), 0.1, seed=1)
    assert [s.negative for s in srcs] == [False, True]
    assert [p.stem for p in srcs[1].train] == ["neg00", "neg01", "neg02"] and split.is_file()
    arrays = [load_labelled(s.train, s.classes, 64, False, None) for s in srcs]
    ds = MultiSourceSet(arrays, TINY)
    for i in range(len(ds)):
        x, m, frame, lab = ds[(i, 48, 0)]
        assert x.shape == (3, 48, 48)
        negative = i >= 4
        assert (m.sum() == 0) == negative and (frame.item() == 0.0) == negative


def test_source_weights_set_draw_frequencies():
    s = SourceBatchSampler([10, 1000], [3.0, 1.0], batch_size=10, epoch_samples=4000,
                           sizes=[64], seed=0)
    idx = s.draws()
    share_small = float((idx < 10).mean())
    assert share_small == pytest.approx(0.75, abs=0.03)
    # without replacement inside a source: the small one cycles through all its images evenly
    counts = np.bincount(idx[idx < 10], minlength=10)
    assert counts.max() - counts.min() <= 1
    s.set_epoch(1)
    assert not np.array_equal(s.draws(), idx)
    s.set_epoch(0)
    assert np.array_equal(s.draws(), idx)  # the same epoch repeats exactly (resume)


def test_batches_share_one_size_from_the_scales():
    s = SourceBatchSampler([20], [1.0], batch_size=4, epoch_samples=40, sizes=[32, 48, 64],
                           seed=3)
    batches = list(s)
    assert len(batches) == len(s) == 10
    assert all(len({size for _, size, _ in b}) == 1 for b in batches)
    assert {b[0][1] for b in batches} == {32, 48, 64}


def test_cadx_loss_ignores_pixels_without_a_known_class():
    labels = torch.tensor([[[0, 1, LABEL_NEOPLASTIC, LABEL_NON_NEOPLASTIC]]])
    base = torch.tensor([[[[0.0, 0.0, 2.0, -2.0]]]])
    changed = base.clone()
    changed[..., :2] = torch.tensor([9.0, -9.0])  # background and unknown-class pixels
    assert cadx_loss(base, labels).item() == pytest.approx(cadx_loss(changed, labels).item())
    wrong = base.clone()
    wrong[..., 2] = -2.0
    assert cadx_loss(wrong, labels) > cadx_loss(base, labels)
    none = torch.zeros(1, 1, 1, 4, requires_grad=True)
    loss = cadx_loss(none, torch.tensor([[[0, 1, 1, 0]]]))
    loss.backward()
    assert loss.item() == 0.0 and none.grad is not None


def test_class_maps_become_labels_inside_the_polyp(tmp_path):
    ds = add_classes(write_dataset(tmp_path / "ds", n=2))
    src = gather_sources([{"path": str(ds), "holdout": 0}], None, 0.1, 0)[0]
    _, lab = load_labelled(src.train, src.classes, 64, False, None)
    assert {LABEL_NEOPLASTIC, LABEL_NON_NEOPLASTIC} <= set(np.unique(lab))
    assert 1 not in set(np.unique(lab)) or (lab == 1).sum() < (lab >= 2).sum() * 0.1


def _one_channel_model(path):
    torch.manual_seed(0)
    model = create_model(TINY)
    save_model(path, model, TINY, threshold=0.4)
    return model


def test_init_from_an_old_one_channel_model_copies_tensors_and_adds_a_zero_channel(tmp_path):
    old = _one_channel_model(tmp_path / "old")
    two = ModelConfig(**{**TINY.to_dict(), "seg_channels": 2})
    model, counts = init_model(two, str(tmp_path / "old.safetensors"))
    new, ref = model.state_dict(), old.state_dict()
    assert counts["copied"] == len(ref) and counts["partial"] == 0
    assert counts["new"] == len(new) - len(ref) > 0  # the neoplastic head alone
    assert all(not new[k].any() for k in new if k.startswith("neoplastic_head."))
    x = torch.randn(1, 3, 64, 64)
    model.eval()
    old.eval()
    with torch.no_grad():
        (a, _), (b, _) = model(x), old(x)
    assert torch.allclose(a[:, :1], b, atol=1e-5)  # the polyp channel is unchanged
    assert torch.allclose(torch.sigmoid(a[:, 1]), torch.full_like(a[:, 1], 0.5))


def test_init_from_a_two_channel_model_into_one_channel_keeps_the_polyp_channel(tmp_path):
    torch.manual_seed(1)
    two = ModelConfig(**{**TINY.to_dict(), "seg_channels": 2})
    src = create_model(two).eval()
    save_model(tmp_path / "two", src, two)
    model, counts = init_model(TINY, str(tmp_path / "two.safetensors"))
    assert counts["new"] == 0 and "neoplastic_head.bias" not in model.state_dict()
    x = torch.randn(1, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        (a, _), (b, _) = src(x), model(x)
    assert b.shape[1] == 1 and torch.allclose(a[:, :1], b, atol=1e-5)


def test_old_model_files_load_as_one_channel(tmp_path):
    _one_channel_model(tmp_path / "old")
    meta = json.loads((tmp_path / "old.json").read_text())
    meta["config"].pop("seg_channels")  # as written before the field existed
    (tmp_path / "old.json").write_text(json.dumps(meta))
    loaded = load_model(tmp_path / "old.safetensors")
    assert loaded.config.seg_channels == 1 and not loaded.config.has_cadx
    with torch.no_grad():
        out, _ = loaded.model(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, 1, 64, 64)
    with pytest.raises(ValueError, match="seg_channels"):
        ModelConfig(seg_channels=3)


def test_multi_source_run_end_to_end(tmp_path):
    pos = add_classes(write_dataset(tmp_path / "data" / "pos", n=6))
    write_negatives(tmp_path / "data" / "neg", n=4)
    _one_channel_model(tmp_path / "old")
    out = tmp_path / "run"
    rc = main(["--source", "pos:holdout=0.34:weight=2", "--source", "neg:holdout=0.25",
               "--data-root", str(tmp_path / "data"), "--out", str(out), "--epochs", "2",
               "--cadx", "--scales", "48,64", "--epoch-samples", "8",
               "--init-from", str(tmp_path / "old.safetensors"), *TINY_ARGS])
    assert rc == 0
    loaded = load_model(out / "model.safetensors")
    assert loaded.config.seg_channels == 2
    summary = json.loads((out / "summary.json").read_text())
    assert loaded.metadata["frame_threshold"] == summary["frame_operating_point"]["frame_threshold"]
    assert [s["name"] for s in summary["sources"]] == ["pos", "neg"]
    assert summary["sources"][0]["classes"] and summary["sources"][1]["negative"]
    assert summary["scales"] == [48, 64]
    hold = (out / "holdouts" / "neg.txt").read_text().split()
    assert len(hold) == 1 and hold[0].startswith("neg")
    rows = json.loads((out / "metrics.json").read_text())
    assert {"val_dice_pos", "val_dice_neg", "val_frame_auc", "val_cadx_pixel_acc"} <= set(rows[0])
    assert (pos / "classes").is_dir()


def test_resumed_multi_source_run_matches_an_uninterrupted_one(tmp_path):
    write_dataset(tmp_path / "pos", n=6)
    write_negatives(tmp_path / "neg", n=4)
    srcs = [{"path": str(tmp_path / "pos"), "holdout": 0.34}, {"path": str(tmp_path / "neg")}]
    kw = dict(sources=srcs, epochs=2, scales=[48, 64], epoch_samples=6, val_fraction=0.25,
              scheduler="cosine")
    assert run_training(tiny_config([], tmp_path / "a", **kw)) is not None
    cancel = CancelToken()
    stop = Recorder(lambda e: cancel.cancel() if e.kind == "epoch_metrics" else None)
    assert run_training(tiny_config([], tmp_path / "b", **kw), stop, cancel) is None
    assert run_training(tiny_config([], tmp_path / "b", **kw), resume=True) is not None
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert [r["train_loss"] for r in a] == pytest.approx([r["train_loss"] for r in b], rel=1e-5)


def test_a_missing_source_is_one_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        gather_sources([{"path": "nowhere"}], str(tmp_path), 0.1, 0)


def test_cadx_loss_weighs_both_classes_equally_whatever_their_area():
    # 9 neoplastic pixels, 1 non-neoplastic: calling all of them neoplastic must not be cheap
    labels = torch.tensor([[[LABEL_NEOPLASTIC] * 9 + [LABEL_NON_NEOPLASTIC]]])
    prior = torch.full((1, 1, 1, 10), 3.0)
    balanced = torch.zeros(1, 1, 1, 10)
    assert cadx_loss(prior, labels) > cadx_loss(balanced, labels)
    fixed = prior.clone()
    fixed[..., 9] = -3.0  # the minority pixel right as well
    assert cadx_loss(fixed, labels) < cadx_loss(balanced, labels)
