"""Analysis cache: exact round trip, persistence, keys, and crash safety."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from synthetic import TINY, write_dataset

from polypviewer.engine.media.sources import open_source
from polypviewer.engine.models.factory import create_model
from polypviewer.engine.models.modelfile import load_model, save_model
from polypviewer.engine.runtime import results
from polypviewer.engine.runtime.inference import from_probability
from polypviewer.engine.runtime.preprocess import letterbox, unletterbox
from polypviewer.engine.runtime.results import AnalysisStore


@pytest.fixture
def loaded(tiny_model_path):
    return load_model(tiny_model_path)


@pytest.fixture
def source(tmp_path):
    src = open_source(write_dataset(tmp_path / "ds", n=6))
    yield src
    src.close()


def _prob(i: int, size: int = 64) -> np.ndarray:
    p = np.zeros((size, size), np.float32)
    cv2.circle(p, (20 + 3 * i, 30), 10, 0.9, -1)
    return cv2.GaussianBlur(p, (7, 7), 2)


def _fill(store, source, indices):
    for i in indices:
        _, box = letterbox(source[i].rgb, store.size)
        store.put(i, _prob(i), 0.1 * i, box)


def test_round_trip_matches_from_probability(source, loaded):
    store = AnalysisStore.open(source, loaded)
    assert store.folder.parent.name == "analysis" and store.size == TINY.input_size
    _fill(store, source, range(3))
    frame = source[1]
    _, box = letterbox(frame.rgb, store.size)
    for thr in (0.3, 0.6):
        got = store.get(1, thr)
        ref = from_probability(np.ascontiguousarray(unletterbox(_prob(1), box)), 0.1, thr)
        assert got.prob.shape == frame.rgb.shape[:2]
        assert np.abs(got.prob - ref.prob).max() <= 1 / 255 + 1e-6
        clear = np.abs(ref.prob - thr) > 2 / 255
        assert np.array_equal(got.mask[clear], ref.mask[clear])
        assert got.count == ref.count == 1 and got.frame_prob == pytest.approx(0.1)
    (stored,), (fresh,) = store.instances(1), store.get(1).instances  # at the store's threshold
    assert (stored.bbox, stored.area) == (fresh.bbox, fresh.area)
    assert stored.confidence == pytest.approx(fresh.confidence, abs=1e-4)
    np.testing.assert_allclose(store.frame_probs[:3], [0.0, 0.1, 0.2], atol=1e-6)
    assert np.isnan(store.frame_probs[3:]).all() and list(store.counts[3:]) == [-1] * 3
    assert store.has(2) and not store.has(3) and len(store) == 3
    with pytest.raises(KeyError):
        store.get(4)


def test_persists_across_reopen_with_complete_flag(source, loaded):
    store = AnalysisStore.open(source, loaded)
    _fill(store, source, range(6))
    store.complete = True
    again = AnalysisStore.open(source, loaded)
    assert again.folder == store.folder and again.complete and len(again) == 6
    np.testing.assert_array_equal(again.frame_probs, store.frame_probs)
    np.testing.assert_array_equal(again.prob_model(4), store.prob_model(4))
    assert again.get(5).count == store.get(5).count == 1


def test_key_changes_with_model_weights_and_source(source, loaded, tmp_path):
    torch.manual_seed(1)
    other = load_model(save_model(tmp_path / "other", create_model(TINY).eval(), TINY, name="other"))
    assert other.metadata["weights_sha256"] != loaded.metadata["weights_sha256"]
    a = AnalysisStore.open(source, loaded)
    b = AnalysisStore.open(source, other)
    assert a.folder != b.folder
    img = tmp_path / "one.png"
    cv2.imwrite(str(img), np.zeros((20, 30, 3), np.uint8))
    k1 = AnalysisStore.open(img, loaded).folder
    cv2.imwrite(str(img), np.zeros((20, 31, 3), np.uint8))  # same path, new content
    assert AnalysisStore.open(img, loaded).folder != k1


def test_crash_keeps_flushed_frames_and_ignores_damaged_chunk(source, loaded, monkeypatch):
    monkeypatch.setattr(results, "CHUNK", 2)
    store = AnalysisStore.open(source, loaded)
    _fill(store, source, range(4))  # chunks 0 and 1 fill up and are written
    _fill(store, source, [4])  # pending only: lost in the "crash"
    chunks = sorted(store.folder.glob("chunk_*.zip"))
    assert len(chunks) == 2
    data = chunks[1].read_bytes()
    chunks[1].write_bytes(data[: len(data) // 2])  # a torn write
    (store.folder / ".chunk_000002.zip.x.part.zip").write_bytes(b"junk")
    del store
    again = AnalysisStore.open(source, loaded)
    assert [again.has(i) for i in range(6)] == [True, True, False, False, False, False]
    assert not list(again.folder.glob(".*.part*"))
    _fill(again, source, [2, 3])  # the damaged chunk is simply rewritten
    again.flush()
    assert AnalysisStore.open(source, loaded).has(3)


def test_partial_flush_then_more_frames_in_same_chunk(source, loaded):
    store = AnalysisStore.open(source, loaded)
    _fill(store, source, [0, 1])
    store.flush()
    _fill(store, source, [2])
    store.flush()
    again = AnalysisStore.open(source, loaded)
    assert [again.has(i) for i in range(4)] == [True, True, True, False]
    np.testing.assert_array_equal(again.prob_model(0), store.prob_model(0))
