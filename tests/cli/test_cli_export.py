"""``polypviewer export`` end to end with the tiny model: formats, refusal, bad input."""

from __future__ import annotations

import json

from cli_helpers import write_video
from synthetic import write_dataset

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
    assert sorted(p.name for p in out.iterdir()) == ["predictions.json"]


def test_video_export_report_and_errors(tmp_path, tiny_model_path, capsys):
    video = write_video(tmp_path / "clip.mp4", n=4)
    out = tmp_path / "out"
    assert _export(tiny_model_path, video, out, "--format", "report,mp4") == 0
    assert sorted(p.name for p in out.iterdir()) == ["annotated.mp4", "report.html"]
    assert _export(tiny_model_path, tmp_path / "missing.mp4", tmp_path / "o2", "--format", "csv") == 1
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()
