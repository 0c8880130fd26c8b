"""Summary: sweep from cached maps equals engine.analysis.compare; "Use this threshold"; export."""

from __future__ import annotations

import json

import numpy as np
from _annotate_fixtures import *  # noqa: F403 (fixtures: review_dataset, workspace)
from _annotate_fixtures import wait_idle

from polypviewer.engine.analysis.compare import threshold_sweep
from polypviewer.engine.models import model_settings
from polypviewer.engine.models.modelfile import load_model


def test_sweep_matches_engine(workspace, qtbot):
    ws = workspace
    qtbot.waitUntil(lambda: ws.summary.sweep_result is not None, timeout=60_000)
    got = ws.summary.sweep_result
    o = ws.opened
    items = []
    for i in range(len(o.source)):
        f = o.source[i]
        if f.gt_mask is not None:
            p = o.store.get(i)
            items.append((p.prob, p.frame_prob, f.gt_mask))
    want = threshold_sweep(items, got.thresholds, o.predictor.min_area_fraction)
    assert got.n_images == want.n_images == 7
    for k in ("dice", "precision", "recall"):
        assert np.allclose(getattr(got, k), getattr(want, k))
        curve = ws.summary.curves[k].getData()[1]
        assert np.allclose(curve, getattr(want, k))
    # at the table's threshold the sweep equals the table mean
    j = int(np.argmin(abs(got.thresholds - ws.threshold)))
    if abs(got.thresholds[j] - ws.threshold) < 1e-6:
        mean = np.mean([r.dice for r in ws.table_model.rows if r.has_mask])
        assert abs(got.dice[j] - mean) < 1e-9
    # an empty-mask image and polyp images: the frame ROC is drawn
    assert ws.summary.frame_plot.isVisibleTo(ws.summary)
    assert len(ws.summary.roc_curve.getData()[0]) >= 2


def test_use_threshold_writes_user_settings_not_model(workspace, tiny_model_path, qtbot):
    ws = workspace
    qtbot.waitUntil(lambda: ws.summary.sweep_result is not None, timeout=60_000)
    model_json = tiny_model_path.with_suffix(".json")
    before = model_json.read_bytes()
    ws.summary.set_picked_threshold(0.35)
    ws.summary.use_button.click()
    wait_idle(qtbot, ws)
    path = model_settings.settings_path("tiny")
    assert json.loads(path.read_text())["threshold"] == 0.35
    assert model_json.read_bytes() == before
    assert model_settings.effective_threshold(load_model(tiny_model_path)) == 0.35
    assert ws.threshold == 0.35
    assert abs(ws.prediction.threshold - 0.35) < 1e-9 if ws.prediction is not None else True


def test_export_coco_from_workspace(workspace, tmp_path, qtbot):
    from pycocotools.coco import COCO

    ws = workspace
    out = tmp_path / "export"
    task = ws.export_to(out, ["coco", "csv", "png"])
    assert task is not None
    qtbot.waitUntil(lambda: ws.last_export is not None, timeout=60_000)
    coco = COCO(str(out / "coco.json"))
    assert len(coco.getImgIds()) == 8
    names = {img["file_name"] for img in coco.loadImgs(coco.getImgIds())}
    assert "img00.png" in names
    assert (out / "predictions.csv").is_file()
    assert len(list((out / "masks").glob("*.png"))) == 8
    assert not ws.progress.isVisible()


def test_minimum_area_counts_ground_truth_specks_alike(qtbot, tmp_path, tiny_model_path):
    """A 1-px speck in a mask is not a 'missed polyp' in the table or the summary."""
    import cv2
    from synthetic import write_dataset

    from polypviewer.gui.annotate import AnnotateWorkspace

    root = write_dataset(tmp_path / "ds", n=3)
    m = cv2.imread(str(root / "masks" / "img00.png"), cv2.IMREAD_GRAYSCALE)
    m[0, 0] = 255  # far from the polyp
    cv2.imwrite(str(root / "masks" / "img00.png"), m)
    ws = AnnotateWorkspace(model=str(tiny_model_path), device="cpu")
    qtbot.addWidget(ws)
    ws.open_dataset(root)
    wait_idle(qtbot, ws)
    row = ws.table_model.image_row(0)
    assert row.gt_specks == 1 and row.n_true == 1
    stats = {ws.summary.stats.item(i, 0).text(): ws.summary.stats.item(i, 1).text()
             for i in range(ws.summary.stats.rowCount())}
    assert stats["GT specks not counted"].startswith("1 ")
    n_true = sum(r.n_true for r in ws.table_model.rows)
    assert stats["polyps found"].endswith(f"of {n_true}")
    ws.min_area.setValue(0.0)  # configurable: every region counts
    qtbot.waitUntil(lambda: ws.table_model.image_row(0).gt_specks == 0, timeout=60_000)
    wait_idle(qtbot, ws)
    assert ws.table_model.image_row(0).n_true == 2
    ws.stop_tasks()
