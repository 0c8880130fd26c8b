"""Videos the tests make themselves beyond ``coded_video``'s: variable frame rate, damaged files.

The variable-frame-rate file is a minimal Matroska file written here (EBML by hand, MJPEG
frames from OpenCV) because OpenCV's writer only makes constant-rate files; Matroska stores
a timestamp per frame, so any frame times can be written without another dependency.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
from coded_video import H, W, code_frame


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
