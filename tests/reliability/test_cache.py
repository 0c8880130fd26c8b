"""Analysis cache damage: any unreadable entry is discarded once, logged, and analysed again."""

from __future__ import annotations

import json
import logging
import zipfile

import cv2
import numpy as np
import pytest
from synthetic import write_dataset

from polypviewer.engine.media.sources import open_source
from polypviewer.engine.models.modelfile import load_model
from polypviewer.engine.runtime.preprocess import letterbox
from polypviewer.engine.runtime.results import AnalysisStore

LOGGER = "polypviewer.engine.runtime.results"


@pytest.fixture
def loaded(tiny_model_path):
    return load_model(tiny_model_path)


@pytest.fixture
def source(tmp_path):
    src = open_source(write_dataset(tmp_path / "ds", n=4))
    yield src
    src.close()


def _fill(store, source, indices):
    for i in indices:
        _, box = letterbox(source[i].rgb, store.size)
        p = np.zeros((store.size, store.size), np.float32)
        cv2.circle(p, (20 + 3 * i, 30), 10, 0.9, -1)
        store.put(i, p, 0.2 + 0.1 * i, box)
    store.flush()


def _analysed(source, loaded) -> AnalysisStore:
    store = AnalysisStore.open(source, loaded)
    _fill(store, source, range(len(source)))
    return store


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]


def _reopen_and_recover(source, loaded, caplog) -> AnalysisStore:
    """Reopening gives an empty store with one log line; analysing again works and sticks."""
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        store = AnalysisStore.open(source, loaded)
    assert len(_warnings(caplog)) == 1, _warnings(caplog)
    assert str(store.folder) in _warnings(caplog)[0]
    return store


@pytest.mark.parametrize("meta_edit", [
    lambda m: [m],  # a list, not an object
    lambda m: {k: v for k, v in m.items() if k != "size"},  # a key missing
    lambda m: {**m, "n_frames": "many"},  # not a number
    lambda m: {**m, "threshold": None},
])
def test_damaged_meta_is_discarded_and_reanalysed(source, loaded, caplog, meta_edit):
    store = _analysed(source, loaded)
    meta_path = store.folder / "meta.json"
    meta_path.write_text(json.dumps(meta_edit(json.loads(meta_path.read_text()))))
    store = _reopen_and_recover(source, loaded, caplog)
    assert len(store) == 0 and not any(store.has(i) for i in range(len(source)))
    _fill(store, source, range(len(source)))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        again = AnalysisStore.open(source, loaded)
    assert len(again) == len(source) and not _warnings(caplog)
    assert again.get(1).frame_prob == pytest.approx(0.3)


def test_cache_of_an_older_version_is_analysed_again_and_keeps_the_verdicts(source, loaded, caplog):
    """A version-1 cache has no frame times: it is analysed again, said once (not as damage),
    and the reviewer's verdicts beside it are kept."""
    store = _analysed(source, loaded)
    verdicts = store.folder / "verdicts.json"
    verdicts.write_text('{"verdicts": [{"best_index": 1, "verdict": "confirmed"}]}')
    meta_path = store.folder / "meta.json"
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "version": 1}))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        store = AnalysisStore.open(source, loaded)
    said = [r for r in caplog.records if r.name == LOGGER]
    assert [r.levelno for r in said] == [logging.INFO]
    assert "older version" in said[0].getMessage() and "analysed again" in said[0].getMessage()
    assert len(store) == 0 and not list(store.folder.glob("chunk_*.zip"))
    assert "confirmed" in verdicts.read_text()
    _fill(store, source, range(len(source)))
    assert len(AnalysisStore.open(source, loaded)) == len(source)


def _rewrite_index(chunk, edit) -> None:
    with zipfile.ZipFile(chunk) as z:
        files = {n: z.read(n) for n in z.namelist()}
    index = json.loads(files["frames.json"])
    files["frames.json"] = json.dumps(edit(index)).encode()
    with zipfile.ZipFile(chunk, "w") as z:
        for n, data in files.items():
            z.writestr(n, data)


@pytest.mark.parametrize("edit", [
    lambda ix: {"frames": [{k: v for k, v in e.items() if k != "frame_prob"} for e in ix["frames"]]},
    lambda ix: {"frames": [{**e, "letterbox": "wide"} for e in ix["frames"]]},
    lambda ix: {"frames": [{**e, "instances": [{"bbox": 3}]} for e in ix["frames"]]},
    lambda ix: {"frames": [{**e, "time_s": "soon"} for e in ix["frames"]]},
    lambda ix: [ix],
])
def test_damaged_frame_entries_are_discarded_and_reanalysed(source, loaded, caplog, edit):
    store = _analysed(source, loaded)
    chunk = next(store.folder.glob("chunk_*.zip"))
    _rewrite_index(chunk, edit)
    store = _reopen_and_recover(source, loaded, caplog)
    assert len(store) == 0 and not chunk.exists()
    _fill(store, source, [1])
    assert AnalysisStore.open(source, loaded).get(1).frame_prob == pytest.approx(0.3)


def test_chunk_with_bad_crc_is_discarded_once_and_reanalysed(source, loaded, caplog):
    store = _analysed(source, loaded)
    chunk = next(store.folder.glob("chunk_*.zip"))
    with zipfile.ZipFile(chunk) as z:
        info = z.getinfo("2.png")
    data = bytearray(chunk.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF  # inside the PNG: the zip CRC no longer holds
    chunk.write_bytes(bytes(data))
    store = AnalysisStore.open(source, loaded)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert store.has(2)  # the damage shows only when the frame is read
        with pytest.raises(KeyError, match="analysed again"):
            store.get(2)
        assert not any(store.has(i) for i in range(len(source)))  # its chunk is discarded
        for i in range(len(source)):
            with pytest.raises(KeyError):
                store.get(i)
    assert len(_warnings(caplog)) == 1 and str(chunk) in _warnings(caplog)[0]
    _fill(store, source, range(len(source)))
    again = AnalysisStore.open(source, loaded)
    assert len(again) == len(source) and again.get(2).frame_prob == pytest.approx(0.4)


def _break_crc(chunk, name: str) -> None:
    with zipfile.ZipFile(chunk) as z:
        info = z.getinfo(name)
    data = bytearray(chunk.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))


@pytest.mark.parametrize("live", [True, False], ids=["live-prediction", "no-live-prediction"])
def test_viewer_frame_from_a_damaged_chunk_is_analysed_in_the_same_request(source, loaded, caplog,
                                                                          tiny_model_path, live):
    """The viewer's frame job never reports a damaged cache entry as a failed frame: the entry
    is discarded and the frame analysed again at once (or shown as not analysed when live
    prediction is off)."""
    from polypviewer.engine.runtime.inference import Predictor
    from polypviewer.gui import jobs

    chunk = next(_analysed(source, loaded).folder.glob("chunk_*.zip"))
    _break_crc(chunk, "2.png")
    store = AnalysisStore.open(source, loaded)
    net = jobs.NetCopy(Predictor(tiny_model_path, device="cpu"))
    req = jobs.FrameRequest(0, 2, source, store, net, 0.5, 0.001, predict=live)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = jobs.load_frame(req)
    assert result.frame.index == 2
    assert len(_warnings(caplog)) == 1 and str(chunk) in _warnings(caplog)[0]
    if live:
        assert result.prediction is not None and store.has(2)
        assert result.prediction.frame_prob != pytest.approx(0.4)  # the model's, not the cache's
    else:
        assert result.prediction is None and not store.has(2)


def test_bad_crc_in_a_chunk_being_extended_keeps_the_new_frames(source, loaded, caplog):
    store = AnalysisStore.open(source, loaded)
    _fill(store, source, [0, 1])
    chunk = next(store.folder.glob("chunk_*.zip"))
    with zipfile.ZipFile(chunk) as z:
        info = z.getinfo("0.png")
    data = bytearray(chunk.read_bytes())
    data[info.header_offset + 30 + len(info.filename) + info.compress_size // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    store = AnalysisStore.open(source, loaded)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        _fill(store, source, [2, 3])  # rewriting the chunk reads the damaged frames
    assert len(_warnings(caplog)) == 1
    again = AnalysisStore.open(source, loaded)
    assert [again.has(i) for i in range(4)] == [False, False, True, True]
    assert again.get(3).frame_prob == pytest.approx(0.5)
