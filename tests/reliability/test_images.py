"""Bad images: decompression bombs refused from the header, decoder noise kept off stderr."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from analysis_job import run_analysis_job

from polypviewer.engine.errors import MediaError
from polypviewer.engine.media import imageio
from polypviewer.engine.media.imageio import read_image, read_mask

LIMIT_ENV = "POLYPVIEWER_MAX_PIXELS"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png_bomb(path: Path, side: int = 20000) -> Path:
    """A valid 1-bit grey PNG of side x side pixels, about 50 kB on disk (rows compressed as made)."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    body = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body)
                     + _chunk(b"IEND", b""))
    return path


def _small_bgr() -> np.ndarray:
    return np.full((30, 40, 3), (20, 60, 200), np.uint8)


def write_jpeg_bomb(path: Path, w: int = 60000, h: int = 50000) -> Path:
    """A small JPEG whose frame header announces w x h."""
    ok, buf = cv2.imencode(".jpg", _small_bgr())
    data = bytearray(buf.tobytes())
    i = data.index(b"\xff\xc0")  # baseline frame header: len(2) precision(1) height(2) width(2)
    data[i + 5:i + 9] = struct.pack(">HH", h, w)
    path.write_bytes(bytes(data))
    return path


def write_bmp_bomb(path: Path) -> Path:
    ok, buf = cv2.imencode(".bmp", _small_bgr())
    data = bytearray(buf.tobytes())
    data[18:26] = struct.pack("<ii", 40000, -40000)  # top-down rows: negative height
    path.write_bytes(bytes(data))
    return path


def write_tiff_bomb(path: Path) -> Path:
    tifffile.imwrite(path, _small_bgr()[..., ::-1], photometric="rgb")
    with tifffile.TiffFile(path, mode="r+b") as tf:
        tf.pages[0].tags["ImageWidth"].overwrite(30000)
        tf.pages[0].tags["ImageLength"].overwrite(30000)
    return path


@pytest.fixture
def decode_spy(monkeypatch):
    """Every decoder call the reader makes, recorded; the bomb tests assert there are none."""
    calls: list[str] = []
    real_imdecode, real_tiff = cv2.imdecode, tifffile.imread

    def imdecode(buf, flags):
        calls.append("cv2.imdecode")
        return real_imdecode(buf, flags)

    def tiff_imread(*a, **k):
        calls.append("tifffile.imread")
        return real_tiff(*a, **k)

    monkeypatch.setattr(cv2, "imdecode", imdecode)
    monkeypatch.setattr(tifffile, "imread", tiff_imread)
    monkeypatch.delenv(LIMIT_ENV, raising=False)
    return calls


@pytest.mark.parametrize("make, name", [(write_png_bomb, "bomb.png"), (write_jpeg_bomb, "bomb.jpg"),
                                        (write_bmp_bomb, "bomb.bmp"), (write_tiff_bomb, "bomb.tif")])
@pytest.mark.parametrize("reader", [read_image, read_mask])
def test_bomb_is_refused_from_the_header_without_decoding(tmp_path, decode_spy, make, name, reader):
    path = make(tmp_path / name)
    assert path.stat().st_size < 200_000
    with pytest.raises(MediaError, match=rf"{name}.*megapixels.*limit.*--max-pixels") as e:
        reader(path)
    assert "max_image_pixels" in str(e.value)  # the setting that raises it is named too
    assert decode_spy == []


def test_normal_images_still_decode(tmp_path, decode_spy):
    cv2.imwrite(str(tmp_path / "ok.png"), _small_bgr())
    assert read_image(tmp_path / "ok.png").shape == (30, 40, 3)
    assert decode_spy == ["cv2.imdecode"]


def test_limit_can_be_raised_and_lowered(tmp_path, monkeypatch):
    p = tmp_path / "mid.png"
    cv2.imwrite(str(p), np.zeros((200, 300, 3), np.uint8))
    monkeypatch.setenv(LIMIT_ENV, "50000")
    assert imageio.max_pixels() == 50_000
    with pytest.raises(MediaError, match="mid.png is 300x200"):
        read_image(p)
    imageio.set_max_pixels(60_000)
    assert read_image(p).shape == (200, 300, 3)
    imageio.set_max_pixels(1000, override=False)  # a saved setting never beats an explicit value
    assert imageio.max_pixels() == 60_000
    with pytest.raises(ValueError):
        imageio.set_max_pixels(0)


def test_bad_limit_in_the_environment_falls_back_to_default(monkeypatch):
    monkeypatch.setenv(LIMIT_ENV, "lots")
    assert imageio.max_pixels() == imageio.DEFAULT_MAX_PIXELS


def test_unknown_content_is_not_decoded(tmp_path, decode_spy):
    p = tmp_path / "odd.png"
    ok, buf = cv2.imencode(".ppm", _small_bgr())  # a format OpenCV reads but we do not check
    p.write_bytes(buf.tobytes())
    with pytest.raises(MediaError, match="odd.png.*not a supported image"):
        read_image(p)
    assert decode_spy == []


def test_bomb_inside_a_folder_is_skipped_by_name(tmp_path, decode_spy):
    from polypviewer.engine.media.sources import open_source

    cv2.imwrite(str(tmp_path / "a.png"), _small_bgr())
    write_png_bomb(tmp_path / "b.png")
    src = open_source(tmp_path)
    names = [f.name for f in src.frames()]
    assert names == ["a"]
    assert [n for n, _ in src.skipped] == ["b.png"] and "megapixels" in src.skipped[0][1]


def test_training_cache_refuses_a_bomb(tmp_path, decode_spy):
    from synthetic import TINY, write_dataset

    from polypviewer.engine.media.dataset import find_pairs
    from training.data import load_cached

    root = write_dataset(tmp_path / "ds", n=2)
    write_png_bomb(root / "images" / "img01.png")
    with pytest.raises(MediaError, match="img01.png.*megapixels"):
        load_cached(find_pairs(root), TINY, None, workers=1)
    assert decode_spy.count("cv2.imdecode") <= 2  # the good image and its mask at most


@pytest.mark.parametrize("kind", ["png_truncated", "png_bad_crc", "jpeg_garbage"])
def test_decoder_messages_do_not_reach_stderr(tmp_path, capfd, kind):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)
    png = cv2.imencode(".png", img)[1].tobytes()
    jpg = cv2.imencode(".jpg", img)[1].tobytes()
    data = {"png_truncated": png[: len(png) // 2],
            "png_bad_crc": png[:40] + bytes([png[40] ^ 0xFF]) + png[41:],
            "jpeg_garbage": jpg[:200] + b"\x00" * 300 + jpg[500:]}[kind]
    p = tmp_path / f"broken{'.png' if kind.startswith('png') else '.jpg'}"
    p.write_bytes(data)
    try:
        read_image(p)
    except MediaError as e:
        assert p.name in str(e) and "\n" not in str(e)
    out, err = capfd.readouterr()
    assert err == "" and out == ""


def test_mask_of_another_size_is_resized_in_one_place(caplog):
    small = np.zeros((10, 20), bool)
    small[2:8, 5:15] = True
    with caplog.at_level("WARNING"):
        big = imageio.fit_mask(small, (40, 80), "m.png")
    assert big.shape == (40, 80) and big.dtype == np.bool_
    assert set(np.unique(big)) == {False, True}  # nearest neighbour: still binary
    assert big[8:32, 20:60].all() and not big[:8].any()
    assert any("m.png" in r.getMessage() and "20x10" in r.getMessage() for r in caplog.records)
    assert imageio.fit_mask(big, (40, 80), "m.png") is big


# -- one bad image in a folder: skipped, named, listed at the end, in every path -----------------
@pytest.fixture
def folder_with_bad(tmp_path) -> Path:
    from synthetic import synthetic_frame

    d = tmp_path / "in"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(d / f"frame{i}.png"), synthetic_frame(rng)[0])
    cv2.imwrite(str(d / "frame1.png"), np.zeros((1, 1, 3), np.uint8))  # "image too small (1x1)"
    return d


def test_source_walk_skips_and_names_the_bad_image(folder_with_bad):
    from polypviewer.engine.media.sources import open_source

    src = open_source(folder_with_bad)
    assert [f.name for f in src.frames()] == ["frame0", "frame2"]
    (line,) = src.problems()
    assert "frame1.png" in line and "1x1" in line


def test_predict_names_the_skipped_image_at_the_end(folder_with_bad, tmp_path, tiny_model_path, capsys):
    from polypviewer.cli.common import EXIT_INCOMPLETE
    from polypviewer.cli.main import main

    rc = main(["predict", str(folder_with_bad), "--out", str(tmp_path / "o"),
               "--model", str(tiny_model_path), "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == EXIT_INCOMPLETE
    assert any("frame1.png" in s and "1x1" in s for s in err[-2:])  # listed at the end
    assert sorted(p.name for p in (tmp_path / "o" / "masks").iterdir()) == ["frame0.png", "frame2.png"]


def test_export_skips_the_bad_image_instead_of_aborting(folder_with_bad, tmp_path, tiny_model_path,
                                                       capsys):
    from polypviewer.cli.common import EXIT_INCOMPLETE
    from polypviewer.cli.main import main

    out = tmp_path / "exp"
    rc = main(["export", str(folder_with_bad), "--format", "png,json", "--out", str(out),
               "--model", str(tiny_model_path), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == EXIT_INCOMPLETE and "frame1.png" in err
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["frame0.png", "frame2.png"]
    notes = json.loads((out / "predictions.json").read_text())["settings"]["input problems"]
    assert len(notes) == 1 and "frame1.png" in notes[0]


def test_gui_analysis_job_skips_and_reports_the_bad_image(folder_with_bad, tiny_model_path):
    ok, progress, store = run_analysis_job(folder_with_bad, tiny_model_path)
    assert ok is True and [store.has(i) for i in range(3)] == [True, False, True]
    assert any("frame1.png" in line for p in progress for line in p.problems)


def test_gui_worker_logs_expected_media_errors_without_traceback(tmp_path, capfd, caplog):
    from polypviewer.gui.workers import Task

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    failures = []
    task = Task.call(lambda: read_image(bad), "test")
    task.failed.connect(lambda _t, msg: failures.append(msg))
    with caplog.at_level("WARNING"):
        task._run()  # the thread body, run here
    assert len(failures) == 1 and "bad.png" in failures[0]
    assert "Traceback" not in capfd.readouterr().err
    assert any("bad.png" in r.getMessage() for r in caplog.records)
