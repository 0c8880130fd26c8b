"""Check datasets before training, so a bad file fails in seconds with a clear list of problems
instead of hours into a run (or, worse, trains silently on empty or mismatched masks).

Two layouts: segmentation (``images/`` + ``masks/`` matched by stem) and classification (one
folder per class). Fatal problems make training unusable; warnings are worth a look.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from polypviewer.engine.errors import DatasetError, MediaError
from polypviewer.engine.media.dataset import _by_stem, is_dataset, read_split
from polypviewer.engine.media.imageio import IMAGE_EXTS, MASK_THRESHOLD, read_raw, to_rgb8

FATAL, WARNING = "fatal", "warning"
# a mask pixel is "grey" when it is this far from both 0 and 255 (JPEG ringing stays closer)
GREY_MARGIN = 32
GREY_WARN_SHARE = 0.01  # warn when more than 1 % of a mask's pixels are grey


@dataclass(frozen=True)
class Problem:
    severity: str  # fatal | warning
    file: str
    message: str
    kind: str = ""


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    counts: dict = field(default_factory=dict)  # per dataset root: counts by kind

    @property
    def fatal(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == FATAL]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def ok(self) -> bool:
        return not self.fatal

    def add(self, severity: str, file: str | Path, message: str, kind: str) -> None:
        self.problems.append(Problem(severity, str(file), message, kind))

    def to_dict(self) -> dict:
        return {"ok": self.ok, "counts": self.counts,
                "n_fatal": len(self.fatal), "n_warnings": len(self.warnings),
                "problems": [asdict(p) for p in self.problems]}

    def summary_lines(self, severity: str, per_kind: int = 3) -> list[str]:
        """One line per kind of problem with a few example files (the full list is in to_dict)."""
        probs = [p for p in self.problems if p.severity == severity]
        kinds = Counter(p.kind for p in probs)
        lines = []
        for kind, n in kinds.items():
            ex = [p for p in probs if p.kind == kind][:per_kind]
            lines.append(f"{n} x {kind}: " + "; ".join(f"{p.file}: {p.message}" for p in ex)
                         + (" ..." if n > per_kind else ""))
        return lines

    def to_text(self) -> str:
        out = []
        for root, c in self.counts.items():
            out.append(f"{root}: " + ", ".join(f"{k} {v}" for k, v in c.items()))
        for sev in (FATAL, WARNING):
            for p in self.problems:
                if p.severity == sev:
                    out.append(f"{sev.upper()}: {p.file}: {p.message}")
        out.append(f"{len(self.fatal)} fatal problem(s), {len(self.warnings)} warning(s)")
        return "\n".join(out)

    def raise_if_fatal(self) -> None:
        if self.fatal:
            lines = self.summary_lines(FATAL)
            raise DatasetError(f"dataset check found {len(self.fatal)} fatal problem(s): "
                               + " | ".join(lines))


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _read(path: Path) -> tuple[np.ndarray | None, str | None]:
    try:
        return read_raw(path), None
    except MediaError as e:
        return None, str(e)
    except OSError as e:
        return None, f"cannot read: {e.strerror or e}"


def _mask_gray(arr: np.ndarray) -> np.ndarray:
    """Mask as uint8 grey, as ``imageio.read_mask`` sees it before thresholding."""
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=2) if arr.shape[2] >= 3 else arr[..., 0]
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if arr.dtype == np.uint16:
        return (arr.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    return arr.astype(np.uint8) if arr.dtype != np.uint8 else arr


def _check_pair(stem: str, image: Path, mask: Path | None) -> list[tuple[str, Path, str, str]]:
    """Problems of one image/mask pair (severity, file, message, kind)."""
    out = []
    img, err = _read(image)
    if err is None:
        try:
            img = to_rgb8(img)
        except MediaError as e:
            img, err = None, str(e)
    if err is not None:
        out.append((FATAL, image, err, "unreadable image"))
    if mask is None:
        return out
    raw, merr = _read(mask)
    if merr is not None:
        out.append((FATAL, mask, merr, "unreadable mask"))
        return out
    m = _mask_gray(raw)
    if img is not None and m.shape[:2] != img.shape[:2]:
        out.append((FATAL, mask, f"mask is {m.shape[1]}x{m.shape[0]} but its image is "
                    f"{img.shape[1]}x{img.shape[0]}", "size mismatch"))
    hi = int(m.max(initial=0))
    if 0 < hi <= MASK_THRESHOLD:
        out.append((FATAL, mask, f"mask values are 0..{hi}: label indices, not 0/255, so every "
                    "pixel would read as background", "label-index mask"))
        return out
    grey = float(((m > GREY_MARGIN) & (m < 255 - GREY_MARGIN)).mean())
    if grey > GREY_WARN_SHARE:
        out.append((WARNING, mask, f"{grey:.1%} of pixels are grey (not near 0 or 255; "
                    f"read as polyp above {MASK_THRESHOLD})", "non-binary mask"))
    if not (m > MASK_THRESHOLD).any():
        out.append((WARNING, mask, "mask is empty (no polyp); fine for negative frames",
                    "empty mask"))
    return out


def _stems(split) -> set[str] | None:
    if split is None:
        return None
    items = [split] if isinstance(split, (str, Path)) else list(split)
    stems: set[str] = set()
    for s in items:
        p = Path(s)
        if p.suffix.lower() == ".txt" or p.is_file():
            stems.update(read_split(p))
        else:
            stems.add(str(s))
    return stems


def _class_folders(root: Path) -> dict[str, list[Path]]:
    return {d.name: sorted(f for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTS
                           and not f.name.startswith("."))
            for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")}


def is_classification_dataset(root: str | Path) -> bool:
    root = Path(root)
    if not root.is_dir() or is_dataset(root):
        return False
    return sum(1 for files in _class_folders(root).values() if files) >= 1


def is_negative_source(root: str | Path) -> bool:
    """A folder training takes as negatives ("no polyp"): ``images/`` without ``masks/``, or a
    plain folder of images; mirrors ``sources._source_pairs`` so the check agrees with training."""
    root = Path(root)
    if not root.is_dir():
        return False
    if (root / "images").is_dir():
        return not (root / "masks").is_dir()
    return bool(_by_stem(root)) and not is_classification_dataset(root)


def _check_files(jobs: list[tuple], rep: Report, hashes: dict[str, list[str]],
                 workers: int) -> None:
    """Decode-check each (stem, image, mask or None) and note each image's digest for the
    duplicate check."""
    with ThreadPoolExecutor(max(1, workers)) as ex:
        results = list(ex.map(lambda j: _check_pair(*j), jobs))
        digests = list(ex.map(lambda j: _sha1(j[1]), jobs))
    for probs in results:
        for sev, f, msg, kind in probs:
            rep.add(sev, f, msg, kind)
    for (_, img, _), d in zip(jobs, digests):
        hashes.setdefault(d, []).append(str(img))


def _validate_negatives(root: Path, rep: Report, hashes: dict[str, list[str]],
                        workers: int) -> None:
    """Images only: a negative source has no masks to match, only files that must decode."""
    folder = root / "images" if (root / "images").is_dir() else root
    images = _by_stem(folder)
    rep.counts[str(root)] = {"images": len(images), "negatives": len(images)}
    _check_files([(s, images[s], None) for s in sorted(images)], rep, hashes, workers)
    if not images:
        rep.add(FATAL, folder, "no images found", "no images")


def _validate_segmentation(root: Path, stems: set[str] | None, rep: Report,
                           hashes: dict[str, list[str]], workers: int) -> None:
    images = _by_stem(root / "images")
    masks = _by_stem(root / "masks")
    if stems is not None:
        for s in sorted(stems - set(images)):
            rep.add(FATAL, root / "images" / s, "listed in the split but no such image",
                    "split lists missing image")
        images = {s: p for s, p in images.items() if s in stems}
        masks = {s: p for s, p in masks.items() if s in stems}
    counts = {"images": len(images), "masks": len(masks)}
    rep.counts[str(root)] = counts
    if not images:
        rep.add(FATAL, root / "images", "no images found", "no images")
        return
    for s in sorted(set(images) - set(masks)):
        rep.add(FATAL, images[s], "image has no mask in masks/", "image without mask")
    for s in sorted(set(masks) - set(images)):
        rep.add(WARNING, masks[s], "mask has no image in images/ (ignored)", "mask without image")
    _check_files([(s, images[s], masks.get(s)) for s in sorted(images)], rep, hashes, workers)
    kinds = Counter(p.kind for p in rep.problems if Path(p.file).is_relative_to(root))
    counts.update({"empty masks": kinds["empty mask"], "non-binary masks": kinds["non-binary mask"],
                   "unreadable": kinds["unreadable image"] + kinds["unreadable mask"]})


def _validate_classification(root: Path, rep: Report, hashes: dict[str, list[str]],
                             workers: int) -> None:
    classes = _class_folders(root)
    rep.counts[str(root)] = {f"class {c}": len(v) for c, v in classes.items()}
    if len([c for c, v in classes.items() if v]) < 2:
        rep.add(FATAL, root, "classification needs at least two class folders with images",
                "too few classes")
    for c, files in classes.items():
        if not files:
            rep.add(WARNING, root / c, "class folder holds no images", "empty class")

    def check(f: Path):
        arr, err = _read(f)
        if err is None:
            try:
                to_rgb8(arr)
            except MediaError as e:
                err = str(e)
        return err, _sha1(f)

    files = [f for v in classes.values() for f in v]
    with ThreadPoolExecutor(max(1, workers)) as ex:
        for f, (err, d) in zip(files, ex.map(check, files)):
            if err is not None:
                rep.add(FATAL, f, err, "unreadable image")
            hashes.setdefault(d, []).append(str(f))


def validate_datasets(roots: Sequence[str | Path] | str | Path, split=None,
                      task: str = "auto", workers: int = 2, negatives: bool = False) -> Report:
    """Check every dataset; duplicates are found by sha1 of file bytes across all of them.

    ``split``: a split file, a list of split files, or a list of stems (segmentation only);
    ``task``: ``segment``, ``classify`` or ``auto`` (by layout); ``negatives``: a segmentation
    folder without ``masks/`` is a negative source (as ``--source`` trains it), not a fault.
    """
    roots = [roots] if isinstance(roots, (str, Path)) else list(roots)
    rep = Report()
    hashes: dict[str, list[str]] = {}
    stems = _stems(split)
    for r in roots:
        root = Path(r)
        if not root.is_dir():
            rep.add(FATAL, root, "dataset folder does not exist", "missing dataset")
            continue
        kind = task
        if kind == "auto":
            kind = "classify" if is_classification_dataset(root) else "segment"
        if kind == "segment" and negatives and is_negative_source(root):
            _validate_negatives(root, rep, hashes, workers)
        elif kind == "segment":
            if not (root / "images").is_dir():
                rep.add(FATAL, root, "not a segmentation dataset: no images/ folder", "layout")
                continue
            if not (root / "masks").is_dir():
                rep.add(FATAL, root, "not a segmentation dataset: no masks/ folder", "layout")
                continue
            _validate_segmentation(root, stems, rep, hashes, workers)
        elif kind == "classify":
            _validate_classification(root, rep, hashes, workers)
        else:
            raise ValueError(f"unknown task '{task}' (segment, classify, auto)")
    for files in hashes.values():
        if len(files) > 1:
            rep.add(WARNING, files[0], f"identical bytes to {len(files) - 1} other file(s): "
                    + ", ".join(files[1:4]), "duplicate")
    return rep


def validate_pairs(groups: Sequence[tuple[str | Path, Sequence]], workers: int = 2) -> Report:
    """Check exactly the pairs a multi-source run uses (``sources.SourceSplit``: negatives have
    no mask); duplicates are found across all groups."""
    rep = Report()
    hashes: dict[str, list[str]] = {}
    for root, pairs in groups:
        jobs = [(p.stem, p.image, p.mask) for p in pairs]
        with ThreadPoolExecutor(max(1, workers)) as ex:
            results = list(ex.map(lambda j: _check_pair(*j), jobs))
            digests = list(ex.map(lambda j: _sha1(j[1]), jobs))
        rep.counts[str(root)] = {"images": len(jobs),
                                 "masks": sum(1 for j in jobs if j[2] is not None)}
        for probs in results:
            for sev, f, msg, kind in probs:
                rep.add(sev, f, msg, kind)
        for (_, img, _), d in zip(jobs, digests):
            hashes.setdefault(d, []).append(str(img))
    for files in hashes.values():
        if len(files) > 1:
            rep.add(WARNING, files[0], f"identical bytes to {len(files) - 1} other file(s): "
                    + ", ".join(files[1:4]), "duplicate")
    return rep


def emit_report(rep: Report, emit) -> None:
    """Warnings as ``log`` events (one per kind, with examples); raise on fatal problems."""
    for line in rep.summary_lines(WARNING):
        emit("log", message=f"dataset warning: {line}", level="warning")
    rep.raise_if_fatal()
