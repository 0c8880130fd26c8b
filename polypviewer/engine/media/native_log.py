"""Keep the C libraries' own log lines (libpng, libjpeg, OpenCV, FFmpeg) off the terminal.

A damaged file makes libpng or libjpeg print to file descriptor 2 before OpenCV returns, so the
user saw "libpng error: IDAT: bad header" above the one clear line the app prints. OpenCV's and
FFmpeg's loggers are turned down through their own switches; libpng and libjpeg have none from
Python, so decoder calls run inside :func:`captured_stderr`, which points fd 2 at a temporary file
for the call and hands the captured text back (the reader logs it at DEBUG and may quote it).
Writes by other threads in that window are not lost: whatever is not a decoder line is written
back to the real stderr afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator

import cv2

log = logging.getLogger(__name__)

# FFmpeg reads this once, when OpenCV first opens a video: -8 is AV_LOG_QUIET.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
try:
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # no "[ WARN:0@...]" lines
except AttributeError:  # an OpenCV build without the logging module
    pass

_DECODER_LINE = re.compile(
    r"^(libpng |libtiff|Corrupt JPEG|Premature end of JPEG|Invalid (SOS|JPEG)|Bogus |"
    r"Unsupported marker|JPEG datastream|Warning: |\[ ?(WARN|ERROR|INFO)|\[\w+ @ 0x)")

_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None
_tmp = None


def _begin() -> None:
    global _depth, _saved_fd, _tmp
    with _lock:
        _depth += 1
        if _depth > 1:
            return
        try:
            sys.stderr.flush()
        except (AttributeError, OSError, ValueError):
            pass
        try:
            if _tmp is None:  # one file, emptied after each use
                _tmp = tempfile.TemporaryFile()
            _saved_fd = os.dup(2)
            os.dup2(_tmp.fileno(), 2)
        except OSError:  # no fd 2 (pythonw) or no temp space: decode uncaptured
            _saved_fd = None


def _end() -> str:
    global _depth, _saved_fd, _tmp
    with _lock:
        _depth -= 1
        if _depth > 0 or _saved_fd is None or _tmp is None:
            return ""
        os.dup2(_saved_fd, 2)
        os.close(_saved_fd)
        _saved_fd = None
        _tmp.seek(0)
        text = _tmp.read().decode("utf-8", "replace")
        _tmp.seek(0)
        _tmp.truncate()
    ours, other = [], []
    for line in text.splitlines(keepends=True):
        (ours if _DECODER_LINE.match(line) else other).append(line)
    if other:  # another thread's output that landed in the window
        with contextlib.suppress(OSError):
            os.write(2, "".join(other).encode())
    return "".join(ours)


@contextlib.contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Run a native call with fd 2 captured; the list gets the decoder's lines afterwards."""
    lines: list[str] = []
    _begin()
    try:
        yield lines
    finally:
        text = _end()
        lines.extend(s.strip() for s in text.splitlines() if s.strip())
        for s in lines:
            log.debug("decoder: %s", s)
