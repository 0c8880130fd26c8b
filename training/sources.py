"""Training sources: several datasets in one run, each with its split, weight and holdout.

A source is a dataset folder (``images/`` + ``masks/``, optional ``classes/``), a dataset
without ``masks/`` or a plain folder of images; the last two are negatives ("no polyp").
Holdouts are carved from each source's training split with the run's seed, so checkpoint
and threshold selection never see a val split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from polypviewer.engine import fsutil
from polypviewer.engine.errors import DatasetError
from polypviewer.engine.media.dataset import Pair, _by_stem, find_pairs, read_split

from .splits import random_split

SOURCE_KEYS = ("path", "train", "weight", "holdout", "name")


@dataclass
class SourceSplit:
    """One source's training and holdout pairs and what its labels hold."""

    name: str
    root: Path
    weight: float
    train: list[Pair]
    holdout: list[Pair]
    negative: bool  # no masks: every image is "no polyp"
    classes: dict[str, Path] = field(default_factory=dict)  # stem -> class map (0/1/2 PNG)


def parse_source(spec: str) -> dict:
    """``PATH[:train=SPLIT][:weight=W][:holdout=F][:name=N]`` -> a source dict.

    Options are read from the end, so a path may itself hold ``:`` (a Windows drive).
    """
    parts = spec.split(":")
    opts: dict = {}
    while len(parts) > 1 and "=" in parts[-1]:
        key, _, value = parts.pop().partition("=")
        if key not in SOURCE_KEYS or key == "path":
            raise ValueError(f"--source {spec}: unknown option '{key}' "
                             f"(train, weight, holdout, name)")
        opts[key] = value
    src: dict = {"path": ":".join(parts)}
    if not src["path"]:
        raise ValueError(f"--source {spec}: no dataset path")
    try:
        if "weight" in opts:
            src["weight"] = float(opts.pop("weight"))
        if "holdout" in opts:
            src["holdout"] = float(opts.pop("holdout"))
    except ValueError as e:
        raise ValueError(f"--source {spec}: weight and holdout are numbers ({e})") from e
    src.update(opts)
    return check_source(src)


def check_source(src: dict) -> dict:
    unknown = set(src) - set(SOURCE_KEYS)
    if unknown or "path" not in src:
        raise ValueError(f"source {src}: needs 'path', may have {SOURCE_KEYS[1:]}")
    if src.get("weight") is not None and not src["weight"] > 0:
        raise ValueError(f"source {src['path']}: weight must be > 0")
    if src.get("holdout") is not None and not 0 <= src["holdout"] < 1:
        raise ValueError(f"source {src['path']}: holdout must be in [0, 1)")
    return src


def source_root(src: dict, data_root: str | None) -> Path:
    p = Path(src["path"])
    return p if p.is_absolute() or data_root is None else Path(data_root) / p


def split_path(root: Path, split: str | None) -> Path | None:
    """A source's split file: relative names are inside the dataset folder."""
    if not split:
        return None
    p = Path(split)
    return p if p.is_absolute() else root / p


def _source_pairs(root: Path, split: Path | None) -> tuple[list[Pair], bool]:
    """Pairs of one source and whether it is a negative source."""
    if not root.is_dir():
        raise DatasetError(f"source {root} does not exist")
    if (root / "images").is_dir():
        negative = not (root / "masks").is_dir()
        return find_pairs(root, split, require_masks=not negative), negative
    images = _by_stem(root)  # a plain image folder: negatives
    if not images:
        raise DatasetError(f"source {root} has no images/ folder and holds no images")
    stems = sorted(images)
    if split is not None:
        stems = read_split(split)
        missing = [s for s in stems if s not in images]
        if missing:
            raise DatasetError(f"split {split} lists {len(missing)} image(s) not in {root}, "
                               f"e.g. {missing[0]}")
    return [Pair(s, images[s], None) for s in stems], True


def gather_sources(sources: list[dict], data_root: str | None, default_holdout: float,
                   seed: int) -> list[SourceSplit]:
    """Every source's train/holdout pairs; fails on an image used twice."""
    out: list[SourceSplit] = []
    for i, src in enumerate(sources):
        src = check_source(dict(src))
        root = source_root(src, data_root)
        pairs, negative = _source_pairs(root, split_path(root, src.get("train")))
        frac = src.get("holdout", default_holdout)
        frac = default_holdout if frac is None else frac
        try:
            train, hold = random_split(pairs, frac, seed) if frac > 0 else (pairs, [])
        except ValueError as e:
            raise DatasetError(f"source {root}: {e}") from e
        classes = {} if negative else _by_stem(root / "classes")
        name = src.get("name") or root.name or f"source{i}"
        weight = float(src.get("weight") or len(train))
        out.append(SourceSplit(name, root, weight, train, hold, negative, classes))
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise DatasetError(f"two sources share a name ({names}); give one ':name=N'")
    seen: dict[Path, str] = {}
    for s in out:
        for p in s.train + s.holdout:
            key = p.image.resolve()
            if key in seen:
                raise DatasetError(f"{p.image} is in sources {seen[key]} and {s.name}")
            seen[key] = s.name
    return out


def write_holdouts(out: Path, sources: list[SourceSplit]) -> None:
    """``out/holdouts/NAME.txt``: each source's holdout stems, for evaluate and size tables."""
    for s in sources:
        if s.holdout:
            fsutil.write_text(Path(out) / "holdouts" / f"{s.name}.txt",
                              "".join(f"{p.stem}\n" for p in s.holdout))
