"""One-file exports are saved under the name the user picks (suggested ``<stem>_annotated.mp4``...),
written exactly there and atomically; the report asks for optional procedure details, remembered
per source, and prints to PDF when the name ends in .pdf."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from gui_helpers import SLOW, open_and_wait
from PySide6.QtWidgets import QDialog, QFileDialog

from polypviewer.engine.analysis.tracking import track
from polypviewer.engine.errors import PolypViewerError
from polypviewer.engine.export.single_file import export_file
from polypviewer.engine.export.writers import ExportOptions
from polypviewer.engine.media.sources import Frame
from polypviewer.engine.runtime.inference import from_probability
from polypviewer.gui.procedure_details import ProcedureDialog


@pytest.fixture
def analysed(qtbot, make_window, image_folder):
    return open_and_wait(qtbot, make_window(), image_folder, frame=1, analysed=True)


class SaveDialog:
    """Stands in for the user at QFileDialog.getSaveFileName: answers one name, records the ask."""

    def __init__(self, monkeypatch):
        self.asked: list[tuple[str, str, str]] = []
        self.answer: tuple[str, str] = ("", "")
        monkeypatch.setattr(QFileDialog, "getSaveFileName", self)

    def __call__(self, parent, title, suggestion, filters):
        self.asked.append((title, suggestion, filters))
        return self.answer


def _run_dialog(qtbot, win, kind):
    with qtbot.waitSignal(win.exporter.finished, timeout=SLOW) as blocker:
        win.exporter.export_dialog(kind)
    return blocker.args[0]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_video_is_saved_under_the_chosen_name(qtbot, analysed, tmp_path, monkeypatch, image_folder):
    save = SaveDialog(monkeypatch)
    save.answer = (str(tmp_path / "case 7 review"), "MP4 video (*.mp4)")  # no extension typed
    out = _run_dialog(qtbot, analysed, "mp4")
    assert out == str(tmp_path / "case 7 review.mp4")
    assert Path(save.asked[0][1]).name == f"{image_folder.stem}_annotated.mp4"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case 7 review.mp4"]  # no subfolder
    with av.open(out) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in c.decode(video=0)) == 3
    assert analysed.settings.get("last_export_dir") == str(tmp_path)


def test_table_csv_and_regions_json_get_their_own_names(qtbot, analysed, tmp_path, monkeypatch,
                                                        image_folder):
    save = SaveDialog(monkeypatch)
    save.answer = (str(tmp_path / "mine.csv"), "CSV table (*.csv)")
    assert _run_dialog(qtbot, analysed, "table") == str(tmp_path / "mine.csv")
    assert len((tmp_path / "mine.csv").read_text().splitlines()) == 1 + 3
    save.answer = (str(tmp_path / "regions.json"), "JSON (*.json)")
    _run_dialog(qtbot, analysed, "json")
    assert [Path(a[1]).name for a in save.asked] == [f"{image_folder.stem}_frames.csv",
                                                     f"{image_folder.stem}_frames.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.csv", "regions.json"]


def test_existing_file_is_replaced_whole(qtbot, analysed, tmp_path, monkeypatch):
    target = tmp_path / "old.csv"
    target.write_text("an earlier export\n")
    SaveDialog(monkeypatch).answer = (str(target), "CSV table (*.csv)")  # the dialog confirmed
    _run_dialog(qtbot, analysed, "table")
    assert target.read_text().startswith("index,frame,name")
    assert _leftovers(tmp_path) == []


def test_cancelled_save_dialog_writes_nothing(analysed, tmp_path, monkeypatch):
    save = SaveDialog(monkeypatch)
    analysed.exporter.export_dialog("report")
    assert save.asked and analysed.exporter.task is None
    assert list(tmp_path.iterdir()) == []


class DetailsUser:
    """Stands in for the user at the report-details dialog: records what it offered, types, accepts."""

    def __init__(self, monkeypatch, typed: dict, paper: str | None = None, accept: bool = True):
        self.offered: list[dict] = []
        self.had_paper: list[bool] = []
        user = self

        def exec_(dlg):
            user.offered.append({k: (e.toPlainText() if hasattr(e, "toPlainText") else e.text())
                                 for k, e in dlg.edits.items()})
            user.had_paper.append(dlg.paper_box is not None)
            for k, v in typed.items():
                e = dlg.edits[k]
                e.setPlainText(v) if hasattr(e, "setPlainText") else e.setText(v)
            if paper and dlg.paper_box is not None:
                dlg.paper_box.setCurrentIndex(dlg.paper_box.findData(paper))
            return QDialog.DialogCode.Accepted if accept else QDialog.DialogCode.Rejected

        monkeypatch.setattr(ProcedureDialog, "exec", exec_)


def test_report_pdf_with_details_remembered_for_this_source(qtbot, analysed, tmp_path, monkeypatch,
                                                            image_folder):
    save = SaveDialog(monkeypatch)
    save.answer = (str(tmp_path / "report"), "PDF report (*.pdf)")
    user = DetailsUser(monkeypatch, {"procedure_id": "COL-42", "operator": "Dr Example",
                                     "note": "prep good\nrepeat in 3 y"}, paper="letter")
    assert _run_dialog(qtbot, analysed, "report") == str(tmp_path / "report.pdf")
    assert Path(save.asked[0][1]).name == f"{image_folder.stem}_report.html"
    pdf = (tmp_path / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"/MediaBox [0 0 612" in pdf  # the Letter chosen
    assert user.offered[0] == {"procedure_id": "", "date": "", "operator": "", "note": ""}

    # the same procedure again, as HTML: the details come back, nothing asks for paper
    save.answer = (str(tmp_path / "again.html"), "HTML report (*.html)")
    user2 = DetailsUser(monkeypatch, {})
    _run_dialog(qtbot, analysed, "report")
    assert user2.offered[0] == {"procedure_id": "COL-42", "date": "", "operator": "Dr Example",
                                "note": "prep good\nrepeat in 3 y"}
    assert user.had_paper == [True] and user2.had_paper == [False]
    html = (tmp_path / "again.html").read_text()
    assert "COL-42" in html and "prep good<br>repeat in 3 y" in html
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.html", "report.pdf"]


def test_cancelled_details_dialog_writes_nothing(analysed, tmp_path, monkeypatch):
    SaveDialog(monkeypatch).answer = (str(tmp_path / "r.html"), "HTML report (*.html)")
    DetailsUser(monkeypatch, {"operator": "X"}, accept=False)
    analysed.exporter.export_dialog("report")
    assert analysed.exporter.task is None and list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- engine path
def _items(n=4):
    import numpy as np

    for i in range(n):
        prob = np.zeros((40, 60), np.float32)
        prob[5:20, 5 + i:25 + i] = 0.9
        yield Frame(i, i / 10, np.zeros((40, 60, 3), np.uint8), f"f{i}"), from_probability(prob, 0.9, 0.5)


def _track(n=4):
    """A video export reads its findings (the one tracking path)."""
    return track([(f.index, f.time_s, p.instances) for f, p in _items(n)])


def test_export_file_writes_exactly_the_given_name(tmp_path):
    res = export_file(_items(), tmp_path / "sub" / "my clip.mp4", ExportOptions(("mp4",), fps=10.0), track=_track())
    assert res.folder == tmp_path / "sub" and res.files == ["my clip.mp4"]
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["my clip.mp4"]


def test_export_file_failure_leaves_the_old_file_and_no_temporaries(tmp_path):
    target = tmp_path / "report.html"
    target.write_text("keep me")

    def broken():
        yield from _items(2)
        raise RuntimeError("decoder died")

    with pytest.raises(RuntimeError):
        export_file(broken(), target, ExportOptions(("report",)), track=_track(2))
    assert target.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]

    def bad_convert(src, dst):
        raise PolypViewerError("printer on fire")

    with pytest.raises(PolypViewerError, match="printer on fire"):
        export_file(_items(), target, ExportOptions(("report",)), convert=bad_convert, track=_track())
    assert target.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_export_file_refuses_folders_and_many_file_formats(tmp_path):
    with pytest.raises(PolypViewerError, match="is a folder"):
        export_file(_items(), tmp_path, ExportOptions(("csv",)))
    with pytest.raises(PolypViewerError, match="not a single file"):
        export_file(_items(), tmp_path / "x", ExportOptions(("png",)))
    with pytest.raises(PolypViewerError, match="one format"):
        export_file(_items(), tmp_path / "x.csv", ExportOptions(("csv", "json")))
