"""Everything a user can take away from an analysis, written by one code path (CLI and GUI).

``export(items, out_dir, ExportOptions(formats))`` consumes ``(Frame, FramePrediction)`` pairs once (from
``pipeline.analyse`` or from an ``AnalysisStore``) and writes every requested format:

=========  ==================================================================
png        ``masks/<name>.png``: predicted mask 0/255 at the frame's size
coco       ``coco.json``: one instance per connected region, polygons
csv        ``predictions.csv``: one row per image/frame (+ metrics with GT)
json       ``predictions.json``: per-frame regions with finding IDs, findings, coverage
overlays   ``overlays/<name>.png``: the frame with the chosen overlay layers
mp4        ``annotated.mp4``: the overlaid frames as an H.264 video
report     ``report.html``: one self-contained page (findings, timeline)
=========  ==================================================================

Every export also writes ``summary.txt``: how much of the source was analysed (its first
line says when only part of it was), the findings and the legend of the drawn labels.
Frame numbers shown to people are 1-based; ``index`` fields and file names stay 0-based.

The folder appears complete or not at all (``atomic_folder``); each format has its writer
(``format_writers``, ``coco``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .. import fsutil
from ..analysis.tracking import Finding, StillNumbering, TrackResult
from ..errors import PolypViewerError
from ..metrics import aggregate
from .atomic_folder import atomic_dir
from .coco import CocoWriter
from .format_writers import MasksWriter, Mp4Writer, OverlaysWriter, TableWriter, Writer
from .overlay import DEFAULT_STYLE, OverlayStyle
from .report import SUMMARY, coverage, summary_text
from .report_text import clean_procedure

FORMATS = ("png", "coco", "csv", "json", "overlays", "mp4", "report")


class ExportCancelled(PolypViewerError):
    """The user cancelled; nothing was left on disk."""


@dataclass
class ExportResult:
    folder: Path
    n_items: int
    files: list[str]  # top-level entries written, relative to ``folder``
    findings: list[Finding] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)  # metrics.aggregate over frames with GT
    notes: list[str] = field(default_factory=list)  # input problems (skipped files, damage)


def _cancelled(cancel) -> bool:
    if cancel is None:
        return False
    return bool(cancel.is_set() if hasattr(cancel, "is_set") else cancel())


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    return _UNSAFE.sub("_", name).strip("._") or "frame"


def default_file_name(frame, name: str) -> str:
    return f"{name}.png"


def source_file_names(source) -> Callable:
    """COCO ``file_name`` = the original image file for folders and datasets."""
    files = getattr(source, "files", None)
    pairs = getattr(source, "pairs", None)

    def name_of(frame, name: str) -> str:
        if pairs is not None:
            return pairs[frame.index].image.name
        if files is not None:
            return files[frame.index].name
        if getattr(source, "kind", "") == "image":
            return Path(source.path).name
        return default_file_name(frame, name)

    return name_of


def _ids_of(track: TrackResult, index: int, count: int) -> list[int]:
    ids = track.ids_per_frame.get(index, [])
    if len(ids) != count:
        raise PolypViewerError(f"the findings were made for other regions than frame {index + 1} "
                               "shows (another threshold?); recompute them before exporting")
    return ids


# --------------------------------------------------------------------------- export
@dataclass(frozen=True)
class ExportOptions:
    """What an export writes and how it labels it (items, cancel and progress come apart).

    ``holes``: COCO regions with holes are
    filled polygons (``fill``) or exact RLE (``rle``). ``procedure``: optional details for
    the report's header and the JSON (``report_text`` fields).
    """

    formats: tuple[str, ...]
    overwrite: bool = False
    style: OverlayStyle = DEFAULT_STYLE
    fps: float | None = None
    model_name: str = ""
    source_name: str = ""
    settings: dict = field(default_factory=dict)
    file_name: Callable = default_file_name
    holes: str = "fill"
    procedure: dict | None = None


def export(items: Iterable[tuple], out_dir: str | Path, options: ExportOptions, *,
           total: int | None = None, cancel=None,
           progress: Callable[[int, int | None], None] | None = None,
           track: TrackResult | None = None, n_frames: int | None = None,
           input_notes: Callable[[], list[str]] | None = None) -> ExportResult:
    """Write ``options.formats`` for ``(Frame, FramePrediction)`` items into ``out_dir`` atomically.

    ``cancel``: a threading.Event or a callable, checked before each item (ExportCancelled).
    ``progress(done, total)`` after each item. ``track``: the findings of this analysis
    (``analysis.findings_cache``): its IDs label boxes and fill the JSON, the report lists its
    findings; a video needs one, stills without one get one finding per region (as the
    viewer numbers them). ``n_frames``: the source's length, so every output says how much
    of it was analysed. ``input_notes()``, asked once the items are done, lists input problems
    (skipped files, a damaged video) for predictions.json and the report.
    """
    formats, overwrite, style, fps = options.formats, options.overwrite, options.style, options.fps
    model_name, source_name, file_name = options.model_name, options.source_name, options.file_name
    holes = options.holes
    from .report import ReportBuilder

    formats = list(dict.fromkeys(formats))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise PolypViewerError(f"unknown export format {', '.join(bad) or '(none)'}; "
                               f"choose from {', '.join(FORMATS)}")
    if holes not in ("fill", "rle"):
        raise PolypViewerError(f"holes must be 'fill' or 'rle', not {holes!r}")
    settings = dict(options.settings or {})
    created = time.strftime("%Y-%m-%d %H:%M:%S")
    header = {"source": source_name, "model": model_name, "created": created, "settings": settings}
    procedure = clean_procedure(options.procedure)
    if procedure:
        header["procedure"] = procedure
    findings: list[Finding] = []
    metrics: dict = {}
    with atomic_dir(out_dir, overwrite) as tmp:
        writers: list[Writer] = []
        report = None
        try:
            if "png" in formats:
                writers.append(MasksWriter(tmp))
            if "overlays" in formats:
                writers.append(OverlaysWriter(tmp, style))
            if "coco" in formats:
                info = {"description": f"PolypViewer predictions {source_name}".strip(),
                        "date_created": created, "model": model_name, **settings}
                writers.append(CocoWriter(tmp, file_name, info, holes))
            table = TableWriter(tmp, "csv" in formats, "json" in formats, header)
            writers.append(table)
            if "mp4" in formats:
                writers.append(Mp4Writer(tmp, style, float(fps or 25.0)))
            if "report" in formats:
                report = ReportBuilder(style, track)
            stills = StillNumbering() if track is None else None
            used: set[str] = set()
            n = 0
            for frame, pred in items:
                if _cancelled(cancel):
                    raise ExportCancelled("export cancelled")
                if stills is not None:
                    if frame.time_s is not None:
                        raise PolypViewerError("a video export needs its findings (track=...)")
                    ids = stills.add(frame.index, frame.time_s, pred.instances,
                                     float(pred.mask.size))
                else:
                    ids = _ids_of(track, frame.index, pred.count)
                name = safe_name(frame.name)
                if name in used:
                    name = f"{name}_{frame.index}"
                used.add(name)
                for w in writers:
                    w.add(frame, pred, name, ids)
                if report is not None:  # stills: the most probable images, not one card each
                    report.add(frame, pred, ids if track is not None else [])
                n += 1
                if progress is not None:
                    progress(n, total)
            if _cancelled(cancel):
                raise ExportCancelled("export cancelled")
            notes = list(input_notes()) if input_notes is not None else []
            if notes:  # header["settings"] is this dict: the JSON and the report show it
                settings["input problems"] = notes
            if not n:
                raise PolypViewerError(f"nothing to export from {source_name or 'the source'}: "
                                       "no frame was analysed; analyse it first")
            whole = int(n_frames or (track.n_frames if track is not None else 0) or total or n)
            header["coverage"] = coverage(n, whole)
            if "coco" in formats:
                info["coverage"] = header["coverage"]["text"]
            findings = track.findings if track is not None else stills.findings
            if track is not None:
                header["tracking"] = track.settings.to_dict()
            header["findings"] = [f.to_dict() for f in findings]
            files: list[str] = []
            for w in writers:
                files += w.finish()
            if table.metric_rows:
                metrics = aggregate(table.metric_rows)
            if report is not None:
                html = report.html(findings if track is not None else [], header=header,
                                   metrics=metrics, fps=fps,
                                   settings_text=track.settings.describe() if track else "")
                fsutil.write_text(tmp / "report.html", html)
                files.append("report.html")
            fsutil.write_text(tmp / SUMMARY, summary_text(header, findings))
            files.append(SUMMARY)
        finally:
            for w in writers:
                w.close()
            close = getattr(items, "close", None)
            if close is not None:  # stop a pipeline generator's threads now, not at GC
                close()
    return ExportResult(Path(out_dir), n, files, findings, metrics, notes)
