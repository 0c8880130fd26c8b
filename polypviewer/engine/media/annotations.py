"""Saving a corrected ground-truth mask without ever losing the previous one.

The corrected mask is written as ``masks/<stem>.png`` (0/255, the image's own size),
atomically, after the previous mask file is copied into ``masks/.polypviewer-backup/``
under a timestamped name (atomically too, and compared with the original before it counts). A previous mask with another extension (say ``<stem>.jpg``) is moved
there instead of kept beside the new PNG: :func:`~.dataset.find_pairs` picks one file per stem
(first in sorted order, so ``.jpg`` would shadow ``.png``), and leaving a single mask per stem
makes the dataset resolve the stem to the corrected mask for every tool that reads it.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import fsutil
from ..errors import PolypViewerError
from .imageio import IMAGE_EXTS, write_png

BACKUP_DIR = ".polypviewer-backup"


@dataclass(frozen=True)
class SavedMask:
    path: Path  # the mask now used for this stem
    backups: tuple[Path, ...]  # previous mask files, kept under BACKUP_DIR


def _stamp() -> str:
    t = time.time()
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(t)) + f"-{int(t * 1e6) % 1_000_000:06d}"


def backup_path(mask_file: Path, stamp: str | None = None) -> Path:
    """``masks/.polypviewer-backup/<stem>.<timestamp><ext>``: sorts by time, never overwrites."""
    folder = mask_file.parent / BACKUP_DIR
    base = f"{mask_file.stem}.{stamp or _stamp()}"
    path, n = folder / f"{base}{mask_file.suffix}", 1
    while path.exists():
        path, n = folder / f"{base}-{n}{mask_file.suffix}", n + 1
    return path


def copy_verified(src: Path, dst: Path) -> Path:
    """Copy ``src`` to ``dst`` atomically and check the copy byte for byte before keeping it.

    A full disk or a short write therefore never leaves a truncated "backup" that looks valid.
    """
    with fsutil.atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
        if tmp.stat().st_size != src.stat().st_size or tmp.read_bytes() != src.read_bytes():
            raise PolypViewerError(f"the copy of {src.name} came out different (is the disk full?)")
    try:
        shutil.copystat(src, dst)  # after the rename: the backup keeps the original's mode
    except OSError:
        pass  # file systems without POSIX modes or times
    return dst


def existing_masks(masks_dir: Path, stem: str) -> list[Path]:
    """Every file in ``masks_dir`` a dataset could read as the mask of ``stem``."""
    if not masks_dir.is_dir():
        return []
    return sorted(p for p in masks_dir.iterdir()
                  if p.is_file() and p.stem == stem and p.suffix.lower() in IMAGE_EXTS)


def save_mask(masks_dir: str | Path, stem: str, mask: np.ndarray,
              image_shape: tuple[int, int] | None = None) -> SavedMask:
    """Back up the previous mask(s) of ``stem`` then write the new one as PNG 0/255."""
    masks_dir = Path(masks_dir)
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise PolypViewerError(f"a mask must be 2-D (got shape {mask.shape})")
    if image_shape is not None and mask.shape != tuple(image_shape[:2]):
        raise PolypViewerError(f"mask {mask.shape[1]}x{mask.shape[0]} does not match the image "
                               f"{image_shape[1]}x{image_shape[0]}")
    target = masks_dir / f"{stem}.png"
    old = existing_masks(masks_dir, stem)
    stamp = _stamp()
    backups = []
    try:
        for p in old:
            backups.append(copy_verified(p, backup_path(p, stamp)))
    except (OSError, PolypViewerError) as e:
        for b in backups:  # the mask is not replaced, so its backups are not needed either
            b.unlink(missing_ok=True)
        why = getattr(e, "strerror", None) or e
        raise PolypViewerError(f"cannot back up the previous mask of {stem} into "
                               f"{masks_dir / BACKUP_DIR}: {why}") from e
    write_png(target, mask.astype(bool).astype(np.uint8) * 255)
    for p in old:  # backed up above; the new .png becomes this stem's only mask
        if p.exists() and not p.samefile(target):  # samefile: case-insensitive file systems
            p.unlink()
    return SavedMask(target, tuple(backups))
