"""Frame-exact video access over OpenCV's FFmpeg backend.

Why not just ``cap.set(CAP_PROP_POS_FRAMES, n)``: OpenCV maps frame numbers to timestamps, so
on files with odd timestamps (B-frame offsets, variable frame rate, estimated frame counts) a
seek can land a few frames off while still *reporting* ``n``. A mask shown on the wrong frame is
worse than a slow seek, so :class:`VideoReader`:

* grabs forward when the target is a little ahead of the current position (always exact);
* before trusting seeks on a file, checks once that a seek decodes the very same pixels as a
  sequential decode (``seek_exact``); if not, far and backward reads re-decode from the start;
* verifies the header frame count by reading the last frame and failing on the next one, and
  counts frames by decoding them all only when that check fails.

Frame times are the stream's presentation timestamps (``CAP_PROP_POS_MSEC`` after each decode),
not ``index / fps``: in a variable-frame-rate file the two drift apart by seconds. A frame not
decoded yet falls back to ``index / fps``. A file that ends before the frames its header
announces (damage, truncation) is reported by :meth:`VideoReader.shortfall`.

One reader per thread: an OpenCV capture is not safe to share between threads.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from ..errors import MediaError
from .imageio import check_size
from .native_log import captured_stderr

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv")
DEFAULT_FPS = 25.0
GRAB_AHEAD = 32  # forward jumps up to this many frames are decoded, not sought
SEEK_PROBE_MAX = 120  # the seek self-check decodes at most this many frames
SAME_FRAME_TOL = 0.1  # mean abs difference (0..255) under which two decodes are one frame
_UNKNOWN = 1 << 62  # capture position after a failure: forces a rewind
# containers whose header frame count is exact; the others' is duration x fps, an estimate
EXACT_COUNT_EXTS = (".mp4", ".m4v", ".mov", ".avi")
ESTIMATE_SLACK = 0.9  # an estimated length is short only below this share of the announced


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and float(cv2.absdiff(a, b).mean()) <= SAME_FRAME_TOL


class VideoReader:
    """Exact random access (``read(n)``) and fast sequential reading (``frames()``) of a video."""

    def __init__(self, path: str | Path, *, grab_ahead: int = GRAB_AHEAD):
        self.path = Path(path)
        self.grab_ahead = max(0, int(grab_ahead))
        name = self.path.name
        if not self.path.exists():
            raise MediaError(f"{self.path} does not exist")
        if not self.path.is_file():
            raise MediaError(f"{self.path} is not a file")
        if self.path.stat().st_size == 0:
            raise MediaError(f"cannot open {name}: the file is empty")
        self._times: dict[int, float] = {}  # presentation time (s) of frames decoded so far
        self.first_bad: int | None = None  # first frame that failed to decode in order
        self._cap: cv2.VideoCapture | None = self._open()
        if self._cap is None:
            raise MediaError(f"cannot open {name}: not a video OpenCV/FFmpeg can read, or damaged")
        w, h = (int(self._cap.get(p) or 0) for p in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT))
        if w > 0 and h > 0:
            try:
                check_size(name, w, h)
            except MediaError:
                self.close()
                raise
        with captured_stderr():
            ok, bgr = self._cap.read()
        if not ok or bgr is None:
            self.close()
            raise MediaError(f"cannot read {name}: the video has no decodable frames")
        self._note_time(self._cap, 0)
        self._pos = 1  # index of the next frame the capture will decode
        self._last: tuple[int, np.ndarray] | None = (0, bgr)
        self.height, self.width = int(bgr.shape[0]), int(bgr.shape[1])
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and math.isfinite(fps) and 0 < fps <= 1000 else DEFAULT_FPS
        header = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self._header_count = int(header) if header and math.isfinite(header) and header > 0 else 0
        self.announced_frames: int | None = self._header_count or None
        self._count: int | None = None
        self._count_exact = False  # True once counted or verified
        self._seek_ok: bool | None = None  # None until checked

    # -- opening ---------------------------------------------------------------------------
    def _open(self) -> cv2.VideoCapture | None:
        with captured_stderr():
            cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            return None
        return cap

    def _reopen(self) -> None:
        """Rewind by reopening: the one rewind that does not depend on timestamps."""
        self._require_open()
        self._cap.release()
        self._cap = self._open()
        if self._cap is None:
            raise MediaError(f"cannot reopen {self.path.name}")
        self._pos = 0

    def _require_open(self) -> None:
        if self._cap is None:
            raise MediaError(f"{self.path.name} is closed")

    # -- properties ------------------------------------------------------------------------
    @property
    def frame_count(self) -> int:
        """Exact number of decodable frames (verified once, counted by decoding if needed)."""
        if self._count is None:
            self._count = self._verified_count()
            self._count_exact = True
        return self._count

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps

    @property
    def seek_exact(self) -> bool:
        """Whether this file's seeks were checked to land on the right frame."""
        if self._seek_ok is None:
            self._seek_ok = self._check_seek()
        return self._seek_ok

    def _verified_count(self) -> int:
        c = self._header_count
        if c > 0:
            cap = self._open()
            if cap is not None:
                try:
                    if c == 1 or cap.set(cv2.CAP_PROP_POS_FRAMES, c - 1):
                        at = int(round(cap.get(cv2.CAP_PROP_POS_FRAMES)))
                        if at == c - 1 and cap.grab() and not cap.grab():
                            return c
                finally:
                    cap.release()
        return self._count_by_decoding()

    def _count_by_decoding(self) -> int:
        cap = self._open()
        if cap is None:
            raise MediaError(f"cannot reopen {self.path.name}")
        n = 0
        try:
            with captured_stderr():
                while cap.grab():
                    self._note_time(cap, n)  # free here: every frame's timestamp at once
                    n += 1
        finally:
            cap.release()
        return max(n, 1)

    def _note_time(self, cap: cv2.VideoCapture, n: int) -> None:
        """Remember frame ``n``'s presentation time, just decoded by ``cap``."""
        ms = cap.get(cv2.CAP_PROP_POS_MSEC)
        if math.isfinite(ms) and ms >= 0 and (n == 0 or ms > 0):  # 0 after frame 0: no timestamps
            self._times[n] = ms / 1000.0

    def shortfall(self) -> str | None:
        """Why fewer frames can be read than the header announces, or None if all can.

        Known once the short stream was met: at opening when the count had to be decoded,
        otherwise when reading in order stopped early.
        """
        announced = self.announced_frames
        if not announced:
            return None
        readable = self.frame_count if self.first_bad is None else min(self.first_bad, self.frame_count)
        if readable >= announced:
            return None
        name = self.path.name
        if self.path.suffix.lower() in EXACT_COUNT_EXTS:
            return (f"{name} is damaged or truncated: only {readable} of the {announced} frames "
                    f"it announces could be read")
        # duration x fps is a guess (variable frame rate): compare times instead
        length = announced / self.fps
        reached = self.time_of(readable - 1) + 1.0 / self.fps
        if reached >= ESTIMATE_SLACK * length:
            return None
        return (f"{name} is damaged or truncated: only {readable} frames ({reached:.1f} s) of the "
                f"{length:.1f} s it announces could be read")

    def _check_seek(self) -> bool:
        """Seek to a few frames and compare with the same frames decoded sequentially."""
        last = min(self.frame_count - 1, SEEK_PROBE_MAX)
        if last < 2:
            return False  # nothing worth seeking in; rewinds reopen
        probes = sorted({last, last // 2 + 1, last // 3 + 1})
        cap = self._open()
        if cap is None:
            return False
        try:
            truth: dict[int, np.ndarray] = {}
            with captured_stderr():
                for i in range(last + 1):
                    ok, bgr = cap.read()
                    if not ok:
                        return False
                    if i in probes:
                        truth[i] = bgr
                for i in reversed(probes):  # backward seeks are the hard case
                    if not cap.set(cv2.CAP_PROP_POS_FRAMES, i):
                        return False
                    ok, bgr = cap.read()
                    if not ok or not _same(bgr, truth[i]):
                        return False
            return True
        finally:
            cap.release()

    # -- reading ---------------------------------------------------------------------------
    def _grab_to(self, n: int) -> None:
        """Decode forward (no output) until the next frame decoded is ``n``."""
        while self._pos < n:
            ok = self._cap.grab()
            if not ok:
                self._hit_end(self._pos)
            self._note_time(self._cap, self._pos)
            self._pos += 1

    def _hit_end(self, at: int) -> None:
        """The stream stopped at frame ``at``: fix the count or report a damaged frame."""
        self._pos = _UNKNOWN  # the capture is at its end: the next read must rewind
        if not self._count_exact or (self._count is not None and at >= self._count):
            self._count, self._count_exact = max(at, 1), True
            raise IndexError(f"frame {at} is past the end of {self.path.name} ({self._count} frames)")
        self.first_bad = at if self.first_bad is None else min(self.first_bad, at)
        raise MediaError(f"cannot decode frame {at} of {self.path.name}: the video is damaged there")

    def _position(self, n: int) -> None:
        """Make frame ``n`` the next one the capture decodes, exactly."""
        if self._pos <= n <= self._pos + self.grab_ahead:
            self._grab_to(n)
            return
        if self.seek_exact:
            if self._cap.set(cv2.CAP_PROP_POS_FRAMES, n) and \
                    int(round(self._cap.get(cv2.CAP_PROP_POS_FRAMES))) == n:
                self._pos = n
                return
            self._pos = _UNKNOWN  # a refused seek may still have moved the capture
        if n < self._pos:
            self._reopen()
        self._grab_to(n)

    def _decode(self, n: int) -> np.ndarray:
        """BGR frame ``n``; the capture is left just after it."""
        self._require_open()
        if self._last is not None and self._last[0] == n:
            return self._last[1]
        self._position(n)
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            self._hit_end(n)
        self._note_time(self._cap, n)
        self._pos = n + 1
        self._last = (n, bgr)
        return bgr

    def _check_index(self, n: int) -> int:
        n = int(n)
        count = self.frame_count
        if n < 0:
            n += count
        if not 0 <= n < count:
            raise IndexError(f"frame {n} out of range: {self.path.name} has {count} frames")
        return n

    def read(self, n: int) -> np.ndarray:
        """Exactly frame ``n`` (negative counts from the end) as RGB uint8 (H, W, 3)."""
        self._require_open()
        return cv2.cvtColor(self._decode(self._check_index(n)), cv2.COLOR_BGR2RGB)

    def time_of(self, n: int) -> float:
        """Frame ``n``'s presentation time in seconds (``n / fps`` until it has been decoded)."""
        t = self._times.get(int(n))
        return t if t is not None else n / self.fps

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
        """Yield ``(index, time_s, rgb)`` for ``start <= index < stop`` decoding sequentially.

        Other ``read`` calls between steps are allowed: the next step re-positions exactly.
        """
        count = self.frame_count
        stop = count if stop is None else min(int(stop), count)
        i = max(0, int(start))
        while i < stop:
            try:
                bgr = self._decode(i)
            except IndexError:
                return  # the stream ended early; frame_count is now corrected
            yield i, self.time_of(i), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            i += 1

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        return self.frames()

    def __len__(self) -> int:
        return self.frame_count

    # -- lifetime --------------------------------------------------------------------------
    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._last = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # best effort; close() is the contract
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"VideoReader({self.path.name!r}, {self.width}x{self.height}, {self.fps:g} fps)"
