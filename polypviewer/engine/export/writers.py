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

The folder appears complete or not at all: work happens in a hidden temporary folder beside
it that is renamed into place at the end and deleted on error or cancel. An existing folder
is replaced only with ``overwrite=True``. A temporary folder left by a killed export (its owner
file names a process that is gone) is removed by the next export into the same parent.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .. import fsutil
from ..analysis.tracking import Finding, StillNumbering, TrackResult
from ..errors import PolypViewerError
from ..media.imageio import write_png
from ..metrics import METRICS, aggregate, segmentation_metrics
from .overlay import DEFAULT_STYLE, OverlayStyle, draw_overlay
from .report import SUMMARY, coverage, summary_text
from .report_text import clean_procedure
from .video_encoder import VideoEncoder

FORMATS = ("png", "coco", "csv", "json", "overlays", "mp4", "report")
COCO_CATEGORY = {"id": 1, "name": "polyp", "supercategory": "polyp"}


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


# --------------------------------------------------------------------------- atomic folder
OWNER_FILE = ".polypviewer-export"  # "host pid" of the export writing a temporary folder
STALE_UNOWNED_S = 3600.0  # an unmarked temporary (older versions) this old is abandoned


def _owner_alive(folder: Path) -> bool:
    try:
        host, pid = (folder / OWNER_FILE).read_text(encoding="utf-8").split()
        pid = int(pid)
    except (OSError, ValueError):
        return time.time() - folder.stat().st_mtime < STALE_UNOWNED_S
    if host != socket.gethostname():
        return True  # another machine's export on a shared folder: not ours to judge
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def remove_stale_temporaries(out: Path) -> None:
    """What killed exports left beside ``out``: their temporary folders, a displaced old export.

    A temporary folder is removed when the process that made it is gone; an old export moved
    aside for replacing is put back if the export that moved it never finished.
    """
    parent = out.parent
    if not parent.is_dir():
        return
    for p in parent.glob(".*.part"):
        if p.is_dir() and not p.is_symlink() and (p.name.startswith(f".{out.name}.")
                                                  or (p / OWNER_FILE).is_file()):
            try:
                if not _owner_alive(p):
                    shutil.rmtree(p, ignore_errors=True)
            except OSError:
                pass
    for old in parent.glob(f".{out.name}.old-*"):
        if old.is_dir() and not old.is_symlink():
            if out.exists():
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(old, out)


def check_export_target(out_dir: str | Path, overwrite: bool = False) -> Path:
    """Refuse an output folder that cannot be made, before any analysis starts."""
    out = Path(out_dir)
    blocker = fsutil.file_in_the_way(out.parent)
    if blocker is not None:
        raise PolypViewerError(f"cannot export to {out}: {blocker} is a file, not a folder")
    if out.exists() and not overwrite:
        raise PolypViewerError(f"{out} already exists; choose another folder or allow overwriting")
    if out.exists() and not out.is_dir():
        raise PolypViewerError(f"{out} exists and is not a folder")
    ancestor = next(p for p in (out.parent, *out.parent.parents) if p.exists())
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise PolypViewerError(f"cannot export to {out}: {ancestor} is not writable")
    return out


@contextmanager
def atomic_dir(out_dir: str | Path, overwrite: bool = False):
    """Yield a temporary folder that becomes ``out_dir`` only if the block succeeds."""
    out = check_export_target(out_dir, overwrite)
    try:
        remove_stale_temporaries(out)
    except OSError:
        pass  # tidying is best effort; the export itself reports real problems
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    except OSError as e:
        raise PolypViewerError(f"cannot write to {out.parent}: {e.strerror or e}") from e
    try:
        (tmp / OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}\n", encoding="utf-8")
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PolypViewerError(f"cannot write to {out.parent}: {e.strerror or e}") from e
    try:
        yield tmp
        (tmp / OWNER_FILE).unlink(missing_ok=True)
        fsutil.publish_mode(tmp, out)
        if out.exists():
            if not overwrite:
                raise PolypViewerError(f"{out} appeared while exporting; nothing was replaced")
            old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(out, old)
            try:
                os.replace(tmp, out)
            except OSError:
                os.replace(old, out)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _cancelled(cancel) -> bool:
    if cancel is None:
        return False
    return bool(cancel.is_set() if hasattr(cancel, "is_set") else cancel())


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    return _UNSAFE.sub("_", name).strip("._") or "frame"


# --------------------------------------------------------------------------- COCO helpers
def mask_polygons(mask: np.ndarray) -> list[list[float]]:
    """Outer boundary polygons (x, y, x, y, ...) of a bool mask, holes filled.

    Traced on a 2x nearest-upscaled copy so the polygon runs between pixel centres and pixel
    edges: pycocotools rasterises it back to exactly the same pixels.
    """
    m = mask.astype(np.uint8)
    if not m.any():
        return []
    big = cv2.resize(m, (m.shape[1] * 2, m.shape[0] * 2), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours:
        pts = c.reshape(-1, 2).astype(np.float64) / 2.0 + 0.25
        if len(pts) >= 3:  # a polygon needs three corners
            out.append([round(float(v), 2) for v in pts.ravel()])
    return out


def mask_rle(mask: np.ndarray) -> dict:
    """Uncompressed COCO RLE (column-major run lengths starting with background)."""
    flat = mask.astype(np.uint8).ravel(order="F")
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def coco_annotations(mask: np.ndarray, prob: np.ndarray | None, image_id: int, first_id: int,
                     holes: str = "fill") -> list[dict]:
    """One annotation per 8-connected region; ``holes="rle"`` stores holed regions exactly."""
    m = mask.astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    anns = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        comp = labels[y:y + h, x:x + w] == i
        seg: list | dict
        if holes == "rle" and _has_hole(comp):
            full = np.zeros(mask.shape, bool)
            full[y:y + h, x:x + w] = comp
            seg = mask_rle(full)
        else:
            seg = [[v + (x if k % 2 == 0 else y) for k, v in enumerate(p)]
                   for p in mask_polygons(comp)]
            seg = [[round(v, 2) for v in p] for p in seg]
            if not seg:
                continue
        ann = {"id": first_id + len(anns), "image_id": image_id, "category_id": 1,
               "segmentation": seg, "area": area, "bbox": [x, y, w, h], "iscrowd": 0}
        if prob is not None:
            ann["score"] = round(float(prob[y:y + h, x:x + w][comp].mean()), 4)
        anns.append(ann)
    return anns


def _has_hole(comp: np.ndarray) -> bool:
    _, hier = cv2.findContours(comp.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return hier is not None and bool((hier[0][:, 3] >= 0).any())


# --------------------------------------------------------------------------- writers
class _Writer:
    def add(self, frame, pred, name: str, ids: list[int]) -> None:
        pass

    def finish(self) -> list[str]:
        return []

    def close(self) -> None:
        pass


class _Masks(_Writer):
    def __init__(self, root: Path):
        self.dir = root / "masks"
        self.dir.mkdir()

    def add(self, frame, pred, name, ids):
        write_png(self.dir / f"{name}.png", pred.mask)

    def finish(self):
        return ["masks"]


class _Overlays(_Writer):
    def __init__(self, root: Path, style: OverlayStyle):
        self.dir, self.style = root / "overlays", style
        self.dir.mkdir()

    def add(self, frame, pred, name, ids):
        img = draw_overlay(frame.rgb, pred, style=self.style, gt_mask=frame.gt_mask, track_ids=ids)
        write_png(self.dir / f"{name}.png", img)

    def finish(self):
        return ["overlays"]


class _Coco(_Writer):
    def __init__(self, root: Path, file_name: Callable, info: dict, holes: str):
        self.path, self.file_name, self.info, self.holes = root / "coco.json", file_name, info, holes
        self.images: list[dict] = []
        self.anns: list[dict] = []

    def add(self, frame, pred, name, ids):
        image_id = len(self.images) + 1
        h, w = pred.mask.shape
        self.images.append({"id": image_id, "file_name": self.file_name(frame, name),
                            "width": int(w), "height": int(h)})
        self.anns += coco_annotations(pred.mask, pred.prob, image_id, len(self.anns) + 1, self.holes)

    def finish(self):
        coco = {"info": self.info, "licenses": [], "categories": [COCO_CATEGORY],
                "images": self.images, "annotations": self.anns}
        fsutil.write_text(self.path, json.dumps(coco, separators=(",", ":")))
        return [self.path.name]


class _Video(_Writer):
    """The overlaid frames as H.264 (video_encoder; OpenCV's mp4v where PyAV cannot)."""

    def __init__(self, root: Path, style: OverlayStyle, fps: float):
        self.path, self.style, self.fps = root / "annotated.mp4", style, fps
        self.encoder: VideoEncoder | None = None

    def add(self, frame, pred, name, ids):
        img = draw_overlay(frame.rgb, pred, style=self.style, gt_mask=frame.gt_mask, track_ids=ids)
        if self.encoder is None:
            self.encoder = VideoEncoder(self.path, self.fps, img.shape[1], img.shape[0])
        self.encoder.write(img)

    def finish(self):
        self.close()
        return [self.path.name] if self.path.exists() else []

    def close(self):
        if self.encoder is not None:
            self.encoder.close()
            self.encoder = None


class _Table(_Writer):
    """Rows for predictions.csv / predictions.json, metrics where a GT mask exists."""

    def __init__(self, root: Path, csv_on: bool, json_on: bool, header: dict):
        self.root, self.csv_on, self.json_on, self.header = root, csv_on, json_on, header
        self.rows: list[dict] = []
        self.frames: list[dict] = []
        self.metric_rows: list[dict] = []

    def add(self, frame, pred, name, ids):
        row = {"index": frame.index, "frame": frame.index + 1, "name": frame.name,
               "time_s": None if frame.time_s is None else round(float(frame.time_s), 3),
               "frame_prob": round(pred.frame_prob, 4), "polyp": int(pred.count > 0),
               "count": pred.count,
               "max_confidence": round(max((i.confidence for i in pred.instances), default=0.0), 4),
               "area": int(sum(i.area for i in pred.instances)),
               "finding_ids": " ".join(str(t) for t in ids)}  # per region, 0 = no finding
        if frame.gt_mask is not None:
            m = segmentation_metrics(pred.mask, frame.gt_mask)
            self.metric_rows.append(m)
            row.update({k: round(m[k], 4) for k in METRICS})
        self.rows.append(row)
        if self.json_on:
            insts = [{**inst.to_dict(), "finding_id": ids[k] if k < len(ids) else 0}
                     for k, inst in enumerate(pred.instances)]
            self.frames.append({**row, "instances": insts})

    def finish(self):
        out = []
        if self.csv_on:
            cols = list(self.rows[0]) if self.rows else ["index", "name"]
            for r in self.rows:  # frames with GT add metric columns
                cols += [k for k in r if k not in cols]
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=cols, restval="", lineterminator="\n")
            w.writeheader()
            w.writerows(self.rows)
            fsutil.write_text(self.root / "predictions.csv", buf.getvalue())
            out.append("predictions.csv")
        if self.json_on:
            doc = {**self.header, "metrics": aggregate(self.metric_rows) if self.metric_rows else {},
                   "frames": self.frames}
            fsutil.write_json(self.root / "predictions.json", doc)
            out.append("predictions.json")
        return out


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
        writers: list[_Writer] = []
        report = None
        try:
            if "png" in formats:
                writers.append(_Masks(tmp))
            if "overlays" in formats:
                writers.append(_Overlays(tmp, style))
            if "coco" in formats:
                info = {"description": f"PolypViewer predictions {source_name}".strip(),
                        "date_created": created, "model": model_name, **settings}
                writers.append(_Coco(tmp, file_name, info, holes))
            table = _Table(tmp, "csv" in formats, "json" in formats, header)
            writers.append(table)
            if "mp4" in formats:
                writers.append(_Video(tmp, style, float(fps or 25.0)))
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
