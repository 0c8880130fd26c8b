"""Images in every form users have become RGB uint8; bad files give a clear MediaError."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import tifffile

from polypviewer.engine.errors import MediaError
from polypviewer.engine.media.imageio import read_image, read_mask, write_png

RED = np.zeros((12, 16, 3), np.uint8)
RED[..., 0] = 255


def _is_red(img: np.ndarray) -> bool:
    return bool(img[..., 0].min() > 200 and img[..., 1:].max() < 30)


def test_png_rgb_channel_order(tmp_path):
    cv2.imwrite(str(tmp_path / "r.png"), cv2.cvtColor(RED, cv2.COLOR_RGB2BGR))
    img = read_image(tmp_path / "r.png")
    assert img.dtype == np.uint8 and img.shape == (12, 16, 3) and _is_red(img)


def test_16bit_png(tmp_path):
    arr = np.zeros((10, 10, 3), np.uint16)
    arr[..., 2] = 65535  # BGR on disk -> red
    arr[..., 1] = 32768
    cv2.imwrite(str(tmp_path / "d.png"), arr)
    img = read_image(tmp_path / "d.png")
    assert img.dtype == np.uint8
    assert img[0, 0, 0] == 255 and img[0, 0, 1] in (127, 128) and img[0, 0, 2] == 0


def test_greyscale_and_rgba(tmp_path):
    grey = np.tile(np.arange(0, 200, 10, dtype=np.uint8), (8, 1))
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    img = read_image(tmp_path / "g.png")
    assert img.shape == (8, 20, 3)
    assert np.array_equal(img[..., 0], grey) and np.array_equal(img[..., 2], grey)
    bgra = np.zeros((8, 8, 4), np.uint8)
    bgra[..., 2] = 255
    bgra[..., 3] = 10  # nearly transparent: alpha is dropped, colour kept
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    img = read_image(tmp_path / "a.png")
    assert img.shape == (8, 8, 3) and _is_red(img)


@pytest.mark.parametrize("planar", [True, False])
def test_tiff_colour_preserved(tmp_path, planar):
    path = tmp_path / ("p.tif" if planar else "c.tiff")
    data = np.moveaxis(RED, -1, 0) if planar else RED
    tifffile.imwrite(path, data, photometric="rgb",
                     planarconfig="separate" if planar else "contig")
    img = read_image(path)
    assert img.shape == (12, 16, 3) and _is_red(img)


def test_tiff_16bit(tmp_path):
    arr = (RED.astype(np.uint16) * 257)
    tifffile.imwrite(tmp_path / "w.tif", arr, photometric="rgb")
    img = read_image(tmp_path / "w.tif")
    assert img.dtype == np.uint8 and _is_red(img)


def test_bmp(tmp_path):
    cv2.imwrite(str(tmp_path / "b.bmp"), cv2.cvtColor(RED, cv2.COLOR_RGB2BGR))
    assert _is_red(read_image(tmp_path / "b.bmp"))


def test_corrupt_and_fake_files(tmp_path):
    ok, buf = cv2.imencode(".png", RED)
    (tmp_path / "cut.png").write_bytes(buf.tobytes()[:40])
    with pytest.raises(MediaError, match="cut.png"):
        read_image(tmp_path / "cut.png")
    (tmp_path / "notes.jpg").write_text("this is a text file, not a photo\n")
    with pytest.raises(MediaError, match="notes.jpg.*not a supported image"):
        read_image(tmp_path / "notes.jpg")
    (tmp_path / "bad.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(MediaError, match="bad.tif"):
        read_image(tmp_path / "bad.tif")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(MediaError):
        read_image(tmp_path / "empty.png")


def test_missing_and_directory(tmp_path):
    with pytest.raises(MediaError, match="does not exist"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(MediaError, match="not a file"):
        read_image(tmp_path)


def test_read_mask_threshold(tmp_path):
    m = np.array([[0, 120, 127], [128, 135, 255]], np.uint8)
    m = np.repeat(np.repeat(m, 4, 0), 4, 1)
    cv2.imwrite(str(tmp_path / "m.png"), m)
    mask = read_mask(tmp_path / "m.png")
    assert mask.dtype == np.bool_ and mask.shape == (8, 12)
    expected = np.repeat(np.repeat(np.array([[0, 0, 0], [1, 1, 1]], bool), 4, 0), 4, 1)
    assert np.array_equal(mask, expected)


def test_read_colour_mask(tmp_path):
    m = np.zeros((6, 6, 3), np.uint8)
    m[:3, :, 1] = 200  # any channel above the threshold counts
    cv2.imwrite(str(tmp_path / "c.png"), m)
    mask = read_mask(tmp_path / "c.png")
    assert mask[:3].all() and not mask[3:].any()


def test_write_png_round_trip(tmp_path):
    write_png(tmp_path / "out.png", RED)
    assert _is_red(read_image(tmp_path / "out.png"))
    b = np.zeros((5, 7), bool)
    b[1:3, 2:5] = True
    write_png(tmp_path / "mask.png", b)
    assert np.array_equal(read_mask(tmp_path / "mask.png"), b)
