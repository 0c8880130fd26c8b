"""Which procedures an archive holds, and a content key that survives renames and copies."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..engine.media.imageio import IMAGE_EXTS
from ..engine.media.video import VIDEO_EXTS

SAMPLE = 1 << 20  # bytes hashed at each of the head, middle and tail of a file
MIN_IMAGES = 1  # a folder with at least this many images (and no subfolder of its own) is a procedure
SKIP_DIRS = {"masks", "classes"}  # ground truth beside a dataset's images/, not procedures


KINDS = ("video", "folder")  # the kinds of procedure: a video file, a folder of stills


@dataclass(frozen=True)
class Candidate:
    path: str
    kind: str  # "video" or "folder"
    size: int  # bytes (folders: sum of image files)


def _hidden(name: str) -> bool:
    return name.startswith(".")


def discover(roots: Iterable[str | os.PathLike]) -> list[Candidate]:
    """Every video file, and every leaf folder of still images, under ``roots``, sorted by path.

    A root may itself be a video file. Hidden files and folders (caches, backups, our own
    temporaries) are skipped; unreadable folders are skipped too (``os.walk`` ignores them).
    """
    found: dict[str, Candidate] = {}
    for root in roots:
        root = Path(root).expanduser().resolve()
        if root.is_file():
            if root.suffix.lower() in VIDEO_EXTS:
                found[str(root)] = Candidate(str(root), "video", root.stat().st_size)
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not _hidden(d) and d.lower() not in SKIP_DIRS)
            images = []
            for name in sorted(filenames):
                if _hidden(name):
                    continue
                p = Path(dirpath) / name
                ext = p.suffix.lower()
                if ext in VIDEO_EXTS:
                    found[str(p)] = Candidate(str(p), "video", _size(p))
                elif ext in IMAGE_EXTS:
                    images.append(p)
            if len(images) >= MIN_IMAGES and not dirnames:
                found[dirpath] = Candidate(dirpath, "folder", sum(_size(p) for p in images))
    return [found[k] for k in sorted(found)]


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


def _sample_file(h, path: Path) -> None:
    size = path.stat().st_size
    h.update(size.to_bytes(8, "little"))
    with path.open("rb") as f:
        for offset in sorted({0, max(0, size // 2 - SAMPLE // 2), max(0, size - SAMPLE)}):
            f.seek(offset)
            h.update(f.read(SAMPLE))


def content_hash(c: Candidate) -> str:
    """sha256 over each file's size and its head, middle and tail MiB (folders: names too).

    Reading whole recordings (1-2 GB each) only to recognise them would double the batch's
    I/O; two different recordings never share size and all three samples in practice.
    """
    h = hashlib.sha256(c.kind.encode())
    p = Path(c.path)
    if c.kind == "video":
        _sample_file(h, p)
    else:
        for f in _folder_images(p):
            h.update(f.name.encode("utf-8", "surrogateescape"))
            _sample_file(h, f)
    return h.hexdigest()


def _folder_images(p: Path) -> Iterator[Path]:
    for f in sorted(p.iterdir()):
        if f.is_file() and not _hidden(f.name) and f.suffix.lower() in IMAGE_EXTS:
            yield f
