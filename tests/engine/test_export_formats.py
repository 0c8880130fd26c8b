"""Exports: COCO matches the PNG masks, folders appear whole or not at all, report/MP4 usable."""

from __future__ import annotations

import json
import threading

import cv2
import numpy as np
import pytest
from synthetic import write_dataset

from polypviewer.engine.analysis.tracking import track
from polypviewer.engine.errors import PolypViewerError
from polypviewer.engine.export.coco import coco_annotations
from polypviewer.engine.export.writers import (
    ExportCancelled,
    ExportOptions,
    export,
    source_file_names,
)
from polypviewer.engine.media.imageio import read_mask
from polypviewer.engine.media.sources import Frame, open_source
from polypviewer.engine.runtime.inference import from_probability


def _dataset_items(root):
    """Predictions made from the ground truth (shifted a little), no model needed."""
    src = open_source(write_dataset(root, n=4))
    items = []
    for i in range(len(src)):
        f = src[i]
        prob = np.roll(f.gt_mask.astype(np.float32) * 0.9, 2, axis=1)
        items.append((f, from_probability(prob, 0.9, 0.5)))
    return src, items


def _video_items(n=12, h=90, w=120):
    items = []
    for i in range(n):
        rgb = np.full((h, w, 3), (150, 70, 60), np.uint8)
        prob = np.zeros((h, w), np.float32)
        if i < 25:  # 1 s at 25 fps: longer than the minimum duration of a finding
            cv2.circle(prob, (30 + 3 * i, 45), 12, 0.9 + 0.003 * i, -1)
        items.append((Frame(i, i / 25.0, rgb, f"clip_{i:06d}"), from_probability(prob, prob.max(), 0.5)))
    return items


def _track(items):
    """The findings of video items, as the viewer's findings cache makes them."""
    return track([(f.index, f.time_s, p.instances) for f, p in items])


def _dice(a, b):
    return 2 * np.count_nonzero(a & b) / max(1, np.count_nonzero(a) + np.count_nonzero(b))


def test_coco_loads_in_pycocotools_and_matches_png_masks(tmp_path):
    from pycocotools.coco import COCO

    src, items = _dataset_items(tmp_path / "ds")
    seen = []
    options = ExportOptions(("png", "coco", "csv", "overlays"), file_name=source_file_names(src))
    res = export(items, tmp_path / "out", options, total=len(items),
                 progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (4, 4) and res.n_items == 4
    assert set(res.files) == {"masks", "coco.json", "predictions.csv", "overlays", "summary.txt"}
    coco = COCO(str(tmp_path / "out" / "coco.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["polyp"]
    for img in coco.loadImgs(coco.getImgIds()):
        assert img["file_name"].endswith(".png") and img["file_name"].startswith("img")
        png = read_mask(tmp_path / "out" / "masks" / img["file_name"])
        assert png.shape == (img["height"], img["width"])
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img["id"]))
        assert len(anns) == cv2.connectedComponents(png.astype(np.uint8))[0] - 1
        union = np.zeros(png.shape, bool)
        for a in anns:
            assert a["iscrowd"] == 0 and a["category_id"] == 1 and len(a["bbox"]) == 4
            assert all(len(poly) >= 6 for poly in a["segmentation"])
            union |= coco.annToMask(a).astype(bool)
        assert _dice(union, png) > 0.95
    rows = (tmp_path / "out" / "predictions.csv").read_text().splitlines()
    assert len(rows) == 5 and "dice" in rows[0].split(",")
    assert res.metrics["n"] == 4 and 0 < res.metrics["mean"]["dice"] < 1
    src.close()


def test_holes_are_filled_or_exact_rle():
    from pycocotools import mask as mask_utils

    ring = np.zeros((60, 60), np.uint8)
    cv2.circle(ring, (30, 30), 20, 1, -1)
    cv2.circle(ring, (30, 30), 8, 0, -1)
    ring = ring.astype(bool)
    (filled,) = coco_annotations(ring, None, 1, 1, holes="fill")
    rles = mask_utils.frPyObjects(filled["segmentation"], 60, 60)
    assert mask_utils.decode(mask_utils.merge(rles))[30, 30] == 1  # hole filled
    (exact,) = coco_annotations(ring, None, 1, 1, holes="rle")
    rle = mask_utils.frPyObjects(exact["segmentation"], 60, 60)
    assert np.array_equal(mask_utils.decode(rle).astype(bool), ring)
    assert exact["area"] == int(ring.sum())
    speck = np.zeros((10, 10), bool)
    speck[4, 4] = True  # one pixel still gives a valid (tiny) polygon
    assert len(coco_annotations(speck, None, 1, 1)[0]["segmentation"][0]) >= 6


def test_existing_folder_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("keep")
    with pytest.raises(PolypViewerError, match="exists"):
        export(_video_items(3), out, ExportOptions(("csv",)), track=_track(_video_items(3)))
    assert (out / "old.txt").read_text() == "keep"
    export(_video_items(3), out, ExportOptions(("csv",), overwrite=True), track=_track(_video_items(3)))
    assert sorted(p.name for p in out.iterdir()) == ["predictions.csv", "summary.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_cancel_and_errors_leave_nothing_behind(tmp_path):
    stop = threading.Event()

    def progress(done, total):
        if done == 2:
            stop.set()

    with pytest.raises(ExportCancelled):
        export(_video_items(6), tmp_path / "out", ExportOptions(("png", "mp4", "report")),
               cancel=stop, progress=progress, track=_track(_video_items(6)))
    assert list(tmp_path.iterdir()) == []

    def broken():
        yield from _video_items(2)
        raise RuntimeError("decoder died")

    with pytest.raises(RuntimeError):
        export(broken(), tmp_path / "out", ExportOptions(("png", "json")), track=_track(_video_items(2)))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(PolypViewerError, match="unknown export format"):
        export([], tmp_path / "out", ExportOptions(("gif",)))


def test_video_exports_mp4_json_and_self_contained_report(tmp_path):
    options = ExportOptions(("mp4", "json", "report"), fps=25.0, model_name="tiny",
                            source_name="clip.mp4", settings={"threshold": 0.5})
    res = export(_video_items(30), tmp_path / "out", options, track=_track(_video_items(30)))
    assert len(res.findings) == 1 and res.findings[0].n_frames == 25
    cap = cv2.VideoCapture(str(tmp_path / "out" / "annotated.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 30
    doc = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert doc["model"] == "tiny" and len(doc["frames"]) == 30
    assert doc["frames"][3]["instances"][0]["finding_id"] == res.findings[0].id
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 1  # the timeline
    assert html.count("data:image/jpeg;base64,") == 2  # the finding's key frame and close-up
    assert "Finding #" in html and "clip.mp4" in html and "threshold" in html
    assert "src='http" not in html and "<script" not in html
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "annotated.mp4", "predictions.json", "report.html", "summary.txt"]
