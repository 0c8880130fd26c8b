"""One way to walk any input: a single image, a folder of images, a video or a dataset.

The GUI, the CLI and the pipeline only see :class:`Source` (``len``, exact ``source[i]``, fast
iteration) and :class:`Frame`, so they never branch on what the user opened.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import MediaError
from .dataset import find_pairs
from .imageio import IMAGE_EXTS, read_image, read_mask
from .video import VIDEO_EXTS, VideoReader

# First bytes of the image formats we read: lets a folder skip junk without decoding it.
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"BM")


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
        for i in range(len(self)):
            yield self._get(i)

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
    if not head.startswith(_MAGIC):
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
                self.skipped.append((p.name, why))
        if not self.files:
            extra = f" ({len(self.skipped)} unreadable)" if self.skipped else ""
            raise MediaError(f"{self.path} holds no readable images{extra}")

    def __len__(self) -> int:
        return len(self.files)

    def name(self, i: int) -> str:
        return self.files[self._index(i)].stem

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

    def _get(self, i: int) -> Frame:
        return Frame(i, self.reader.time_of(i), self.reader.read(i), self.name(i))

    def __iter__(self) -> Iterator[Frame]:
        for i, t, rgb in self.reader.frames():
            yield Frame(i, t, rgb, self.name(i))

    def close(self) -> None:
        self.reader.close()


class DatasetSource(Source):
    """``images/`` + ``masks/`` (optionally one split); ``gt_mask`` is None where a mask is missing."""

    kind = "dataset"

    def __init__(self, path: str | Path, split: str | Path | list[str] | None = None):
        super().__init__(path)
        self.pairs = find_pairs(self.path, split)

    def __len__(self) -> int:
        return len(self.pairs)

    def name(self, i: int) -> str:
        return self.pairs[self._index(i)].stem

    def _get(self, i: int) -> Frame:
        pair = self.pairs[i]
        rgb = read_image(pair.image)
        gt = None
        if pair.mask is not None:
            gt = read_mask(pair.mask)
            if gt.shape != rgb.shape[:2]:  # keep overlays and metrics aligned with the image
                gt = cv2.resize(gt.astype(np.uint8), (rgb.shape[1], rgb.shape[0]),
                                interpolation=cv2.INTER_NEAREST).astype(bool)
        return Frame(i, None, rgb, pair.stem, gt)


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
