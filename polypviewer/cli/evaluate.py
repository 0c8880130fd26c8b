"""``polypviewer evaluate``: score a model on a dataset against its masks.

Scores are computed at each mask's own resolution, never at model size, because that is how
published polyp benchmarks report Dice. An image whose mask has another size is an error for
that image (resizing either one silently would bias the score); such images are listed and
make the exit status non-zero unless ``--skip-bad``.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
import time
from pathlib import Path

from .common import PROG, add_model_arguments, describe_predictor, has_finding, positive_int

ROW_KEYS = ("stem", "dice", "iou", "precision", "recall", "f2", "accuracy", "specificity",
            "gt_count", "pred_count", "frame_prob", "gt_positive", "pred_positive")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", metavar="DATASET", help="folder with images/ and masks/ (same stems)")
    p.add_argument("--split", metavar="FILE", help="evaluate only the stems listed in FILE")
    add_model_arguments(p)
    p.add_argument("--batch-size", type=positive_int, default=8, metavar="N",
                   help="images per model call (default %(default)s)")
    p.add_argument("--json", metavar="OUT", help="write the summary and per-image scores as JSON")
    p.add_argument("--csv", metavar="OUT", help="write the per-image scores as CSV")
    p.add_argument("--skip-bad", action="store_true",
                   help="exit 0 even if some images could not be scored (they are still listed)")


def _check_outputs(args: argparse.Namespace) -> None:
    from ..engine.fsutil import check_writable_dir

    for out in (args.json, args.csv):
        if out:
            if Path(out).is_dir():
                raise IsADirectoryError(21, "is a folder, expected a file name", out)
            check_writable_dir(Path(out).parent)


def _load(pair) -> tuple:
    """Image and mask of one pair; raises MediaError with a message naming the file."""
    from ..engine.errors import MediaError
    from ..engine.media.imageio import fit_mask, read_image, read_mask

    if pair.mask is None:
        raise MediaError("no mask in masks/")
    rgb = read_image(pair.image)
    return rgb, fit_mask(read_mask(pair.mask), rgb.shape[:2], pair.mask.name)  # the one rule


def score(stem: str, pred, gt) -> dict:
    """Per-image row: pixel metrics at mask resolution plus counts and the frame verdict."""
    from ..engine.metrics import segmentation_metrics
    from ..engine.runtime.postprocess import find_instances, min_area_pixels

    m = segmentation_metrics(pred.mask, gt)
    gt_insts, _ = find_instances(gt, None, min_area_pixels(gt.shape, pred.min_area_fraction))
    row = {"stem": stem, **{k: m[k] for k in ROW_KEYS[1:8]}, "gt_count": len(gt_insts),
           "pred_count": pred.count, "frame_prob": round(float(pred.frame_prob), 6),
           "gt_positive": bool(gt.any()), "pred_positive": has_finding(pred)}
    row.update({k: m[k] for k in ("tp", "fp", "fn", "tn")})
    return row


def summarise(rows: list[dict]) -> dict:
    from ..engine.metrics import aggregate, confusion_matrix, frame_auc

    agg = aggregate(rows)
    mean = agg["mean"]
    out = {"n_images": agg["n"]}
    for k in ("dice", "iou"):
        out[f"mean_{k}"] = mean.get(k)
    for k in ("precision", "recall", "f2", "accuracy", "specificity"):
        out[k] = mean.get(k)
    out["std"] = agg["std"]
    out["pooled"] = agg["micro"]
    if rows:
        labels = [int(r["gt_positive"]) for r in rows]
        verdicts = [int(r["pred_positive"]) for r in rows]
        cm = confusion_matrix(labels, verdicts, threshold=0.5)
        auc = frame_auc(labels, [r["frame_prob"] for r in rows])
        out["frame_accuracy"] = cm["accuracy"]
        out["frame_confusion"] = cm
        out["frame_auc"] = None if math.isnan(auc) else auc
    return out


def _table(summary: dict, ms_per_image: float) -> str:
    def f(v):
        return "-" if v is None else f"{v:.4f}"

    lines = [("images", str(summary["n_images"])), ("mean Dice", f(summary["mean_dice"])),
             ("mean IoU", f(summary["mean_iou"])), ("precision", f(summary["precision"])),
             ("recall", f(summary["recall"])), ("F2", f(summary["f2"])),
             ("pixel accuracy", f(summary["accuracy"])),
             ("frame accuracy", f(summary.get("frame_accuracy"))),
             ("frame AUC", f(summary.get("frame_auc"))),
             ("time per image", f"{ms_per_image:.1f} ms")]
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in lines)


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
    from ..engine.errors import DatasetError, MediaError, PolypViewerError
    from ..engine.media.dataset import find_pairs
    from .common import make_predictor

    if not Path(args.dataset).exists():
        raise DatasetError(f"{args.dataset} does not exist")
    pairs = find_pairs(args.dataset, args.split)
    _check_outputs(args)
    predictor = make_predictor(args)
    print(f"evaluating {len(pairs)} image(s) of {args.dataset}: {describe_predictor(predictor)}")
    rows: list[dict] = []
    bad: list[dict] = []
    infer_s = 0.0

    def flush(batch):
        nonlocal infer_s
        if not batch:
            return
        t0 = time.perf_counter()
        preds = predictor.predict_batch([rgb for _, rgb, _ in batch])
        infer_s += time.perf_counter() - t0
        rows.extend(score(stem, pred, gt) for (stem, _, gt), pred in zip(batch, preds))
        batch.clear()

    try:
        with tqdm(total=len(pairs), unit="img", file=sys.stderr, disable=None) as bar:
            batch: list = []
            for pair in pairs:
                try:
                    rgb, gt = _load(pair)
                except MediaError as e:
                    bad.append({"stem": pair.stem, "error": str(e)})
                    tqdm.write(f"{PROG}: {pair.stem}: {e}", file=sys.stderr)
                else:
                    batch.append((pair.stem, rgb, gt))
                    if len(batch) >= args.batch_size:
                        flush(batch)
                bar.update(1)
            flush(batch)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted after {len(rows)} image(s); nothing written", file=sys.stderr)
        return 130
    if not rows:
        raise PolypViewerError(f"no image of {args.dataset} could be scored ({len(bad)} bad)")
    ms = 1000.0 * infer_s / len(rows)
    summary = summarise(rows)
    print(_table(summary, ms))
    report = {"dataset": str(args.dataset), "split": args.split, "model": predictor.name,
              "threshold": predictor.threshold, "device": predictor.device_note,
              "tta": predictor.tta, "ms_per_image": round(ms, 2), **summary,
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
