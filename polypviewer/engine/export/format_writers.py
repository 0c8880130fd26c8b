"""The per-frame writers of an export folder: masks, overlays, the MP4, the CSV / JSON tables.

Each is fed every ``(frame, prediction, name, finding IDs)`` once and writes into the
temporary folder ``writers.export`` publishes; COCO's writer is in ``coco``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from .. import fsutil
from ..media.imageio import write_png
from ..metrics import METRICS, aggregate, segmentation_metrics
from .overlay import OverlayStyle, draw_overlay
from .video_encoder import VideoEncoder


class Writer:
    """One format: ``add`` each frame, ``finish`` returns the top-level entries written."""

    def add(self, frame, pred, name: str, ids: list[int]) -> None:
        pass

    def finish(self) -> list[str]:
        return []

    def close(self) -> None:
        pass


class MasksWriter(Writer):
    def __init__(self, root: Path):
        self.dir = root / "masks"
        self.dir.mkdir()

    def add(self, frame, pred, name, ids):
        write_png(self.dir / f"{name}.png", pred.mask)

    def finish(self):
        return ["masks"]


class OverlaysWriter(Writer):
    def __init__(self, root: Path, style: OverlayStyle):
        self.dir, self.style = root / "overlays", style
        self.dir.mkdir()

    def add(self, frame, pred, name, ids):
        img = draw_overlay(frame.rgb, pred, style=self.style, gt_mask=frame.gt_mask, track_ids=ids)
        write_png(self.dir / f"{name}.png", img)

    def finish(self):
        return ["overlays"]


class Mp4Writer(Writer):
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


class TableWriter(Writer):
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
