"""``polypviewer predict``: masks, overlays, optional Grad-CAM and one CSV for any inputs.

Every file is written atomically and the CSV is rewritten whole, so Ctrl-C or a full disk
leaves only complete files: the frames finished so far and a CSV listing exactly them.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .common import (
    PROG,
    CommandUnavailable,
    add_model_arguments,
    describe_predictor,
    has_finding,
    positive_int,
    report_problems,
    unit_float,
)

CSV_COLUMNS = ("source", "frame", "time_s", "polyp_probability", "polyp_count", "boxes", "name")

EPILOG = """\
outputs (in --out DIR):
  masks/NAME.png       binary mask, 0/255, at the input's original size
  overlays/NAME.jpg    mask fill + contour + one box per polyp with its confidence + verdict
                       (datasets: the ground-truth contour too, in blue)
  gradcam/NAME.jpg     Grad-CAM heatmap over the frame (with --gradcam)
  predictions.csv      one row per analysed frame: source, frame, time_s, polyp_probability,
                       polyp_count, boxes (JSON [[x0, y0, x1, y1, confidence], ...]), name

NAME is the image's file stem; for videos it is VIDEOSTEM_FRAME (frame number, 6 digits).
Videos: by default only frames with findings (at least one polyp region) get a mask and an
overlay, since a procedure has tens of thousands of frames; every frame still gets a CSV row.
Use --video-frames all to write every frame. Images always get a mask and an overlay.
Ctrl-C stops cleanly: finished files stay, the CSV lists them, exit status 130.
An unreadable image is skipped and a damaged video analysed as far as it can be read; they are
listed at the end and the exit status is 3."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="images, folders of images, datasets (images/ + masks/) or videos")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    add_model_arguments(p)
    p.add_argument("--min-area", type=unit_float, metavar="FRAC",
                   help="ignore regions smaller than this share of the frame (default 0.001)")
    p.add_argument("--gradcam", action="store_true", help="also write Grad-CAM heatmaps (slower)")
    p.add_argument("--batch-size", type=positive_int, default=8, metavar="N",
                   help="frames per model call (default %(default)s)")
    p.add_argument("--video-frames", choices=("findings", "all"), default="findings",
                   help="which video frames get mask/overlay files (default %(default)s)")


@dataclass
class Item:
    """A decoded frame waiting for the model, with where it came from and its output name."""

    source: str
    index: int
    time_s: float | None
    rgb: object
    name: str
    is_video: bool
    gt_mask: object = None


def _frame_path(src, i: int) -> str:
    """The file a still came from (so CSV rows point at real files); the video otherwise."""
    if src.kind == "folder":
        return str(src.files[i])
    if src.kind == "dataset":
        return str(src.pairs[i].image)
    return str(src.path)


class Writer:
    """Writes one frame's files and keeps the CSV rows; names are made unique across inputs."""

    def __init__(self, out: Path, args: argparse.Namespace, predictor) -> None:
        self.out, self.args, self.predictor = out, args, predictor
        self.rows: list[dict] = []
        self.used: set[str] = set()
        self.n_files = 0
        self.n_findings = 0
        self.gradcam = None
        if args.gradcam:
            try:
                from ..engine.analysis.gradcam import gradcam
            except ImportError as e:
                raise CommandUnavailable(f"--gradcam is not available: {e}") from e
            self.gradcam = gradcam

    def unique(self, name: str) -> str:
        base, k = name, 2
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name

    def frame(self, item: Item, pred) -> None:
        from ..engine.export.overlay import blend_heatmap, draw_overlay
        from ..engine.media.imageio import write_png
        from .render import write_jpg

        finding = has_finding(pred)
        self.n_findings += finding
        write = finding or not item.is_video or self.args.video_frames == "all"
        name = self.unique(item.name)
        if write:
            write_png(self.out / "masks" / f"{name}.png", pred.mask)
            drawn = draw_overlay(item.rgb, pred, gt_mask=item.gt_mask)
            write_jpg(self.out / "overlays" / f"{name}.jpg", drawn)
            if self.gradcam is not None:
                heat = self.gradcam(self.predictor, item.rgb, target="segmentation")
                write_jpg(self.out / "gradcam" / f"{name}.jpg", blend_heatmap(item.rgb, heat))
            self.n_files += 1
        boxes = [[*inst.bbox, round(float(inst.confidence), 4)] for inst in pred.instances]
        self.rows.append({
            "source": item.source, "frame": item.index,
            "time_s": "" if item.time_s is None else f"{item.time_s:.3f}",
            "polyp_probability": f"{pred.frame_prob:.4f}", "polyp_count": pred.count,
            "boxes": json.dumps(boxes), "name": name if write else "",
        })

    def write_csv(self) -> Path:
        from ..engine import fsutil

        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(self.rows)
        path = self.out / "predictions.csv"
        fsutil.write_text(path, buf.getvalue())
        return path


def _items(sources):
    """Every frame of every input in order; the sources record what they had to skip."""
    for label, src in sources:
        video = src.kind == "video"
        for f in src.frames():
            yield Item(label if video else _frame_path(src, f.index), f.index, f.time_s, f.rgb,
                       f.name, video, f.gt_mask)


def open_sources(paths: list[str]) -> list:
    """Open every input first, so a bad one fails before any model loads or file is written."""
    from ..engine.media.sources import open_source

    opened = []
    try:
        for p in paths:
            opened.append((p, open_source(p)))
    except BaseException:
        for _, s in opened:
            s.close()
        raise
    return opened


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..engine.fsutil import check_writable_dir

    sources = open_sources(args.inputs)
    writer = None
    try:
        out = check_writable_dir(args.out)
        predictor = _predictor(args)
        writer = Writer(out, args, predictor)
        total = sum(len(s) for _, s in sources)
        print(f"{describe_predictor(predictor)}; {total} frame(s) from {len(sources)} input(s)")
        t0 = time.perf_counter()
        with tqdm(total=total, unit="frame", file=sys.stderr, disable=None, dynamic_ncols=True) as bar:
            batch: list[Item] = []
            for item in _items(sources):
                batch.append(item)
                if len(batch) >= args.batch_size:
                    _flush(batch, predictor, writer, bar)
            _flush(batch, predictor, writer, bar)
        dt = time.perf_counter() - t0
    except KeyboardInterrupt:
        if writer is not None:
            path = writer.write_csv()
            print(f"{PROG}: interrupted after {len(writer.rows)} frame(s); "
                  f"finished files and {path} kept", file=sys.stderr)
        else:
            print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BaseException:
        if writer is not None and writer.rows:
            writer.write_csv()  # keep what was finished before the failure
        raise
    finally:
        problems = [line for _, s in sources for line in s.problems()]
        for _, s in sources:
            s.close()
    path = writer.write_csv()
    n = len(writer.rows)
    print(f"{n} frame(s) in {dt:.1f} s ({1000 * dt / max(n, 1):.0f} ms/frame), "
          f"{writer.n_findings} with polyps; {writer.n_files} mask/overlay file(s) in {out}; "
          f"table {path}")
    return report_problems(problems)


def _predictor(args: argparse.Namespace):
    from .common import make_predictor

    return make_predictor(args, min_area_fraction=args.min_area)


def _flush(batch: list[Item], predictor, writer: Writer, bar) -> None:
    if not batch:
        return
    preds = predictor.predict_batch([it.rgb for it in batch])
    for item, pred in zip(batch, preds):
        writer.frame(item, pred)
        bar.update(1)
    batch.clear()
