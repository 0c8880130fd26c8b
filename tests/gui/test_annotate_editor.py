"""Mask editing with real mouse and key events: brush, eraser, polygon, fill, undo/redo."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from polypviewer.gui.annotate.editor import MaskEditor

L = Qt.MouseButton.LeftButton


@pytest.fixture
def editor(qtbot):
    ed = MaskEditor()
    qtbot.addWidget(ed)
    ed.resize(700, 560)
    ed.show()
    qtbot.waitExposed(ed)
    rgb = np.full((96, 128, 3), 120, np.uint8)
    pred = np.zeros((96, 128), bool)
    pred[10:30, 90:120] = True
    ed.set_image(rgb, None, pred)
    return ed


def _drag(canvas, points):
    w = [canvas.to_widget(x, y) for x, y in points]
    QTest.mousePress(canvas, L, pos=w[0])
    for p in w[1:]:
        QTest.mouseMove(canvas, p)
    QTest.mouseRelease(canvas, L, pos=w[-1])


def test_brush_stroke_paints_expected_pixels_and_undo_redo(editor):
    c = editor.canvas
    c.set_brush_size(5)
    _drag(c, [(20, 40), (40, 40), (60, 40)])
    m = c.mask()
    assert m[40, 20] and m[40, 30] and m[40, 50] and m[40, 60] and m[38, 45] and m[42, 45]
    assert not m[45, 40] and not m[40, 70] and not m[10, 10]
    assert m.shape == (96, 128)
    assert c.is_dirty() and c.undo_stack.count() == 1
    QTest.keyClick(c, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not c.mask().any() and not c.is_dirty()
    QTest.keyClick(c, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert np.array_equal(c.mask(), m)


def test_eraser_removes_pixels(editor):
    c = editor.canvas
    editor.start_from_prediction()
    editor.tool_actions["eraser"].trigger()
    c.set_brush_size(3)
    _drag(c, [(95, 20), (110, 20)])
    m = c.mask()
    assert not m[20, 100] and m[12, 100] and m[28, 100]
    assert c.undo_stack.count() == 2


def test_polygon_closes_with_double_click_and_enter(editor):
    c = editor.canvas
    editor.tool_actions["polygon"].trigger()
    for x, y in [(10, 50), (50, 50), (50, 90)]:
        QTest.mouseClick(c, L, pos=c.to_widget(x, y))
    assert len(c.polygon) == 3
    QTest.mouseDClick(c, L, pos=c.to_widget(10, 90))
    m = c.mask()
    assert not c.polygon
    assert m[70, 30] and m[55, 15] and m[85, 45]  # inside the square
    assert not m[40, 30] and not m[70, 60]  # outside
    c.undo_stack.undo()
    for x, y in [(70, 10), (100, 10), (85, 40)]:  # a triangle, closed with Enter
        QTest.mouseClick(c, L, pos=c.to_widget(x, y))
    QTest.keyClick(c, Qt.Key.Key_Return)
    m = c.mask()
    assert m[20, 85] and not m[70, 30] and not m[35, 72]


def test_flood_fill_fills_outline_and_removes_region(editor):
    c = editor.canvas
    ring = np.zeros((96, 128), np.uint8)
    import cv2

    cv2.circle(ring, (60, 48), 20, 1, 2)
    c.replace_mask(ring, "ring")
    editor.tool_actions["fill"].trigger()
    QTest.mouseClick(c, L, pos=c.to_widget(60, 48))
    assert c.mask()[48, 60] and c.mask()[40, 55] and not c.mask()[5, 5]
    QTest.mouseClick(c, L, pos=c.to_widget(60, 48))  # on the region: removes it
    assert not c.mask().any()
    assert c.undo_stack.count() == 3


def test_brush_size_keys_cursor_clear_and_from_prediction(editor):
    c = editor.canvas
    c.set_brush_size(10)
    c.setFocus()
    QTest.keyClick(c, Qt.Key.Key_BracketRight)
    assert c.brush_size > 10 and editor.size_box.value() == c.brush_size
    big = c.brush_size
    QTest.keyClick(c, Qt.Key.Key_BracketLeft)
    assert c.brush_size < big
    cursor = c.cursor().pixmap()
    assert not cursor.isNull() and cursor.width() >= 6  # a circle the size of the brush
    editor.start_from_prediction()
    assert c.mask()[20, 100] and c.mask().sum() == 20 * 30
    editor.clear_mask()
    assert not c.mask().any()
    c.undo_stack.undo()
    assert c.mask().sum() == 600


@pytest.mark.parametrize("size", [1, 2, 5, 24])
@pytest.mark.parametrize("end", [(180.5, 50.5), (180.2, 180.7), (180.0, 120.3), (60.4, 170.9)])
def test_a_stroke_covers_the_same_pixels_however_it_is_split(size, end):
    """Brush and eraser share this footprint: erasing a brushed stroke leaves no islands."""
    from polypviewer.gui.annotate.canvas import stroke_footprint

    shape, start = (200, 200), (20.3, 40.6)

    def paint(mask, points, value):
        last = None
        for p in points:
            box, fp = stroke_footprint(last or p, p, size, shape)
            mask[box[0]:box[1], box[2]:box[3]][fp] = value
            last = p

    def split(k):
        return [tuple(np.add(start, np.subtract(end, start) * t)) for t in np.linspace(0, 1, k)]

    mask = np.zeros(shape, np.uint8)
    paint(mask, split(23), 1)  # brushed with mouse events every ~7 px
    assert mask.sum() > 0
    paint(mask, split(32), 0)  # erased along the same line, events every ~5 px
    assert mask.sum() == 0
    paint(mask, split(2), 1)
    whole = mask.copy()
    mask[:] = 0
    paint(mask, split(17), 1)
    assert np.array_equal(mask, whole)


def test_eraser_over_a_brushed_stroke_removes_it_with_real_mouse_events(editor):
    c = editor.canvas
    c.set_brush_size(7)
    _drag(c, [(20, 40), (40, 45), (60, 50), (80, 55)])
    assert c.mask().sum() > 100
    editor.tool_actions["eraser"].trigger()
    c.set_brush_size(9)  # a little wider: mouse positions are whole screen pixels
    _drag(c, [(20, 40), (50, 47.5), (80, 55)])
    assert c.mask().sum() == 0


def test_remove_specks_on_save_is_one_undoable_edit(editor):
    c = editor.canvas
    editor.start_from_prediction()
    c.set_brush_size(1)
    _drag(c, [(5, 80)])  # a stray pixel
    assert c.mask()[80, 5]
    assert editor.clean_for_saving() == 1
    assert not c.mask()[80, 5] and c.mask()[20, 100]
    c.undo_stack.undo()
    assert c.mask()[80, 5]
    editor.despeck.setChecked(False)  # optional
    assert editor.clean_for_saving() == 0 and c.mask()[80, 5]
