"""The annotated video is H.264 yuv420p at even size; without libx264 it still writes mp4v and says so."""

from __future__ import annotations

import logging

import av
import numpy as np
import pytest

from polypviewer.engine.analysis.tracking import track
from polypviewer.engine.errors import MediaError
from polypviewer.engine.export import video_encoder
from polypviewer.engine.export.video_encoder import VideoEncoder
from polypviewer.engine.export.writers import ExportOptions, export
from polypviewer.engine.media.sources import Frame
from polypviewer.engine.runtime.inference import from_probability


def _items(n: int, h: int, w: int):
    for i in range(n):
        rgb = np.zeros((h, w, 3), np.uint8)
        rgb[:, : (i * 7) % w] = (200, 80, 60)  # content that changes per frame
        prob = np.zeros((h, w), np.float32)
        prob[10:30, 10 + i:40 + i] = 0.9
        yield Frame(i, i / 30.0, rgb, f"clip_{i:06d}"), from_probability(prob, 0.9, 0.5)


def _export(items, out, **kw):
    """A video export reads its findings (one tracking path): track the items first."""
    items = list(items)
    found = track([(f.index, f.time_s, p.instances) for f, p in items])
    return export(items, out, ExportOptions(("mp4",), **kw), track=found)


def _read_back(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        info = (s.codec_context.name, s.codec_context.pix_fmt, s.width, s.height)
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(s)]
    return info, frames


def test_export_writes_h264_yuv420p_at_even_size(tmp_path):
    _export(_items(15, 67, 97), tmp_path / "out", fps=30.0)  # odd sizes on purpose
    (codec, pix_fmt, w, h), frames = _read_back(tmp_path / "out" / "annotated.mp4")
    assert (codec, pix_fmt, w, h) == ("h264", "yuv420p", 96, 66)
    assert len(frames) == 15  # the encoder's delayed frames were flushed


def test_h264_frames_keep_their_content(tmp_path):
    path = tmp_path / "v.mp4"
    enc = VideoEncoder(path, 25.0, 64, 48)
    assert enc.codec == "h264"
    sent = []
    for i in range(6):
        rgb = np.zeros((48, 64, 3), np.uint8)
        rgb[:, : 10 * (i + 1)] = (220, 40, 40)
        sent.append(rgb)
        enc.write(rgb)
    enc.close()
    _, frames = _read_back(path)
    assert len(frames) == len(sent)
    for a, b in zip(sent, frames):
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 8  # lossy, but the same picture


def test_frame_rate_is_kept(tmp_path):
    path = tmp_path / "v.mp4"
    enc = VideoEncoder(path, 29.97, 32, 32)
    for _ in range(3):
        enc.write(np.zeros((32, 32, 3), np.uint8))
    enc.close()
    with av.open(str(path)) as c:
        assert abs(float(c.streams.video[0].average_rate) - 29.97) < 0.01


def test_missing_h264_encoder_falls_back_to_mp4v_with_a_logged_reason(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(video_encoder, "H264_ENCODER", "no_such_encoder")
    with caplog.at_level(logging.WARNING, logger=video_encoder.__name__):
        _export(_items(5, 40, 60), tmp_path / "out", fps=25.0)
    (codec, _, w, h), frames = _read_back(tmp_path / "out" / "annotated.mp4")
    assert codec == "mpeg4" and (w, h) == (60, 40) and len(frames) == 5
    assert "H.264 encoding is not available" in caplog.text and "annotated.mp4" in caplog.text


def test_too_small_frame_is_one_clear_error(tmp_path):
    with pytest.raises(MediaError, match="too small"):
        VideoEncoder(tmp_path / "v.mp4", 25.0, 1, 40)


def test_frames_of_another_size_are_scaled_to_the_first(tmp_path):
    path = tmp_path / "v.mp4"
    enc = VideoEncoder(path, 25.0, 64, 48)
    enc.write(np.zeros((48, 64, 3), np.uint8))
    enc.write(np.full((96, 128, 3), 200, np.uint8))  # a bigger image from a mixed folder
    enc.close()
    (codec, _, w, h), frames = _read_back(path)
    assert (w, h) == (64, 48) and len(frames) == 2 and frames[1].mean() > 150
