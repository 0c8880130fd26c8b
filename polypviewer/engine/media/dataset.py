"""Datasets on disk: ``images/`` + ``masks/`` matched by file stem, optional split files.

A stem must name one file per folder: ``dup.jpg`` + ``dup.png`` would make the choice of mask
(and so every score) depend on sort order, so :func:`find_pairs` refuses such a dataset and
lists the stems. A mask without an image is not an error but is reported, since it usually
means a renamed or deleted image.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetError
from .imageio import IMAGE_EXTS

log = logging.getLogger(__name__)
LIST_MAX = 10  # names quoted in one message


@dataclass(frozen=True)
class Pair:
    stem: str
    image: Path
    mask: Path | None


def _listing(names: list[str]) -> str:
    more = f" and {len(names) - LIST_MAX} more" if len(names) > LIST_MAX else ""
    return ", ".join(names[:LIST_MAX]) + more


def _by_stem(folder: Path) -> dict[str, Path]:
    """One file per stem; more than one for any stem is a DatasetError listing them."""
    found: dict[str, list[Path]] = {}
    if folder.is_dir():
        for p in sorted(folder.iterdir()):
            if p.is_file() and p.suffix.lower() in IMAGE_EXTS and not p.name.startswith("."):
                found.setdefault(p.stem, []).append(p)
    clashes = [" + ".join(q.name for q in ps) for ps in found.values() if len(ps) > 1]
    if clashes:
        raise DatasetError(f"{folder} has {len(clashes)} name(s) with more than one file, so which "
                           f"one to use is ambiguous: {_listing(clashes)}; keep one file per name")
    return {stem: ps[0] for stem, ps in found.items()}


def is_dataset(root: str | Path) -> bool:
    root = Path(root)
    return (root / "images").is_dir() and (root / "masks").is_dir()


def read_split(path: str | Path) -> list[str]:
    """Stems listed one per line (blank lines and ``#`` comments ignored; extensions dropped)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise DatasetError(f"cannot read split file {path}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise DatasetError(f"split file {path} is not text") from e
    stems = []
    for line in lines:
        s = line.split("#", 1)[0].strip()
        if s:
            stems.append(Path(s).stem if Path(s).suffix.lower() in IMAGE_EXTS else s)
    return stems


def find_pairs(root: str | Path, split: str | Path | list[str] | None = None,
               require_masks: bool = False, notes: list[str] | None = None) -> list[Pair]:
    """Images of a dataset with their masks (``None`` where an image has none).

    Problems that do not stop the dataset (masks without an image) are appended to ``notes``
    when given, otherwise logged as warnings.
    """
    root = Path(root)
    if not (root / "images").is_dir():
        raise DatasetError(f"{root} is not a dataset: it has no images/ folder")
    images = _by_stem(root / "images")
    masks = _by_stem(root / "masks")
    if not images:
        raise DatasetError(f"{root / 'images'} holds no images ({', '.join(IMAGE_EXTS)})")
    orphans = sorted(masks[s].name for s in masks.keys() - images.keys())
    if orphans:
        msg = (f"{root / 'masks'}: {len(orphans)} mask(s) with no image of the same name, "
               f"not used: {_listing(orphans)}")
        if notes is None:
            log.warning("%s", msg)
        else:
            notes.append(msg)
    stems = sorted(images)
    if split is not None:
        wanted = read_split(split) if isinstance(split, (str, Path)) else list(split)
        missing = [s for s in wanted if s not in images]
        if missing:
            raise DatasetError(f"split lists {len(missing)} image(s) not in {root / 'images'}, "
                               f"e.g. {missing[0]}")
        stems = wanted
    pairs = [Pair(s, images[s], masks.get(s)) for s in stems]
    if require_masks:
        lacking = [p.stem for p in pairs if p.mask is None]
        if lacking:
            raise DatasetError(f"{len(lacking)} image(s) have no mask in {root / 'masks'}, "
                               f"e.g. {lacking[0]}")
    return pairs
