"""``polypviewer predict``: masks, overlays, optional Grad-CAM, one CSV and the findings for any inputs.

Stills stream through the engine pipeline into the writer. A video is analysed into the
viewer's analysis cache first and tracked by ``findings_for_store``, so its rows carry the
finding numbers the viewer, the exports and the report give; an interrupted video resumes
from the cache. How the files stay consistent through Ctrl-C, SIGTERM, a full disk or kill -9:
``predict_output``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from dataclasses import dataclass

from ..engine.errors import PolypViewerError
from ..engine.runtime import views
from .common import (
    PROG,
    add_model_arguments,
    describe_predictor,
    positive_int,
    report_problems,
    unit_float,
)
from .predict_output import FINDINGS, Writer, recover

EPILOG = """\
outputs (in --out DIR):
  masks/NAME.png       binary mask, 0/255, at the input's original size
  overlays/NAME.jpg    mask fill + contour + one box per polyp with its confidence + verdict
                       (datasets: the ground-truth contour too, in blue)
  gradcam/NAME.jpg     Grad-CAM heatmap over the frame (with --gradcam)
  predictions.csv      one row per analysed frame: source, frame, time_s, polyp_probability,
                       polyp_count, boxes (JSON [[x0, y0, x1, y1, confidence], ...]),
                       finding_ids (JSON list, one per box: the finding it belongs to, 1..K,
                       0 = none), name; models with a neoplastic channel add
                       neoplastic_probability (JSON list, one per box): RESEARCH ONLY, NOT A
                       DIAGNOSIS
  findings.json        per input: coverage, findings (first/last frame and time, key frame,
                       confidence, size, reviewer verdict) and, for videos, the tracking
                       settings

NAME is the image's file stem; for videos it is VIDEOSTEM_FRAME (frame number, 6 digits).
Videos: by default only frames with findings (at least one polyp region) get a mask and an
overlay, since a procedure has tens of thousands of frames; every frame still gets a CSV row.
Use --video-frames all to write every frame. Images always get a mask and an overlay.
Videos are analysed into the viewer's analysis cache first and tracked as the viewer tracks
them: finding numbers are the ones the viewer, export and report give (stills: one finding
per region, numbered per input). A frame is finished when predictions.csv lists it.
Ctrl-C or SIGTERM stops cleanly: finished files stay, the CSV lists them, exit status 130;
after kill -9 the next predict into the same folder first removes the files of the one frame
that was being written.
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
    input: int = 0  # which input it came from (stills are numbered per input)
    finding_ids: list[int] | None = None  # videos: per region, from the track


def _frame_path(src, i: int) -> str:
    """The file a still came from (so CSV rows point at real files); the video otherwise."""
    if src.kind == "folder":
        return str(src.files[i])
    if src.kind == "dataset":
        return str(src.pairs[i].image)
    return str(src.path)


def _items(stills):
    """Every image of a run of still inputs in order; the sources record what they skipped."""
    for k, _, src in stills:
        for f in src.frames():
            yield Item(_frame_path(src, f.index), f.index, f.time_s, f.rgb, f.name, False,
                       f.gt_mask, k)


def _runs(sources):
    """Consecutive still inputs in one pipeline run; each video on its own."""
    run: list = []
    for k, (label, src) in enumerate(sources):
        if src.kind == "video":
            if run:
                yield run
                run = []
            yield [(k, label, src)]
        else:
            run.append((k, label, src))
    if run:
        yield run


def _video(k: int, label: str, src, predictor, writer: Writer, args, bar) -> int:
    """Analyse into the cache, track (the one tracking path), then write frame by frame."""
    from ..engine.analysis.procedure import analyse_store, video_findings
    from ..engine.analysis.tracking import settings_for
    from ..engine.runtime.results import AnalysisStore

    store = AnalysisStore.open(src, predictor, n_frames=len(src))
    start = bar.n
    analyse_store(store, src, predictor, batch_size=args.batch_size,
                  progress=lambda done, n: bar.update(start + done - bar.n))
    bar.update(start + len(src) - bar.n)
    thr, frac = predictor.threshold, predictor.min_area_fraction
    track = video_findings(store, src, thr, frac,
                           settings_for(predictor.loaded.metadata))
    writer.add_findings(label, "video", track.findings, track.n_analysed, len(src),
                        track.settings.to_dict())  # known now: an interrupted run keeps them
    for f in src.frames():
        if not store.has(f.index):
            continue  # a frame the analysis could not read (a damaged stretch)
        try:
            pred = store.get(f.index, thr, frac)
        except KeyError as e:  # a cache entry damaged on disk: discarded, analysed next run
            raise PolypViewerError(f"{label}: {e.args[0]}; run predict again") from None
        ids = track.ids_per_frame.get(f.index, [])
        if len(ids) != pred.count:
            raise PolypViewerError(f"{label}: the findings do not match frame {f.index + 1}'s "
                                   "regions; run predict again")
        writer.frame(Item(label, f.index, f.time_s, f.rgb, f.name, True, f.gt_mask, k, ids), pred)
    return len(track.counted)


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
    inputs = {k: (label, len(src)) for k, (label, src) in enumerate(sources)}
    writer = None
    previous_term = _sigterm_as_interrupt()
    try:
        out = check_writable_dir(args.out)
        recover(out)  # what a killed run into this folder left half done
        videos = [s.kind == "video" for _, s in sources]
        predictor = _predictor(args).for_media("video" if all(videos) else "image")
        writer = Writer(out, args, predictor)
        total = sum(len(s) for _, s in sources)
        mixed = ", one view for video" if any(videos) and not all(videos) and (
            predictor.tta_request == views.AUTO) else ""
        print(f"{describe_predictor(predictor)}{mixed}; {total} frame(s) from {len(sources)} "
              "input(s)")
        t0 = time.perf_counter()
        options = AnalysisOptions(batch_size=args.batch_size, keep_prob=False)
        found = 0
        with tqdm(total=total, unit="frame", file=sys.stderr, disable=None, dynamic_ncols=True) as bar:
            for group in _runs(sources):
                writer.predictor = predictor = predictor.for_media(group[0][2].kind)
                if group[0][2].kind == "video":
                    found += _video(*group[0], predictor, writer, args, bar)
                    continue
                # frames are decoded in the pipeline's thread; files are written here, in order
                for _ in analyse_into(writer, _items(group), predictor, options):
                    bar.update(1)
                writer.finish_stills(inputs)
        dt = time.perf_counter() - t0
        path = writer.close()
    except KeyboardInterrupt:
        if writer is not None:
            try:
                writer.finish_stills(inputs)  # findings.json covers the images written
            except OSError:
                pass
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
    tracked = f"; {found} finding(s) in the video(s), {FINDINGS}" if any(
        s.kind == "video" for _, s in sources) else ""
    print(f"{n} frame(s) in {dt:.1f} s ({1000 * dt / max(n, 1):.0f} ms/frame), "
          f"{writer.n_findings} with polyps; {writer.n_files} mask/overlay file(s) in {out}; "
          f"table {path}{tracked}")
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
