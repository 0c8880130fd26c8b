"""Width and height from an image file's first bytes, without decoding any pixels.

OpenCV has no header-only call, and it allocates the full image before it notices that the data
is short, so the pixel limit needs the size from here. Only the formats the app reads are
recognised; anything else is ``None`` (and is not handed to a decoder at all).
"""

from __future__ import annotations

import struct

# First bytes of the image formats we read: lets a folder skip junk without decoding it.
MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"BM")

# JPEG start-of-frame markers (C4 DHT, C8 JPG and CC DAC share the range but are not frames)
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # markers without a length field


def _png(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def _jpeg(data: bytes) -> tuple[int, int] | None:
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:  # stray bytes between segments: libjpeg skips them too
            j = data.find(b"\xff", i)
            if j < 0:
                return None
            i = j
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _STANDALONE:
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if marker in _SOF:
            if i + 9 > n:
                return None
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + length
    return None


def _bmp(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    (dib,) = struct.unpack("<I", data[14:18])
    if dib == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        w, h = struct.unpack("<HH", data[18:22])
    else:
        w, h = struct.unpack("<ii", data[18:26])
    return abs(w), abs(h)  # negative height: rows stored top-down


def _tiff(data: bytes) -> tuple[int, int] | None:
    end = "<" if data[:2] == b"II" else ">"
    if len(data) < 8:
        return None
    (ifd,) = struct.unpack(end + "I", data[4:8])
    if ifd + 2 > len(data):
        return None
    (count,) = struct.unpack(end + "H", data[ifd:ifd + 2])
    found: dict[int, int] = {}
    for k in range(count):
        e = ifd + 2 + 12 * k
        if e + 12 > len(data):
            break
        tag, typ = struct.unpack(end + "HH", data[e:e + 4])
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG
            fmt = end + ("H" if typ == 3 else "I")
            found[tag] = struct.unpack(fmt, data[e + 8:e + 8 + struct.calcsize(fmt)])[0]
    if 256 in found and 257 in found:
        return found[256], found[257]
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` announced by a PNG, JPEG, BMP or TIFF header; None if unrecognised."""
    if data.startswith(MAGIC[1]):
        return _png(data)
    if data.startswith(MAGIC[0]):
        return _jpeg(data)
    if data.startswith(MAGIC[4]):
        return _bmp(data)
    if data.startswith((MAGIC[2], MAGIC[3])):
        return _tiff(data)
    return None
