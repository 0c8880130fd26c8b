"""``polypviewer export`` end to end with the tiny model: formats, refusal, bad input."""

from __future__ import annotations

import json

from synthetic import write_dataset, write_video

from polypviewer.cli.main import main


def _export(tiny_model_path, src, out, *extra):
    return main(["export", str(src), "--out", str(out), "--model", str(tiny_model_path),
                 "--device", "cpu", *extra])


def test_dataset_export_with_split_and_overwrite(tmp_path, tiny_model_path, capsys):
    ds = write_dataset(tmp_path / "ds", n=3)
    split = tmp_path / "split.txt"
    split.write_text("img00\nimg02\n")
    out = tmp_path / "out"
    assert _export(tiny_model_path, ds, out, "--format", "png,coco", "--format", "csv",
                   "--split", str(split), "--threshold", "0.5") == 0
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["img00.png", "img02.png"]
    coco = json.loads((out / "coco.json").read_text())
    assert [i["file_name"] for i in coco["images"]] == ["img00.png", "img02.png"]
    assert len((out / "predictions.csv").read_text().splitlines()) == 3
    assert _export(tiny_model_path, ds, out, "--format", "csv") == 1
    assert "already exists" in capsys.readouterr().err
    assert _export(tiny_model_path, ds, out, "--format", "json", "--overwrite") == 0
    assert sorted(p.name for p in out.iterdir()) == ["predictions.json", "summary.txt"]


def test_video_export_report_and_errors(tmp_path, tiny_model_path, capsys):
    video = write_video(tmp_path / "clip.mp4", n=4)
    out = tmp_path / "out"
    assert _export(tiny_model_path, video, out, "--format", "report,mp4") == 0
    assert sorted(p.name for p in out.iterdir()) == ["annotated.mp4", "report.html", "summary.txt"]
    assert _export(tiny_model_path, tmp_path / "missing.mp4", tmp_path / "o2", "--format", "csv") == 1
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()


def test_report_with_procedure_details_and_pdf(tmp_path, tiny_model_path, capsys, qapp):
    # qapp: the process's one QApplication is pytest-qt's, which the GUI tests need
    video = write_video(tmp_path / "clip.mp4", n=4)
    out = tmp_path / "out"
    assert _export(tiny_model_path, video, out, "--format", "report", "--pdf", "--paper", "letter",
                   "--procedure-id", "COL-9", "--operator", "Dr Example", "--note", "prep good") == 0
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.pdf", "summary.txt"]
    html = (out / "report.html").read_text()
    assert "COL-9" in html and "Dr Example" in html and "prep good" in html
    assert "Procedure date" not in html  # not given, not shown
    pdf = (out / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"/MediaBox [0 0 612" in pdf  # US Letter
    assert "report.pdf" in capsys.readouterr().out


def test_report_flags_without_a_report_are_refused(tmp_path, tiny_model_path, capsys):
    video = write_video(tmp_path / "clip.mp4", n=2)
    assert _export(tiny_model_path, video, tmp_path / "out", "--format", "csv", "--pdf",
                   "--operator", "X") == 1
    assert "--pdf, --operator fill the report: add --format report" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
