"""``polypviewer evaluate``: score a model on one or more datasets against their masks.

Scores are computed at each mask's own resolution, never at model size, because that is how
published polyp benchmarks report Dice; a mask of another size than its image is resized to
it (``imageio.fit_mask``, said in the log). An image that cannot be read is listed and makes
the exit status non-zero unless ``--skip-bad``. Images run through the engine's
pipeline (``analyse_into``), the same path as the viewer and ``predict``.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .common import PROG, add_model_arguments, describe_predictor, positive_int
from .evaluate_table import (
    ROW_KEYS,
    format_details,
    format_table,
    score,
    summarise,
    table_row,
)

DEFAULT_SPLIT = Path("splits") / "val.txt"

EPILOG = """\
datasets and splits:
  DATASET is a folder with images/ and masks/ (same stems). A dataset without masks/ (e.g. a
  set of no-polyp frames) counts as all-negative: every image's truth is empty. Each DATASET
  is scored on its own split: the --split FILE given for it (repeat --split once per DATASET,
  in the same order; '-' keeps that dataset's default), else DATASET/splits/val.txt when it
  exists (unless --all-images), else every image. Give every DATASET before the options:
    polypviewer evaluate KVASIR BKAI NOPOLYP --split k.txt --split - --split -

table (one row per dataset, then 'all' pooling every image when there are several):
  Dice IoU recall precision  means over images with a polyp
  sens / spec                frame verdict (frame probability >= the model's frame threshold,
                             0.5 unless the model file sets one) on images with / without a polyp
  no-polyp w/ region         share of images without a polyp that get any polyp region
  CADx acc                   per-polyp neoplastic vs non-neoplastic accuracy where the dataset
                             has classes/ (0 background, 1 neoplastic, 2 non-neoplastic) and the
                             model a class channel; research output, not a diagnosis
--json writes the means over every scored image (as for one dataset), the table rows under
"table", the bad images and every per-image row."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("datasets", nargs="+", metavar="DATASET",
                   help="folders with images/ and masks/ (same stems); see below")
    p.add_argument("--split", action="append", metavar="FILE",
                   help="score only the stems listed in FILE; once per DATASET, in order "
                        "('-' = that dataset's default)")
    p.add_argument("--all-images", action="store_true",
                   help="datasets without a --split: every image, not splits/val.txt")
    add_model_arguments(p)
    p.add_argument("--batch-size", type=positive_int, metavar="N",
                   help="images per model call (default: 2 on CPU, from free memory on a GPU)")
    p.add_argument("--json", metavar="OUT", help="write the summary and per-image scores as JSON")
    p.add_argument("--csv", metavar="OUT", help="write the per-image scores as CSV")
    p.add_argument("--skip-bad", action="store_true",
                   help="exit 0 even if some images could not be scored (they are still listed)")


@dataclass
class Target:
    """One dataset to score: its images, where its split came from, what truth it has."""

    root: Path
    name: str
    split: Path | None
    pairs: list
    negatives_only: bool  # no masks/: every image's truth is empty
    classes: dict[str, Path]  # stem -> class map (empty without classes/)


@dataclass
class _Image:
    """A decoded image on its way through the pipeline (which reads only ``rgb``)."""

    target: int
    stem: str
    rgb: object
    gt: object
    classes: object


def _check_outputs(args: argparse.Namespace) -> None:
    from ..engine.fsutil import check_writable_dir

    for out in (args.json, args.csv):
        if out:
            if Path(out).is_dir():
                raise IsADirectoryError(21, "is a folder, expected a file name", out)
            check_writable_dir(Path(out).parent)


def _class_maps(root: Path) -> dict[str, Path]:
    from ..engine.media.imageio import IMAGE_EXTS

    folder = root / "classes"
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")}


def targets(args: argparse.Namespace) -> list[Target]:
    """Every dataset resolved first, so a bad one fails before any model loads."""
    from ..engine.errors import DatasetError, PolypViewerError
    from ..engine.media.dataset import find_pairs

    splits = args.split or []
    if len(args.datasets) == 1 and len(splits) > 1:
        raise PolypViewerError(f"--split given {len(splits)} times for one dataset")
    if splits and len(splits) != len(args.datasets):
        raise PolypViewerError(f"--split given {len(splits)} time(s) for {len(args.datasets)} "
                               "datasets: give one per DATASET, in order ('-' for its default)")
    out: list[Target] = []
    for i, folder in enumerate(args.datasets):
        root = Path(folder)
        if not root.exists():
            raise DatasetError(f"{root} does not exist")
        given = splits[i] if splits else "-"
        split = None if given == "-" else Path(given)
        if split is None and not args.all_images and (root / DEFAULT_SPLIT).is_file():
            split = root / DEFAULT_SPLIT
        pairs = find_pairs(root, split)
        out.append(Target(root, root.name, split, pairs, not (root / "masks").is_dir(),
                          _class_maps(root)))
    names = [t.name for t in out]
    for t in out:  # two datasets with the same folder name: tell them apart by their path
        if names.count(t.name) > 1:
            t.name = str(t.root)
    return out


def _load(pair, target: Target) -> tuple:
    """Image, mask and class map (or None) of one pair; MediaError names the file."""
    import numpy as np

    from ..engine.analysis.cadx import read_class_map
    from ..engine.errors import MediaError
    from ..engine.media.imageio import fit_mask, read_image, read_mask

    rgb = read_image(pair.image)
    if target.negatives_only:
        gt = np.zeros(rgb.shape[:2], bool)
    elif pair.mask is None:
        raise MediaError("no mask in masks/")
    else:  # a mask of another size: resized by the one rule every reader uses
        gt = fit_mask(read_mask(pair.mask), rgb.shape[:2], pair.mask.name)
    cls_path = target.classes.get(pair.stem)
    classes = read_class_map(cls_path, gt.shape) if cls_path is not None else None
    return rgb, gt, classes


def _images(all_targets: list[Target], bad: list[dict], warn):
    """Every loadable image of every dataset, in order (runs in the pipeline's decode thread)."""
    from ..engine.errors import MediaError

    for k, t in enumerate(all_targets):
        for pair in t.pairs:
            try:
                rgb, gt, classes = _load(pair, t)
            except MediaError as e:
                bad.append({"dataset": t.name, "stem": pair.stem, "error": str(e)})
                warn(f"{t.name}/{pair.stem}: {e}")
            else:
                yield _Image(k, pair.stem, rgb, gt, classes)


class _Scorer:
    """The pipeline's sink: one row per image, scored on the caller's thread."""

    def __init__(self, all_targets: list[Target]) -> None:
        self.targets, self.rows = all_targets, []

    def put(self, item: _Image, pred) -> None:
        from ..engine.analysis.cadx import polyp_classes

        row = score(item.stem, pred, item.gt, self.targets[item.target].name)
        if item.classes is not None:
            row["polyp_classes"] = polyp_classes(item.gt, item.classes, pred)
        self.rows.append(row)


def frame_threshold(predictor) -> float:
    """The frame verdict's operating point: the model file's own if it has one, else 0.5."""
    from ..engine.analysis.compare import FRAME_THRESHOLD

    for value in (getattr(predictor, "frame_threshold", None),
                  predictor.loaded.metadata.get("frame_threshold")):
        if isinstance(value, (int, float)) and 0.0 < float(value) < 1.0:
            return float(value)
    return FRAME_THRESHOLD


def _write_csv(path: str, rows: list[dict]) -> None:
    from ..engine import fsutil

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=ROW_KEYS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    fsutil.write_text(path, buf.getvalue())


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..engine import fsutil
    from ..engine.errors import PolypViewerError
    from ..engine.runtime.pipeline import AnalysisOptions, analyse_into
    from .common import make_predictor

    all_targets = targets(args)
    _check_outputs(args)
    predictor = make_predictor(args).for_media("dataset")
    for t in all_targets:
        how = f"split {t.split.name}" if t.split else "every image"
        truth = ", no masks: all negative" if t.negatives_only else ""
        print(f"evaluating {len(t.pairs)} image(s) of {t.root} ({how}{truth})")
    print(describe_predictor(predictor))
    bad: list[dict] = []
    scorer = _Scorer(all_targets)
    total = sum(len(t.pairs) for t in all_targets)
    options = AnalysisOptions(batch_size=args.batch_size, keep_prob=False)
    t0 = time.perf_counter()
    try:
        with tqdm(total=total, unit="img", file=sys.stderr, disable=None) as bar:
            def warn(msg: str) -> None:
                tqdm.write(f"{PROG}: {msg}", file=sys.stderr)

            for _ in analyse_into(scorer, _images(all_targets, bad, warn), predictor, options):
                bar.update(len(scorer.rows) + len(bad) - bar.n)
            bar.update(total - bar.n)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted after {len(scorer.rows)} image(s); nothing written",
              file=sys.stderr)
        return 130
    wall = time.perf_counter() - t0
    rows = scorer.rows
    if not rows:
        names = ", ".join(str(t.root) for t in all_targets)
        raise PolypViewerError(f"no image of {names} could be scored ({len(bad)} bad)")
    ms = 1000.0 * wall / len(rows)
    ft = frame_threshold(predictor)
    per_dataset = []
    for t in all_targets:
        trows = [r for r in rows if r["dataset"] == t.name]
        per_dataset.append({"dataset": str(t.root), "name": t.name,
                            "split": str(t.split) if t.split else None,
                            "negatives_only": t.negatives_only, **table_row(trows, ft),
                            "n_bad": sum(b["dataset"] == t.name for b in bad)})
    pooled = table_row(rows, ft)
    lines = [(d["name"], Path(d["split"]).name if d["split"] else "all", d) for d in per_dataset]
    if len(all_targets) > 1:
        lines.append(("all", "-", pooled))
    summary = summarise(rows)
    print(format_table(lines))
    if len(all_targets) == 1:
        print(format_details(summary, ms))
    else:
        print(f"time per image: {ms:.1f} ms ({len(rows)} images in {wall:.1f} s)")
    one = len(all_targets) == 1
    report = {"dataset": str(all_targets[0].root) if one else [str(t.root) for t in all_targets],
              "split": per_dataset[0]["split"] if one else [d["split"] for d in per_dataset],
              "model": predictor.name, "threshold": predictor.threshold,
              "frame_threshold": ft, "device": predictor.device_note, "tta": predictor.tta,
              "ms_per_image": round(ms, 2), **summary,
              "table": {"datasets": per_dataset, "all": pooled},
              "n_bad": len(bad), "bad": bad, "per_image": rows}
    if args.json:
        fsutil.write_json(args.json, report)
        print(f"wrote {args.json}")
    if args.csv:
        _write_csv(args.csv, rows)
        print(f"wrote {args.csv}")
    if bad:
        print(f"{PROG}: {len(bad)} image(s) could not be scored: "
              + ", ".join(b["stem"] for b in bad[:10]) + (" ..." if len(bad) > 10 else ""),
              file=sys.stderr)
        return 0 if args.skip_bad else 1
    return 0
