"""``polypviewer predict``: masks, overlays, optional Grad-CAM and one CSV for any inputs.

Every file is written atomically and each frame's CSV row is appended (and flushed) only
after its files exist; a frame whose files or row cannot be written is removed again. So
Ctrl-C, SIGTERM or a full disk leave the frames finished so far and a CSV listing exactly
them, and even kill -9 leaves a CSV (at most the frame in flight is unlisted). Temporaries
of a killed run are removed by the next run into the same folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..engine.errors import WriteError
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
CADX_COLUMN = "neoplastic_probability"  # models with the CADx channel only; research output

EPILOG = """\
outputs (in --out DIR):
  masks/NAME.png       binary mask, 0/255, at the input's original size
  overlays/NAME.jpg    mask fill + contour + one box per polyp with its confidence + verdict
                       (datasets: the ground-truth contour too, in blue)
  gradcam/NAME.jpg     Grad-CAM heatmap over the frame (with --gradcam)
  predictions.csv      one row per analysed frame: source, frame, time_s, polyp_probability,
                       polyp_count, boxes (JSON [[x0, y0, x1, y1, confidence], ...]), name;
                       models with a neoplastic channel add neoplastic_probability (JSON
                       list, one per box): RESEARCH ONLY, NOT A DIAGNOSIS

NAME is the image's file stem; for videos it is VIDEOSTEM_FRAME (frame number, 6 digits).
Videos: by default only frames with findings (at least one polyp region) get a mask and an
overlay, since a procedure has tens of thousands of frames; every frame still gets a CSV row.
Use --video-frames all to write every frame. Images always get a mask and an overlay.
Ctrl-C or SIGTERM stops cleanly: finished files stay, the CSV lists them, exit status 130.
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
    p.add_argument("--batch-size", type=positive_int, metavar="N",
                   help="frames per model call (default: 2 on CPU, from free memory on a GPU)")
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


OUTPUT_DIRS = ("masks", "overlays", "gradcam")


def remove_stale_temporaries(out: Path) -> None:
    """Half-written files (``.NAME.*.part*``) that a killed run left in the output folders."""
    for folder in (out, *(out / d for d in OUTPUT_DIRS)):
        if folder.is_dir():
            for p in folder.glob(".*.part*"):
                if p.is_file():
                    p.unlink(missing_ok=True)


class Writer:
    """Writes one frame's files, then its CSV row; names are made unique across inputs."""

    def __init__(self, out: Path, args: argparse.Namespace, predictor) -> None:
        self.out, self.args, self.predictor = out, args, predictor
        self.n_rows = 0
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
        self.csv_path = out / "predictions.csv"
        try:
            self.csv = self.csv_path.open("w", newline="", encoding="utf-8")
            cols = CSV_COLUMNS + ((CADX_COLUMN,) if self.has_cadx else ())
            self.table = csv.DictWriter(self.csv, fieldnames=cols, lineterminator="\n")
            self.table.writeheader()
            self.csv.flush()
        except OSError as e:
            raise WriteError(self.csv_path, e) from e

    def unique(self, name: str) -> str:
        base, k = name, 2
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name

    @property
    def has_cadx(self) -> bool:
        return bool(getattr(self.predictor, "has_cadx", False))

    def put(self, item: Item, pred) -> None:
        """The pipeline's sink (``analyse_into`` calls it on this thread, in order)."""
        self.frame(item, pred)

    def frame(self, item: Item, pred) -> None:
        """All of the frame's files and its row, or none of them (also on Ctrl-C)."""
        finding = has_finding(pred)
        write = finding or not item.is_video or self.args.video_frames == "all"
        name = self.unique(item.name)
        written: list[Path] = []
        pos = self.csv.tell()
        try:
            if write:
                self._files(item, pred, name, written)
            boxes = [[*inst.bbox, round(float(inst.confidence), 4)] for inst in pred.instances]
            row = {
                "source": item.source, "frame": item.index,
                "time_s": "" if item.time_s is None else f"{item.time_s:.3f}",
                "polyp_probability": f"{pred.frame_prob:.4f}", "polyp_count": pred.count,
                "boxes": json.dumps(boxes), "name": name if write else "",
            }
            if self.has_cadx:
                row[CADX_COLUMN] = json.dumps([round(float(i.neoplastic_probability), 4)
                                               for i in pred.instances])
            self._row(row)
        except BaseException:
            self._undo(pos, written)
            raise
        self.n_rows += 1
        self.n_findings += finding
        self.n_files += bool(write)

    def _files(self, item: Item, pred, name: str, written: list[Path]) -> None:
        from ..engine.export.overlay import blend_heatmap, draw_overlay
        from ..engine.media.imageio import write_png
        from .render import write_jpg

        path = self.out / "masks" / f"{name}.png"
        write_png(path, pred.mask)
        written.append(path)
        path = self.out / "overlays" / f"{name}.jpg"
        write_jpg(path, draw_overlay(item.rgb, pred, gt_mask=item.gt_mask))
        written.append(path)
        if self.gradcam is not None:
            heat = self.gradcam(self.predictor, item.rgb, target="segmentation")
            path = self.out / "gradcam" / f"{name}.jpg"
            write_jpg(path, blend_heatmap(item.rgb, heat))
            written.append(path)

    def _row(self, row: dict) -> None:
        try:
            self.table.writerow(row)
            self.csv.flush()  # on disk for any later crash, even kill -9
        except OSError as e:
            raise WriteError(self.csv_path, e) from e

    def _undo(self, pos: int, written: list[Path]) -> None:
        for p in written:
            p.unlink(missing_ok=True)
        try:
            self.csv.seek(pos)
            self.csv.truncate()
            self.csv.flush()
        except (OSError, ValueError):
            pass  # the row never reached the disk

    def close(self) -> Path:
        try:
            self.csv.close()
        except OSError as e:
            raise WriteError(self.csv_path, e) from e
        return self.csv_path


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
    from ..engine.runtime.pipeline import AnalysisOptions, analyse_into

    sources = open_sources(args.inputs)
    writer = None
    previous_term = _sigterm_as_interrupt()
    try:
        out = check_writable_dir(args.out)
        remove_stale_temporaries(out)
        predictor = _predictor(args)
        writer = Writer(out, args, predictor)
        total = sum(len(s) for _, s in sources)
        print(f"{describe_predictor(predictor)}; {total} frame(s) from {len(sources)} input(s)")
        t0 = time.perf_counter()
        options = AnalysisOptions(batch_size=args.batch_size, keep_prob=False)
        with tqdm(total=total, unit="frame", file=sys.stderr, disable=None, dynamic_ncols=True) as bar:
            # frames are decoded in the pipeline's thread; files are written here, in order
            for _ in analyse_into(writer, _items(sources), predictor, options):
                bar.update(1)
        dt = time.perf_counter() - t0
        path = writer.close()
    except KeyboardInterrupt:
        if writer is not None:
            path = writer.close()
            print(f"{PROG}: interrupted after {writer.n_rows} frame(s); "
                  f"finished files and {path} kept", file=sys.stderr)
        else:
            print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BaseException:
        if writer is not None:  # keep what was finished before the failure
            try:
                writer.close()
            except OSError:
                pass  # the error being raised already says what could not be written
        raise
    finally:
        problems = [line for _, s in sources for line in s.problems()]
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
        for _, s in sources:
            s.close()
    n = writer.n_rows
    print(f"{n} frame(s) in {dt:.1f} s ({1000 * dt / max(n, 1):.0f} ms/frame), "
          f"{writer.n_findings} with polyps; {writer.n_files} mask/overlay file(s) in {out}; "
          f"table {path}")
    return report_problems(problems)


def _sigterm_as_interrupt():
    """SIGTERM (a session ending, ``kill``) stops like Ctrl-C; returns the handler to restore."""
    if not hasattr(signal, "SIGTERM"):
        return None

    def interrupt(*_):
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        return None


def _predictor(args: argparse.Namespace):
    from .common import make_predictor

    return make_predictor(args, min_area_fraction=args.min_area)
