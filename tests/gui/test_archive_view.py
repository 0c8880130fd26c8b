"""File → Open results database: the batch's procedures in a table; a row opens with no re-analysis."""

from __future__ import annotations

from gui_helpers import SLOW, make_video
from PySide6.QtCore import Qt

from polypviewer.archive.runner import BatchOptions, run_batch


def test_archive_table_sorts_and_opens_a_procedure_from_its_cache(qtbot, make_window, tmp_path,
                                                                   tiny_model_path):
    arch = tmp_path / "arch"
    arch.mkdir()
    make_video(arch / "short.mp4", 8)
    make_video(arch / "long.mp4", 20)
    (arch / "broken.mp4").write_bytes(b"not a video")
    database = tmp_path / "results.sqlite"
    rep = run_batch(BatchOptions(roots=(str(arch),), database=str(database),
                                 model=str(tiny_model_path), device="cpu", workers=0))
    assert (rep.recorded, rep.failed) == (3, 1)

    win = make_window()
    win.open_archive(str(database))
    view = win.archive_view
    assert win.tabs.currentWidget() is view
    qtbot.waitUntil(lambda: view.model.rowCount() == 3, timeout=SLOW)
    assert "3 procedure(s), 2 analysed" in view.status.text()
    frames_col = 5
    view.table.sortByColumn(frames_col, Qt.SortOrder.DescendingOrder)
    names = [view.path_at(r).rsplit("/", 1)[-1] for r in range(3)]
    assert names == ["long.mp4", "short.mp4", "broken.mp4"]
    status = view.proxy.index(2, 1).data()
    assert status == "failed" and view.proxy.index(2, 8).data()

    view.table.doubleClicked.emit(view.proxy.index(0, 0))
    assert win.tabs.currentIndex() == 0
    qtbot.waitUntil(lambda: win.review.media is not None and win.review.store is not None, timeout=SLOW)
    store = win.review.store
    assert store.n_frames == 20 and all(store.has(i) for i in range(20))
    assert not win.review.analysing()
