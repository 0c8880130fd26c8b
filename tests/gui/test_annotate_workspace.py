"""Opening a dataset fills the review table; sorting, filtering, selection, keyboard."""

from __future__ import annotations

import math

import numpy as np
from _annotate_fixtures import *  # noqa: F403 (fixtures: review_dataset, workspace)
from _annotate_fixtures import shown, wait_idle
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from polypviewer.engine.media.imageio import read_image
from polypviewer.gui.annotate.table_model import COLUMNS


def _col(name):
    return COLUMNS.index(name)


def test_open_fills_table(workspace):
    ws = workspace
    assert ws.table_model.rowCount() == 8
    assert ws.opened.store.complete or len(ws.opened.store) == 8
    dice = [ws.proxy.index(r, _col("dice")).data(Qt.ItemDataRole.UserRole + 1)
            for r in range(ws.proxy.rowCount())]
    scored = [d for d in dice if not math.isnan(d)]
    assert len(scored) == 7 and all(0.0 <= d <= 1.0 for d in scored)
    text = ws.proxy.index(0, _col("dice")).data()
    float(text)  # displayed as a number
    # worst first, the image without a mask last
    assert scored == sorted(scored)
    assert math.isnan(dice[-1])
    assert "no mask" in ws.proxy.index(ws.proxy.rowCount() - 1, 0).data()


def test_filters_and_sort(workspace):
    ws = workspace
    ws.set_filter("no_mask")
    assert [ws.opened.source.name(i) for i in ws.visible_indices()] == ["nomask"]
    ws.set_filter("low_dice")
    for i in ws.visible_indices():
        assert ws.table_model.image_row(i).dice < 0.5
    ws.set_filter("all")
    ws.table.sortByColumn(_col("name"), Qt.SortOrder.AscendingOrder)
    names = [ws.opened.source.name(i) for i in ws.visible_indices()]
    assert names == sorted(names, key=str.lower)
    ws.table.sortByColumn(_col("dice"), Qt.SortOrder.DescendingOrder)
    d = [ws.table_model.image_row(i).dice for i in ws.visible_indices()]
    assert math.isnan(d[-1]) and d[:-1] == sorted(d[:-1], reverse=True)
    ws.search.setText("img0")
    assert all(ws.opened.source.name(i).startswith("img0") for i in ws.visible_indices())
    assert len(ws.visible_indices()) == 6


def test_row_click_shows_image_and_arrows_walk(workspace, review_dataset, qtbot):
    ws = workspace
    rect = ws.table.visualRect(ws.proxy.index(2, 0))
    QTest.mouseClick(ws.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    order = ws.visible_indices()
    shown(qtbot, ws, order[2])
    name = ws.opened.source.name(order[2])
    expected = read_image(next((review_dataset / "images").glob(f"{name}.*")))
    assert np.array_equal(ws.compare.rgb, expected)
    assert ws.editor.canvas.has_image()
    ws.table.setFocus()
    QTest.keyClick(ws.table, Qt.Key.Key_Down)
    shown(qtbot, ws, order[3])
    QTest.keyClick(ws.table, Qt.Key.Key_Up)
    shown(qtbot, ws, order[2])
    # filtered list: arrows walk only the visible rows
    ws.set_filter("low_dice")
    vis = ws.visible_indices()
    if len(vis) >= 2:
        ws.select_index(vis[0])
        shown(qtbot, ws, vis[0])
        QTest.keyClick(ws.table, Qt.Key.Key_Down)
        shown(qtbot, ws, vis[1])


def test_reopen_uses_cache(workspace, review_dataset, qtbot):
    ws = workspace
    before = [r.dice for r in ws.table_model.rows]
    ws.open_dataset(review_dataset)
    wait_idle(qtbot, ws)
    assert [r.dice for r in ws.table_model.rows] == before
