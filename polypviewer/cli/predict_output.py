"""What ``polypviewer predict`` writes, frame by frame, so that a kill never leaves it inconsistent.

A frame is finished when its row is in ``predictions.csv``. Before a frame's files are written,
``.predict-pending.json`` names them (atomically); the row is appended and flushed after the
files, then the note is removed. A frame whose files or row fail is removed again (also on
Ctrl-C). After kill -9 at most that one frame has files without a row, and the note says which:
the next run into the folder deletes them (``recover``) before it starts, together with the
half-written temporaries (``.NAME.*.part*``) of the killed run.

``findings.json`` sums up the findings of each input (rewritten atomically after each one):
videos are tracked by ``engine.analysis.findings_cache`` (the viewer's, the export's and the
report's numbers), stills numbered one finding per region, as the viewer numbers them.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from ..engine import fsutil
from ..engine.errors import WriteError
from .common import CommandUnavailable, has_finding

CSV_COLUMNS = ("source", "frame", "time_s", "polyp_probability", "polyp_count", "boxes",
               "finding_ids", "name")
CADX_COLUMN = "neoplastic_probability"  # models with the CADx channel only; research output
OUTPUT_DIRS = ("masks", "overlays", "gradcam")
PENDING = ".predict-pending.json"
FINDINGS = "findings.json"


def _listed(csv_path: Path) -> set[str]:
    """Names of the frames a (previous) predictions.csv lists as written."""
    try:
        with csv_path.open(newline="", encoding="utf-8") as f:
            return {r.get("name") or "" for r in csv.DictReader(f)} - {""}
    except (OSError, UnicodeError, csv.Error):
        return set()


def recover(out: Path) -> list[Path]:
    """Undo what a killed run left half done in ``out``; returns the files removed.

    The frame named in ``PENDING`` loses its files unless the CSV lists it (the kill came
    after its row); temporaries (``.NAME.*.part*``) go in any case.
    """
    removed: list[Path] = []
    note = out / PENDING
    if note.is_file():
        try:
            doc = json.loads(note.read_text(encoding="utf-8"))
            name, files = str(doc["name"]), [str(p) for p in doc["files"]]
        except (OSError, ValueError, KeyError, TypeError):
            name, files = "", []  # unreadable: the kill came while it was written, before any file
        if name and name not in _listed(out / "predictions.csv"):
            for rel in files:
                path = out / rel
                if path.parent.name in OUTPUT_DIRS and path.parent.parent == out and path.is_file():
                    path.unlink()
                    removed.append(path)
        note.unlink(missing_ok=True)
    for folder in (out, *(out / d for d in OUTPUT_DIRS)):
        if folder.is_dir():
            for p in folder.glob(".*.part*"):
                if p.is_file():
                    p.unlink(missing_ok=True)
                    removed.append(p)
    return removed


class Writer:
    """Writes one frame's files, then its CSV row; names are made unique across inputs."""

    def __init__(self, out: Path, args: argparse.Namespace, predictor) -> None:
        self.out, self.args, self.predictor = out, args, predictor
        self.n_rows = 0
        self.used: set[str] = set()
        self.n_files = 0
        self.n_findings = 0  # frames with at least one polyp region
        self.summaries: list[dict] = []  # findings.json, one entry per input
        self._stills: dict[int, list] = {}  # input number -> [StillNumbering, images written]
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

    def put(self, item, pred) -> None:
        """The pipeline's sink for stills (``analyse_into`` calls it on this thread, in order)."""
        self.frame(item, pred)

    def frame(self, item, pred) -> None:
        """All of the frame's files and its row, or none of them (also on Ctrl-C)."""
        finding = has_finding(pred)
        write = finding or not item.is_video or self.args.video_frames == "all"
        name = self.unique(item.name)
        ids = item.finding_ids if item.is_video else self._number_still(item, pred)
        files = self._file_names(name) if write else []
        pos = self.csv.tell()
        try:
            if write:
                fsutil.write_json(self.out / PENDING, {"name": name, "files": files})
                self._files(item, pred, ids, [self.out / f for f in files])
            boxes = [[*inst.bbox, round(float(inst.confidence), 4)] for inst in pred.instances]
            row = {
                "source": item.source, "frame": item.index,
                "time_s": "" if item.time_s is None else f"{item.time_s:.3f}",
                "polyp_probability": f"{pred.frame_prob:.4f}", "polyp_count": pred.count,
                "boxes": json.dumps(boxes), "finding_ids": json.dumps(list(ids)),
                "name": name if write else "",
            }
            if self.has_cadx:
                row[CADX_COLUMN] = json.dumps([round(float(i.neoplastic_probability), 4)
                                               for i in pred.instances])
            self._row(row)
        except BaseException:
            self._undo(pos, [self.out / f for f in files])
            raise
        if write:
            (self.out / PENDING).unlink(missing_ok=True)
        self.n_rows += 1
        self.n_findings += finding
        self.n_files += bool(write)

    def _file_names(self, name: str) -> list[str]:
        names = [f"masks/{name}.png", f"overlays/{name}.jpg"]
        return names + ([f"gradcam/{name}.jpg"] if self.gradcam is not None else [])

    def _files(self, item, pred, ids: list[int], paths: list[Path]) -> None:
        from ..engine.export.overlay import blend_heatmap, draw_overlay
        from ..engine.media.imageio import write_png
        from .render import write_jpg

        write_png(paths[0], pred.mask)
        write_jpg(paths[1], draw_overlay(item.rgb, pred, gt_mask=item.gt_mask, track_ids=ids))
        if self.gradcam is not None:
            heat = self.gradcam(self.predictor, item.rgb, target="segmentation")
            write_jpg(paths[2], blend_heatmap(item.rgb, heat))

    def _row(self, row: dict) -> None:
        try:
            self.table.writerow(row)
            self.csv.flush()  # on disk for any later crash, even kill -9
        except OSError as e:
            raise WriteError(self.csv_path, e) from e

    def _undo(self, pos: int, written: list[Path]) -> None:
        for p in written:
            p.unlink(missing_ok=True)
        (self.out / PENDING).unlink(missing_ok=True)
        try:
            self.csv.seek(pos)
            self.csv.truncate()
            self.csv.flush()
        except (OSError, ValueError):
            pass  # the row never reached the disk

    # ------------------------------------------------------------------ findings.json
    def _number_still(self, item, pred) -> list[int]:
        """Stills: one finding per region, numbered 1..K within each input (as the viewer)."""
        from ..engine.analysis.tracking import StillNumbering

        numbering = self._stills.setdefault(item.input, [StillNumbering(), 0])
        numbering[1] += 1
        return numbering[0].add(item.index, None, pred.instances, float(pred.mask.size))

    def add_findings(self, label: str, kind: str, findings: list, analysed: int, total: int,
                     tracking: dict | None = None) -> None:
        """One input's findings into findings.json (rewritten atomically)."""
        from ..engine.export.report import count_text, coverage

        entry = {"source": label, "kind": kind, "coverage": coverage(analysed, total),
                 "summary": count_text(findings),
                 "test_time_views": getattr(self.predictor, "tta", "off")}
        if tracking is not None:
            entry["tracking"] = tracking
        entry["findings"] = [f.to_dict() for f in findings]
        self.summaries.append(entry)
        model = getattr(self.predictor, "name", "")
        fsutil.write_json(self.out / FINDINGS, {"format": "polypviewer-predict-findings",
                                                "version": 1, "model": model,
                                                "sources": self.summaries})

    def finish_stills(self, inputs: dict[int, tuple[str, int]]) -> None:
        """The findings of the stills written so far; ``inputs``: number -> (label, images)."""
        for k, (numbering, written) in sorted(self._stills.items()):
            label, total = inputs[k]
            self.add_findings(label, "images", numbering.findings, written, total)
        self._stills.clear()

    def close(self) -> Path:
        try:
            self.csv.close()
        except OSError as e:
            raise WriteError(self.csv_path, e) from e
        return self.csv_path
