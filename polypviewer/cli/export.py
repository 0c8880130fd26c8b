"""``polypviewer export``: analyse a source and write masks, COCO, tables, overlays, video, report.

The files come from ``engine.export.writers`` (the same code as the viewer's Export menu); the output
folder appears complete or not at all, so an interrupted export leaves nothing behind.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import PROG, add_model_arguments, describe_predictor, report_problems

FORMATS = ("png", "coco", "csv", "json", "overlays", "mp4", "report")

EPILOG = """\
formats (repeat --format or separate with commas):
  png        masks/NAME.png, predicted mask 0/255 at the original size
  coco       coco.json, COCO instances (one polygon annotation per connected region)
  csv        predictions.csv, one row per image/frame (+ Dice, IoU, ... where GT exists)
  json       predictions.json, per-frame regions with finding IDs, findings and metrics
  overlays   overlays/NAME.png, the frame with mask, contours, boxes and verdict
  mp4        annotated.mp4, the overlaid frames as a video
  report     report.html, one self-contained page: findings, key frames, timeline
             (--pdf adds report.pdf; --procedure-id, --procedure-date, --operator and
             --note fill the report's header, all optional)

Every export also writes summary.txt: how much of the source was analysed, the findings and
the legend of the drawn labels. Videos are analysed into the viewer's analysis cache first, so
the findings (and their numbers) are the ones the viewer lists. Frame numbers in visible text
start at 1; file names and index fields count from 0.

The output folder must not exist unless --overwrite is given; it is written to a hidden
temporary folder first and renamed into place only when everything succeeded.
An unreadable image is skipped and a damaged video exported as far as it can be read; they are
listed at the end, in predictions.json and in report.html, and the exit status is 3."""


def _formats(value: str) -> list[str]:
    out = [v.strip().lower() for v in value.split(",") if v.strip()]
    bad = [v for v in out if v not in FORMATS]
    if bad or not out:
        raise argparse.ArgumentTypeError(f"unknown format {', '.join(bad) or repr(value)} "
                                         f"(choose from {', '.join(FORMATS)})")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("source", metavar="DATASET_OR_SOURCE",
                   help="a dataset (images/ + masks/), a folder of images, an image or a video")
    p.add_argument("--format", dest="formats", type=_formats, action="append", required=True,
                   metavar="FMT", help=f"what to write: {', '.join(FORMATS)}")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (must not exist)")
    p.add_argument("--split", metavar="FILE", help="datasets: only the images listed in FILE")
    add_model_arguments(p)
    p.add_argument("--holes", choices=("fill", "rle"), default="fill",
                   help="COCO regions with holes: fill them (polygons) or store exact RLE "
                        "(default %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace DIR if it exists")
    g = p.add_argument_group("report (with --format report; every field is optional)")
    g.add_argument("--procedure-id", metavar="ID", help="the procedure's identifier")
    g.add_argument("--procedure-date", metavar="DATE", help="when the procedure took place")
    g.add_argument("--operator", metavar="NAME", help="who performed the procedure")
    g.add_argument("--note", metavar="TEXT", help="a free note printed in the header")
    g.add_argument("--pdf", action="store_true", help="also write report.pdf (printed by Qt)")
    g.add_argument("--paper", choices=("a4", "letter"), default="a4",
                   help="the PDF's paper size (default %(default)s)")


def _procedure(args: argparse.Namespace) -> dict:
    return {"procedure_id": args.procedure_id, "date": args.procedure_date,
            "operator": args.operator, "note": args.note}


def _pdf_writer(args: argparse.Namespace, formats: list[str]):
    """The PDF writer, imported before any analysis so a missing Qt fails at once."""
    from ..engine.errors import PolypViewerError

    flags = {"--pdf": args.pdf, "--procedure-id": args.procedure_id,
             "--procedure-date": args.procedure_date, "--operator": args.operator,
             "--note": args.note}
    asked = [flag for flag, value in flags.items() if value]
    if asked and "report" not in formats:
        raise PolypViewerError(f"{', '.join(asked)} fill the report: add --format report")
    if not args.pdf:
        return None
    try:  # Qt only when a PDF is asked for: the engine never imports it
        from ..gui.report_pdf import write_pdf
    except ImportError as e:
        raise PolypViewerError(f"--pdf needs PySide6 (Qt prints the PDF): {e}") from e
    return write_pdf


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..engine.errors import PolypViewerError
    from ..engine.export.atomic_folder import check_export_target
    from ..engine.export.writers import ExportOptions, export, source_file_names
    from ..engine.media.sources import open_source
    from ..engine.runtime.pipeline import AnalysisOptions, analyse
    from .common import make_predictor

    formats = list(dict.fromkeys(f for group in args.formats for f in group))
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise PolypViewerError(f"{out} already exists; use --overwrite to replace it")
    check_export_target(out, args.overwrite)  # before the source is read or the model loads
    write_pdf = _pdf_writer(args, formats)
    source = open_source(args.source, args.split)
    try:
        predictor = make_predictor(args).for_media(source.kind)
        print(f"{describe_predictor(predictor)}; {len(source)} frame(s) from {source.path.name}")
        settings = {"threshold": round(predictor.threshold, 3),
                    "min_area_fraction": predictor.min_area_fraction,
                    "tta": predictor.tta, "device": predictor.device_note,
                    "input": source.kind}
        if args.split:
            settings["split"] = Path(args.split).name
        with tqdm(total=len(source), unit="frame", file=sys.stderr, disable=None,
                  dynamic_ncols=True) as bar:
            def progress(done: int, total: int | None) -> None:
                bar.update(done - bar.n)

            track = None
            if source.kind == "video":  # the viewer's path: cache, then its findings
                items, track = _video_items(source, predictor, progress)
                bar.reset()
            else:
                items = analyse(source, predictor, AnalysisOptions(keep_prob="coco" in formats))
            options = ExportOptions(tuple(formats), overwrite=args.overwrite, fps=source.fps,
                                    model_name=predictor.name, source_name=source.path.name,
                                    settings=settings, file_name=source_file_names(source),
                                    holes=args.holes, procedure=_procedure(args))
            result = export(items, out, options, total=len(source), progress=progress,
                            track=track, n_frames=len(source), input_notes=source.problems)
    finally:
        problems = source.problems()
        source.close()
    if write_pdf is not None:
        from ..engine import fsutil

        with fsutil.atomic_path(out / "report.pdf") as tmp:
            write_pdf((out / "report.html").read_text(encoding="utf-8"), tmp, args.paper)
        result.files.append("report.pdf")
    found = f", {len(result.findings)} finding(s)" if result.findings else ""
    dice = result.metrics.get("mean", {}).get("dice")
    score = f", mean Dice {dice:.3f}" if dice is not None else ""
    print(f"{result.n_items} frame(s) exported to {result.folder}: "
          f"{', '.join(result.files)}{found}{score}")
    status = report_problems(problems)
    if not result.n_items:
        print(f"{PROG}: warning: no frame could be read", file=sys.stderr)
        return 1
    return status


def _video_items(source, predictor, progress):
    """Analyse into the shared analysis cache, track, then stream frames with cached results."""
    from ..engine.analysis.procedure import analyse_store, video_findings
    from ..engine.analysis.tracking import settings_for
    from ..engine.runtime.results import AnalysisStore

    store = AnalysisStore.open(source, predictor, n_frames=len(source))
    analyse_store(store, source, predictor, progress=progress)
    thr, frac = predictor.threshold, predictor.min_area_fraction
    track = video_findings(store, source, thr, frac,
                           settings_for(predictor.loaded.metadata))
    items = ((f, store.get(f.index, thr, frac)) for f in source if store.has(f.index))
    return items, track
