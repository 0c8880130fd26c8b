"""One way to walk any input: a single image, a folder of images, a video or a dataset.

The GUI, the CLI and the pipeline only see :class:`Source` (``len``, exact ``source[i]``, fast
iteration) and :class:`Frame`, so they never branch on what the user opened.

The skip rule lives here, once: walking a source (:meth:`Source.frames`, iteration) skips a
still that cannot be read, records it in ``skipped`` with a message naming the file, and goes
on; a video that ends before the frames it announces says so in ``incomplete``. Every consumer
(predict, export, the viewer's analysis and exports) walks sources this way and ends by showing
:meth:`Source.problems`. Only ``source[i]``, asked for one frame, raises.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MediaError
from .dataset import find_pairs
from .header import MAGIC
from .imageio import IMAGE_EXTS, fit_mask, read_image, read_mask
from .video import VIDEO_EXTS, VideoReader

log = logging.getLogger(__name__)


@dataclass
class Frame:
    """One picture to analyse; ``time_s`` is None for stills, ``gt_mask`` only in datasets."""

    index: int
    time_s: float | None
    rgb: np.ndarray
    name: str
    gt_mask: np.ndarray | None = None


def _natural_key(name: str) -> list:
    """``frame2`` before ``frame10``: folders are often numbered frame sequences."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


class Source:
    """Common API; subclasses fill ``kind``, ``path``, ``_get`` and ``name``."""

    kind: str = ""
    fps: float | None = None

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.skipped: list[tuple[str, str]] = []  # (file name, message naming it)
        self.notes: list[str] = []  # problems found on opening that do not stop the source

    @property
    def incomplete(self) -> str | None:
        """Why fewer frames could be read than the file announces (videos), else None."""
        return None

    def problems(self) -> list[str]:
        """Every input problem met so far, one line each: what consumers report at the end."""
        lines = [*self.notes, *(msg for _, msg in self.skipped)]
        if self.incomplete:
            lines.append(self.incomplete)
        return lines

    def file_name(self, i: int) -> str:
        """The file behind frame ``i`` (what a skip message names)."""
        return self.path.name

    def skip(self, name: str, message: str) -> None:
        if name not in message:
            message = f"{name}: {message}"
        log.info("skipped %s", message)  # consumers show problems() at the end
        self.skipped.append((name, message))

    def frames(self, indices: Iterable[int] | None = None) -> Iterator[Frame]:
        """Frames in order (all, or ``indices``); unreadable ones are skipped and recorded."""
        for i in range(len(self)) if indices is None else indices:
            try:
                frame = self[i]
            except MediaError as e:
                self.skip(self.file_name(i), str(e))
                continue
            yield frame

    def __len__(self) -> int:
        raise NotImplementedError

    def name(self, i: int) -> str:
        raise NotImplementedError

    def _get(self, i: int) -> Frame:
        raise NotImplementedError

    def _index(self, i: int) -> int:
        n = len(self)
        i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"frame {i} out of range: {self.path.name} has {n}")
        return i

    def __getitem__(self, i: int) -> Frame:
        return self._get(self._index(i))

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def close(self) -> None:
        pass

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, {len(self)} frames)"


class ImageSource(Source):
    """A single image, decoded once when opened so a bad file fails early."""

    kind = "image"

    def __init__(self, path: str | Path):
        super().__init__(path)
        self._rgb = read_image(self.path)

    def __len__(self) -> int:
        return 1

    def name(self, i: int) -> str:
        self._index(i)
        return self.path.stem

    def _get(self, i: int) -> Frame:
        return Frame(0, None, self._rgb.copy(), self.path.stem)


def _looks_like_image(path: Path) -> str | None:
    """None if ``path`` starts like an image we can read, else why it is skipped."""
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as e:
        return f"cannot read: {e.strerror or e}"
    if not head:
        return "empty file"
    if not head.startswith(MAGIC):
        return "not an image (unknown content)"
    return None


class FolderSource(Source):
    """Images directly in a folder, in natural order; junk files are listed in ``skipped``."""

    kind = "folder"

    def __init__(self, path: str | Path):
        super().__init__(path)
        self.files: list[Path] = []
        self.skipped: list[tuple[str, str]] = []
        candidates = [p for p in self.path.iterdir()
                      if p.is_file() and p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")]
        for p in sorted(candidates, key=lambda p: (_natural_key(p.name), p.name)):
            why = _looks_like_image(p)
            if why is None:
                self.files.append(p)
            else:
                self.skipped.append((p.name, f"{p.name}: {why}"))
        if not self.files:
            extra = f" ({len(self.skipped)} unreadable)" if self.skipped else ""
            raise MediaError(f"{self.path} holds no readable images{extra}")

    def __len__(self) -> int:
        return len(self.files)

    def name(self, i: int) -> str:
        return self.files[self._index(i)].stem

    def file_name(self, i: int) -> str:
        return self.files[self._index(i)].name

    def _get(self, i: int) -> Frame:
        p = self.files[i]
        return Frame(i, None, read_image(p), p.stem)


class VideoSource(Source):
    """A video file; ``source[i]`` is frame-exact, iteration decodes sequentially."""

    kind = "video"

    def __init__(self, path: str | Path):
        super().__init__(path)
        self.reader = VideoReader(self.path)
        self.fps = self.reader.fps

    def __len__(self) -> int:
        return self.reader.frame_count

    def name(self, i: int) -> str:
        return f"{self.path.stem}_{self._index(i):06d}"

    @property
    def incomplete(self) -> str | None:
        return self.reader.shortfall()

    def _get(self, i: int) -> Frame:
        rgb = self.reader.read(i)  # first: the frame's own timestamp is known once decoded
        return Frame(i, self.reader.time_of(i), rgb, self.name(i))

    def frames(self, indices: Iterable[int] | None = None) -> Iterator[Frame]:
        """Sequential decoding for a run of frames; a damaged stretch ends the walk (see
        ``incomplete``) since the frames after it cannot be reached in order."""
        run = _as_run(indices, len(self))
        if run is None:
            yield from super().frames(indices)
            return
        try:
            for i, t, rgb in self.reader.frames(*run):
                yield Frame(i, t, rgb, self.name(i))
        except MediaError as e:
            log.info("%s", e)  # reported through problems(), by whoever walks the source

    def close(self) -> None:
        self.reader.close()


class DatasetSource(Source):
    """``images/`` + ``masks/`` (optionally one split); ``gt_mask`` is None where a mask is missing."""

    kind = "dataset"

    def __init__(self, path: str | Path, split: str | Path | list[str] | None = None):
        super().__init__(path)
        self.pairs = find_pairs(self.path, split, notes=self.notes)

    def __len__(self) -> int:
        return len(self.pairs)

    def name(self, i: int) -> str:
        return self.pairs[self._index(i)].stem

    def file_name(self, i: int) -> str:
        return self.pairs[self._index(i)].image.name

    def _get(self, i: int) -> Frame:
        pair = self.pairs[i]
        rgb = read_image(pair.image)
        gt = None
        if pair.mask is not None:
            gt = fit_mask(read_mask(pair.mask), rgb.shape[:2], pair.mask.name)
        return Frame(i, None, rgb, pair.stem, gt)


def _as_run(indices: Iterable[int] | None, n: int) -> tuple[int, int] | None:
    """``(start, stop)`` when ``indices`` are consecutive ascending frames, else None."""
    if indices is None:
        return 0, n
    idx = list(indices)
    if idx and idx == list(range(idx[0], idx[-1] + 1)) and idx[0] >= 0:
        return idx[0], min(idx[-1] + 1, n)
    return None


def open_source(path: str | Path, split: str | Path | list[str] | None = None) -> Source:
    """The right :class:`Source` for ``path``; ``split`` applies to datasets only."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path} does not exist")
    if path.is_dir():
        if (path / "images").is_dir():
            return DatasetSource(path, split)
        if split is not None:
            raise MediaError(f"a split applies only to a dataset (images/ + masks/), not {path}")
        return FolderSource(path)
    if split is not None:
        raise MediaError(f"a split applies only to a dataset folder, not the file {path.name}")
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTS:
        return ImageSource(path)
    if suffix in VIDEO_EXTS:
        return VideoSource(path)
    raise MediaError(f"cannot open {path.name}: unsupported file type "
                     f"(images: {' '.join(IMAGE_EXTS)}; videos: {' '.join(VIDEO_EXTS)})")
