"""Saving corrected masks: backup kept, PNG 0/255 at image size, prompt on unsaved edits."""

from __future__ import annotations

import cv2
import numpy as np
from _annotate_fixtures import *  # noqa: F403 (fixtures: review_dataset, workspace)
from _annotate_fixtures import shown, wait_idle
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from polypviewer.engine.media.annotations import BACKUP_DIR, save_mask
from polypviewer.engine.media.dataset import find_pairs
from polypviewer.engine.media.imageio import read_mask


def _index_of(ws, stem):
    return next(i for i in range(len(ws.opened.source)) if ws.opened.source.name(i) == stem)


def _paint(ws, x, y, size=9):
    c = ws.editor.canvas
    c.set_brush_size(size)
    p = c.to_widget(x, y)
    QTest.mousePress(c, Qt.MouseButton.LeftButton, pos=p)
    QTest.mouseRelease(c, Qt.MouseButton.LeftButton, pos=p)


def test_save_writes_png_keeps_backup_and_rescored(workspace, review_dataset, qtbot):
    ws = workspace
    i = _index_of(ws, "img00")
    ws.select_index(i)
    shown(qtbot, ws, i)
    ws.tabs.setCurrentWidget(ws.editor)
    old = (review_dataset / "masks" / "img00.png").read_bytes()
    dice_before = ws.table_model.image_row(i).dice
    ws.editor.clear_mask()
    _paint(ws, 5, 5)
    assert ws.editor.canvas.is_dirty() and "*" in ws.tabs.tabText(1)
    QTest.keyClick(ws.editor.canvas, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert not ws.editor.canvas.is_dirty()
    path = review_dataset / "masks" / "img00.png"
    assert path.read_bytes() != old
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.shape == (96, 128) and raw.dtype == np.uint8
    assert set(np.unique(raw)) == {0, 255}
    assert raw[5, 5] == 255 and raw[50, 64] == 0
    backups = list((review_dataset / "masks" / BACKUP_DIR).glob("img00.*.png"))
    assert len(backups) == 1 and backups[0].read_bytes() == old
    row = ws.table_model.image_row(i)
    assert row.dice != dice_before or dice_before == 0.0
    pred = ws.prediction.mask
    expected = 2 * (pred & (raw > 0)).sum() / max(pred.sum() + (raw > 0).sum(), 1) \
        if pred.any() or raw.any() else 1.0
    assert abs(row.dice - expected) < 1e-9
    assert np.array_equal(ws.compare.gt, raw > 0)


def test_annotate_image_without_mask(workspace, review_dataset, qtbot):
    ws = workspace
    i = _index_of(ws, "nomask")
    ws.select_index(i)
    shown(qtbot, ws, i)
    assert not ws.editor.canvas.mask().any()
    _paint(ws, 60, 40, 15)
    assert ws.save()
    mask = read_mask(review_dataset / "masks" / "nomask.png")
    assert mask[40, 60] and mask.shape == (96, 128)
    assert not (review_dataset / "masks" / BACKUP_DIR).exists()  # nothing to back up
    assert ws.table_model.image_row(i).has_mask
    assert find_pairs(review_dataset)[-1].mask is not None


def test_switching_row_with_unsaved_edits_asks(workspace, review_dataset, qtbot):
    ws = workspace
    order = ws.visible_indices()
    ws.select_index(order[0])
    shown(qtbot, ws, order[0])
    _paint(ws, 30, 30)
    ws.answers = ["cancel"]
    ws.table.selectRow(1)
    assert ws.current_index == order[0] and ws.editor.canvas.is_dirty()
    qtbot.waitUntil(lambda: ws.table.currentIndex().row() == 0)  # selection back on the edited image
    assert [i.row() for i in ws.table.selectionModel().selectedRows()] == [0]
    assert ws.current_index == order[0] and ws.editor.canvas.is_dirty()
    ws.answers = ["discard"]
    ws.table.selectRow(1)
    shown(qtbot, ws, order[1])
    assert not ws.editor.canvas.is_dirty()
    ws.select_index(order[0])
    shown(qtbot, ws, order[0])
    _paint(ws, 30, 30)
    ws.answers = ["save"]
    ws.table.selectRow(2)
    shown(qtbot, ws, order[2])
    stem = ws.opened.source.name(order[0])
    assert read_mask(review_dataset / "masks" / f"{stem}.png")[30, 30]


def test_jpg_mask_is_replaced_by_png_and_kept_in_backup(tmp_path):
    masks = tmp_path / "masks"
    (tmp_path / "images").mkdir()
    masks.mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.zeros((20, 30, 3), np.uint8))
    cv2.imwrite(str(masks / "a.jpg"), np.full((20, 30), 255, np.uint8))
    new = np.zeros((20, 30), bool)
    new[5:10, 5:10] = True
    saved = save_mask(masks, "a", new, (20, 30))
    assert saved.path == masks / "a.png" and not (masks / "a.jpg").exists()
    assert [b.suffix for b in saved.backups] == [".jpg"]
    pair = find_pairs(tmp_path)[0]
    assert pair.mask == masks / "a.png"
    assert np.array_equal(read_mask(pair.mask), new)


def test_save_removes_stray_pixels_and_says_so(workspace, review_dataset, qtbot):
    ws = workspace
    ws.select_index(_index_of(ws, "img01"))
    shown(qtbot, ws, _index_of(ws, "img01"))
    ws.tabs.setCurrentWidget(ws.editor)
    ws.editor.clear_mask()
    _paint(ws, 40, 40, size=15)
    _paint(ws, 5, 90, size=1)  # a stray pixel, as an eraser or a JPEG leaves them
    assert ws.save()
    raw = read_mask(review_dataset / "masks" / "img01.png")
    assert raw[40, 40] and not raw[90, 5]
    assert "removed 1 speck" in ws.status.text()
    assert not ws.editor.canvas.is_dirty()


def test_saving_over_a_jpg_mask_says_so_in_the_status_line_and_once_in_a_dialog(qtbot, tmp_path,
                                                                               tiny_model_path):
    from synthetic import write_dataset

    from polypviewer.gui.annotate import AnnotateWorkspace

    root = write_dataset(tmp_path / "ds", n=2)
    for p in sorted((root / "masks").glob("*.png")):
        cv2.imwrite(str(p.with_suffix(".jpg")), cv2.imread(str(p), cv2.IMREAD_GRAYSCALE))
        p.unlink()
    ws = AnnotateWorkspace(model=str(tiny_model_path), device="cpu")
    told = []
    ws.tell = told.append
    qtbot.addWidget(ws)
    ws.resize(1000, 700)
    ws.show()
    ws.open_dataset(root)
    wait_idle(qtbot, ws)
    for stem in ("img00", "img01"):
        ws.select_index(_index_of(ws, stem))
        shown(qtbot, ws, _index_of(ws, stem))
        ws.tabs.setCurrentWidget(ws.editor)
        _paint(ws, 10, 10)
        assert ws.save()
        assert f"in place of {stem}.jpg" in ws.status.text() and BACKUP_DIR in ws.status.text()
        assert (root / "masks" / f"{stem}.png").exists() and not (root / "masks" / f"{stem}.jpg").exists()
        assert len(told) == 1  # the dialog only the first time
    assert "PNG" in told[0]
    ws.stop_tasks()
