"""VideoReader: exact frame count, sequential order, exact random seeks, clear errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from coded_video import H, W, decode_index, make_video

from polypviewer.engine.errors import MediaError
from polypviewer.engine.media.video import VideoReader


@pytest.fixture(scope="module", params=[("mp4v", ".mp4"), ("MJPG", ".avi")], ids=["mp4v", "mjpg"])
def video(request, tmp_path_factory) -> Path:
    fourcc, ext = request.param
    return make_video(tmp_path_factory.mktemp("vid") / f"clip{ext}", 64, fourcc)


def test_properties(video):
    with VideoReader(video) as r:
        assert r.frame_count == 64 and len(r) == 64
        assert (r.width, r.height) == (W, H)
        assert r.fps == pytest.approx(25.0)
        assert r.duration_s == pytest.approx(64 / 25)


def test_sequential_order_and_times(video):
    with VideoReader(video) as r:
        got = [(i, t, decode_index(rgb)) for i, t, rgb in r]
        assert [g[0] for g in got] == list(range(64))
        assert [g[2] for g in got] == list(range(64))
        assert got[10][1] == pytest.approx(10 / 25)
        part = [(i, decode_index(rgb)) for i, _, rgb in r.frames(50, 55)]
        assert part == [(i, i) for i in range(50, 55)]


def test_rgb_channel_order(video):
    with VideoReader(video) as r:
        rgb = r.read(0)
        assert rgb.dtype == np.uint8 and rgb.shape == (H, W, 3)
        r_, g_, b_ = rgb[H - 4, W - 4].astype(int)  # background was BGR (40, 90, 160)
        assert r_ > g_ > b_


@pytest.mark.parametrize("grab_ahead", [0, 4, 32])
def test_random_exact_seeks(video, grab_ahead):
    order = [37, 3, 58, 0, 63, 62, 1, 40, 41, 39, 20, -1]
    with VideoReader(video, grab_ahead=grab_ahead) as r:
        for n in order:
            assert decode_index(r.read(n)) == n % 64, f"read({n})"


def test_iteration_survives_interleaved_reads(video):
    with VideoReader(video) as r:
        seen = []
        for i, _, rgb in r.frames(10, 16):
            seen.append((i, decode_index(rgb)))
            r.read(50)  # the GUI may seek while a pass is running
        assert seen == [(i, i) for i in range(10, 16)]


def test_out_of_range_and_closed(video):
    r = VideoReader(video)
    with pytest.raises(IndexError):
        r.read(64)
    with pytest.raises(IndexError):
        r.read(-65)
    r.close()
    with pytest.raises(MediaError, match="closed"):
        r.read(5)


class LyingCapture:
    """A real capture whose seeks land ``off`` frames early while reporting the target,
    and whose header frame count is ``extra`` off: what some real files do."""

    def __init__(self, cap, off: int = 0, extra: int = 0):
        self.cap, self.off, self.extra = cap, off, extra
        self.claimed = None

    def __getattr__(self, name):
        return getattr(self.cap, name)

    def set(self, prop, value):
        if prop == cv2.CAP_PROP_POS_FRAMES:
            self.claimed = int(value)
            return self.cap.set(prop, max(0, int(value) - self.off))
        return self.cap.set(prop, value)

    def get(self, prop):
        if prop == cv2.CAP_PROP_FRAME_COUNT:
            return self.cap.get(prop) + self.extra
        if prop == cv2.CAP_PROP_POS_FRAMES and self.claimed is not None:
            return float(self.claimed)
        return self.cap.get(prop)

    def read(self):
        self.claimed = None
        return self.cap.read()

    def grab(self):
        self.claimed = None
        return self.cap.grab()


def _patch(monkeypatch, off=0, extra=0):
    real_open = VideoReader._open

    def lying_open(self):
        cap = real_open(self)
        return None if cap is None else LyingCapture(cap, off, extra)

    monkeypatch.setattr(VideoReader, "_open", lying_open)


def test_inexact_seeks_are_detected_and_avoided(video, monkeypatch):
    _patch(monkeypatch, off=2)
    with VideoReader(video, grab_ahead=2) as r:
        assert r.seek_exact is False
        for n in [37, 3, 58, 0, 63, 20]:
            assert decode_index(r.read(n)) == n


def test_exact_seeks_are_trusted(video):
    with VideoReader(video) as r:
        assert r.seek_exact is True


@pytest.mark.parametrize("extra", [5, -5])
def test_wrong_header_frame_count_is_corrected(video, monkeypatch, extra):
    _patch(monkeypatch, extra=extra)
    with VideoReader(video) as r:
        assert r.frame_count == 64
        assert decode_index(r.read(-1)) == 63
        assert sum(1 for _ in r) == 64


def test_missing_empty_and_bogus_files(tmp_path):
    with pytest.raises(MediaError, match="does not exist"):
        VideoReader(tmp_path / "nope.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        VideoReader(tmp_path / "empty.mp4")
    (tmp_path / "notes.mp4").write_text("this is not a video\n" * 50)
    with pytest.raises(MediaError) as err:
        VideoReader(tmp_path / "notes.mp4")
    assert "notes.mp4" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(MediaError, match="not a file"):
        VideoReader(tmp_path)


def test_video_without_frames(tmp_path):
    p = tmp_path / "noframes.avi"
    w = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"MJPG"), 25, (W, H))
    w.release()
    if not p.exists() or p.stat().st_size == 0:
        p.write_bytes(b"RIFF\x00\x00\x00\x00AVI LIST")
    with pytest.raises(MediaError):
        VideoReader(p)


def test_truncated_video_keeps_decodable_prefix(tmp_path):
    src = make_video(tmp_path / "full.avi", 40, "MJPG")
    data = src.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    with VideoReader(cut) as r:
        n = r.frame_count
        assert 5 < n < 40
        frames = [decode_index(rgb) for _, _, rgb in r]
        assert frames == list(range(len(frames))) and len(frames) == n
