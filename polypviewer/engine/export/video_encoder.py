"""MP4 encoding for the annotated video: H.264 that browsers and slide software play.

The pip OpenCV build cannot write H.264 (its FFmpeg has no encoder for ``avc1``); PyAV's wheel
ships FFmpeg with libx264. The file is yuv420p (the only chroma layout every H.264 decoder
takes) at even dimensions, with the index at the front (``+faststart``) so a browser can start
playing before the whole file is loaded. Where PyAV or libx264 cannot open, the writer falls
back to OpenCV's MPEG-4 Part 2 (``mp4v``) and logs why.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import MediaError

log = logging.getLogger(__name__)

H264_ENCODER = "libx264"
H264_OPTIONS = {"crf": "20", "preset": "veryfast"}  # visually clean overlays, quick on a laptop CPU


def even_size(width: int, height: int) -> tuple[int, int]:
    """The largest even (width, height) inside the frame: yuv420p halves both for chroma."""
    if width < 2 or height < 2:
        raise MediaError(f"a {width}x{height} frame is too small for a video")
    return width - width % 2, height - height % 2


def _rate(fps: float) -> Fraction:
    if not (fps and np.isfinite(fps) and fps > 0):
        fps = 25.0
    return Fraction(fps).limit_denominator(1001)  # 29.97 -> 30000/1001


class _H264:
    codec = "h264"

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        import av

        self.container = av.open(str(path), mode="w", format="mp4",
                                 options={"movflags": "+faststart"})
        try:
            self.stream = self.container.add_stream(H264_ENCODER, rate=_rate(fps),
                                                    options=dict(H264_OPTIONS))
            self.stream.width, self.stream.height = size
            self.stream.pix_fmt = "yuv420p"
            self.stream.codec_context.open()  # fail here, not on the first frame
        except BaseException:
            self.container.close()
            raise
        self._frame = av.VideoFrame

    def write(self, rgb: np.ndarray) -> None:
        frame = self._frame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        for packet in self.stream.encode(frame.reformat(format="yuv420p")):
            self.container.mux(packet)

    def release(self) -> None:
        try:
            for packet in self.stream.encode(None):  # flush delayed frames
                self.container.mux(packet)
        finally:
            self.container.close()


class _Mp4v:
    codec = "mpeg4"

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(_rate(fps)),
                                      size)
        if not self.writer.isOpened():
            raise MediaError(f"cannot write the video {path.name}: no MP4 encoder is available")

    def write(self, rgb: np.ndarray) -> None:
        self.writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def release(self) -> None:
        self.writer.release()


class VideoEncoder:
    """``write(rgb)`` frames of one size, then ``close()``; ``codec`` says what was written.

    A frame one pixel too wide or tall is cropped to the even size (overlays stay pixel-sharp);
    a frame of another size (a folder of mixed images) is scaled to it.
    """

    def __init__(self, path: str | Path, fps: float, width: int, height: int) -> None:
        self.path = Path(path)
        self.size = even_size(width, height)
        try:
            self._enc: _H264 | _Mp4v = _H264(self.path, fps, self.size)
        except Exception as e:  # ImportError, av.FFmpegError, an encoder missing from the build
            log.warning("H.264 encoding is not available (%s: %s); writing %s as MPEG-4 Part 2 "
                        "(mp4v), which some browsers and slide programs do not play",
                        type(e).__name__, e, self.path.name)
            self.path.unlink(missing_ok=True)
            self._enc = _Mp4v(self.path, fps, self.size)
        self.codec = self._enc.codec

    def write(self, rgb: np.ndarray) -> None:
        w, h = self.size
        if rgb.shape[1] - w not in (0, 1) or rgb.shape[0] - h not in (0, 1):
            rgb = cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA)
        self._enc.write(rgb[:h, :w])

    def close(self) -> None:
        if self._enc is not None:
            enc, self._enc = self._enc, None
            enc.release()
