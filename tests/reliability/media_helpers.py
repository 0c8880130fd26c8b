"""Videos the tests make themselves: numbered frames, variable frame rate, damaged files.

The variable-frame-rate file is a minimal Matroska file written here (EBML by hand, MJPEG
frames from OpenCV) because OpenCV's writer only makes constant-rate files; Matroska stores
a timestamp per frame, so any frame times can be written without another dependency.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

W, H, BITS = 160, 96, 7
CELL = W // 8


def code_frame(i: int) -> np.ndarray:
    """BGR frame whose index is written as 7 big black/white squares (survives compression)."""
    img = np.full((H, W, 3), (40, 90, 160), np.uint8)
    for b in range(BITS):
        v = 255 if (i >> b) & 1 else 0
        img[8:8 + CELL, b * CELL + 2:(b + 1) * CELL - 2] = v
    cv2.circle(img, (10 + (i * 3) % (W - 20), 70), 8, (200, 200, 255), -1)
    return img


def decode_index(rgb: np.ndarray) -> int:
    i = 0
    for b in range(BITS):
        if rgb[8 + 4:8 + CELL - 4, b * CELL + 6:(b + 1) * CELL - 6].mean() > 128:
            i |= 1 << b
    return i


def make_video(path: Path, n: int, fourcc: str = "mp4v", fps: float = 25.0) -> Path:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (W, H))
    assert w.isOpened(), f"cannot write {fourcc} in this OpenCV"
    for i in range(n):
        w.write(code_frame(i))
    w.release()
    return path


# -- Matroska --------------------------------------------------------------------------------
def _size(n: int) -> bytes:
    """EBML variable-length size, always 8 bytes (simple and valid)."""
    return bytes([0x01]) + n.to_bytes(7, "big")


def _el(eid: int, payload: bytes) -> bytes:
    return eid.to_bytes((eid.bit_length() + 7) // 8, "big") + _size(len(payload)) + payload


def _uint(eid: int, v: int) -> bytes:
    return _el(eid, v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big"))


def _float(eid: int, v: float) -> bytes:
    return _el(eid, struct.pack(">d", v))


def write_mkv(path: Path, times_ms: list[int], *, duration: bool = True) -> Path:
    """MJPEG Matroska file with frame ``k`` shown at ``times_ms[k]`` (numbered frames)."""
    header = _el(0x1A45DFA3, _uint(0x4286, 1) + _uint(0x42F7, 1) + _uint(0x42F2, 4)
                 + _uint(0x42F3, 8) + _el(0x4282, b"matroska") + _uint(0x4287, 2)
                 + _uint(0x4285, 2))
    last = times_ms[-1] + (times_ms[-1] - times_ms[-2] if len(times_ms) > 1 else 40)
    info = _uint(0x2AD7B1, 1_000_000) + _el(0x4D80, b"polypviewer-tests") + _el(0x5741, b"tests")
    if duration:
        info += _float(0x4489, float(last))
    video = _uint(0xB0, W) + _uint(0xBA, H)
    track = _el(0xAE, _uint(0xD7, 1) + _uint(0x73C5, 1) + _uint(0x83, 1)
                + _el(0x86, b"V_MJPEG") + _el(0xE0, video))
    clusters = b""
    for start in range(0, len(times_ms), 20):  # block times are 16-bit offsets from the cluster
        base = times_ms[start]
        body = _uint(0xE7, base)
        for k in range(start, min(start + 20, len(times_ms))):
            jpg = cv2.imencode(".jpg", code_frame(k), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
            block = bytes([0x81]) + struct.pack(">h", times_ms[k] - base) + bytes([0x80]) + jpg
            body += _el(0xA3, block)
        clusters += _el(0x1F43B675, body)
    tracks = _el(0x1654AE6B, track)
    segment = _el(0x18538067, _el(0x1549A966, info) + tracks + clusters)
    path.write_bytes(header + segment)
    return path
