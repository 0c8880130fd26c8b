"""open_source: one API over an image, a folder, a video and a dataset."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from polypviewer.engine.errors import MediaError, PolypViewerError
from polypviewer.engine.media.sources import (
    DatasetSource,
    FolderSource,
    Frame,
    ImageSource,
    VideoSource,
    open_source,
)


def make_video(path: Path, n: int, fps: float) -> Path:
    """Frame i is a flat grey of level 8 * i: survives compression, decodes by its mean."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (64, 48))
    for i in range(n):
        w.write(np.full((48, 64, 3), 8 * i, np.uint8))
    w.release()
    return path


def decode_index(rgb: np.ndarray) -> int:
    return int(round(float(rgb.mean()) / 8))


def _write(path: Path, value: int, size=(40, 30)) -> Path:
    img = np.full((size[1], size[0], 3), value, np.uint8)
    img[..., 0] = 10  # blue channel in BGR: checks RGB conversion
    cv2.imwrite(str(path), img)
    return path


def test_image_source(tmp_path):
    p = _write(tmp_path / "one.png", 200)
    with open_source(p) as src:
        assert isinstance(src, ImageSource) and src.kind == "image"
        assert len(src) == 1 and src.fps is None and src.name(0) == "one"
        f = src[0]
        assert isinstance(f, Frame) and f.index == 0 and f.time_s is None and f.gt_mask is None
        assert f.rgb.shape == (30, 40, 3) and tuple(f.rgb[0, 0]) == (200, 200, 10)
        assert [fr.name for fr in src] == ["one"]
        with pytest.raises(IndexError):
            src[1]


def test_bad_single_image_fails_on_open(tmp_path):
    p = tmp_path / "bad.jpg"
    p.write_text("hello")
    with pytest.raises(MediaError, match="bad.jpg"):
        open_source(p)


def test_folder_source_natural_order_and_skips(tmp_path):
    d = tmp_path / "seq"
    d.mkdir()
    for i in (10, 2, 1):
        _write(d / f"frame{i}.png", 20 * i)
    _write(d / "frame3.jpg", 60)
    (d / "empty.png").write_bytes(b"")
    (d / "notes.jpg").write_text("not an image")
    (d / "readme.txt").write_text("ignored: not an image extension")
    (d / "sub").mkdir()
    src = open_source(d)
    assert isinstance(src, FolderSource) and src.kind == "folder" and src.fps is None
    assert len(src) == 4
    assert [src.name(i) for i in range(4)] == ["frame1", "frame2", "frame3", "frame10"]
    assert dict(src.skipped).keys() == {"empty.png", "notes.jpg"}
    assert "empty" in dict(src.skipped)["empty.png"]
    frames = list(src)
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert frames[3].rgb[0, 0, 0] == 200 and src[-1].name == "frame10"
    assert src[1].rgb[0, 0, 0] == 40


def test_folder_without_images(tmp_path):
    (tmp_path / "junk.png").write_text("x")
    with pytest.raises(MediaError, match="no readable images"):
        open_source(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MediaError):
        open_source(empty)


def test_video_source(tmp_path):
    p = make_video(tmp_path / "clip.mp4", 30, fps=10)
    with open_source(p) as src:
        assert isinstance(src, VideoSource) and src.kind == "video"
        assert len(src) == 30 and src.fps == pytest.approx(10)
        f = src[17]
        assert f.index == 17 and decode_index(f.rgb) == 17 and f.time_s == pytest.approx(1.7)
        assert f.name == src.name(17) == "clip_000017" and f.gt_mask is None
        assert decode_index(src[3].rgb) == 3
        seq = list(src)
        assert [f.index for f in seq] == list(range(30))
        assert [decode_index(f.rgb) for f in seq] == list(range(30))


def test_dataset_source_with_missing_mask_and_split(dataset, tmp_path):
    root = dataset  # conftest: images/img00..img05.png + masks/
    for i in (4, 5):
        (root / "images" / f"img{i:02d}.png").unlink()
    (root / "masks" / "img02.png").unlink()
    src = open_source(root)
    assert isinstance(src, DatasetSource) and src.kind == "dataset" and src.fps is None
    assert len(src) == 4 and [src.name(i) for i in range(4)] == ["img00", "img01", "img02", "img03"]
    f = src[0]
    assert f.gt_mask is not None and f.gt_mask.dtype == bool
    assert f.gt_mask.shape == f.rgb.shape[:2] and f.gt_mask.any()
    assert src[2].gt_mask is None
    assert [fr.gt_mask is None for fr in src] == [False, False, True, False]

    split = tmp_path / "val.txt"
    split.write_text("# held out\nimg03\nimg01.png\n")
    sub = open_source(root, split=split)
    assert [sub.name(i) for i in range(len(sub))] == ["img03", "img01"]
    assert sub[0].name == "img03" and sub[0].gt_mask is not None


def test_dataset_mask_of_other_size_is_aligned(dataset):
    root = dataset
    m = np.zeros((48, 64), np.uint8)
    m[:, 32:] = 255
    cv2.imwrite(str(root / "masks" / "img00.png"), m)
    f = open_source(root)[0]
    assert f.gt_mask.shape == f.rgb.shape[:2]
    assert f.gt_mask[:, -1].all() and not f.gt_mask[:, 0].any()


def test_split_with_unknown_stem_is_an_error(dataset):
    with pytest.raises(PolypViewerError, match="not in"):
        open_source(dataset, split=["img00", "zzz"])


def test_unsupported_and_missing_paths(tmp_path):
    with pytest.raises(MediaError, match="does not exist"):
        open_source(tmp_path / "nothing.png")
    doc = tmp_path / "report.pdf"
    doc.write_bytes(b"%PDF-1.4")
    with pytest.raises(MediaError, match="unsupported"):
        open_source(doc)
    bogus = tmp_path / "fake.mp4"
    bogus.write_text("not a video")
    with pytest.raises(MediaError):
        open_source(bogus)
    img = _write(tmp_path / "x.png", 5)
    with pytest.raises(MediaError, match="split"):
        open_source(img, split=["x"])
