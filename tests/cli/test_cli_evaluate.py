"""``polypviewer evaluate``: JSON/CSV contents, a perfect prediction scores 1, bad masks listed."""

from __future__ import annotations

import json
import shutil

import cv2
import pytest
from cli_helpers import error_lines, read_csv
from synthetic import write_dataset

from polypviewer.cli.main import main

REQUIRED = ("n_images", "mean_dice", "mean_iou", "precision", "recall", "f2", "accuracy", "per_image")
PER_IMAGE = ("stem", "dice", "iou", "precision", "recall", "gt_count", "pred_count", "frame_prob")


def _evaluate(model, ds, *extra):
    return main(["evaluate", str(ds), "--model", str(model), "--device", "cpu", *map(str, extra)])


@pytest.fixture
def self_labelled(tmp_path, tiny_model_path):
    """A dataset whose masks are the tiny model's own predictions (written by predict)."""
    ds = write_dataset(tmp_path / "ds", n=3)
    pred = tmp_path / "pred"
    assert main(["predict", str(ds), "--out", str(pred), "--model", str(tiny_model_path),
                 "--device", "cpu"]) == 0
    for m in (ds / "masks").iterdir():
        shutil.copyfile(pred / "masks" / m.name, m)
    return ds


def test_perfect_prediction_scores_one(self_labelled, tiny_model_path, tmp_path, capsys):
    out_json, out_csv = tmp_path / "r" / "eval.json", tmp_path / "r" / "eval.csv"
    assert _evaluate(tiny_model_path, self_labelled, "--json", out_json, "--csv", out_csv) == 0
    report = json.loads(out_json.read_text())
    for key in REQUIRED:
        assert key in report
    assert report["n_images"] == 3
    assert report["mean_dice"] == pytest.approx(1.0)
    assert report["mean_iou"] == pytest.approx(1.0)
    assert report["frame_accuracy"] == pytest.approx(1.0)
    assert report["model"] == "tiny" and report["threshold"] == pytest.approx(0.5)
    assert [r["stem"] for r in report["per_image"]] == ["img00", "img01", "img02"]
    for row in report["per_image"]:
        assert set(PER_IMAGE) <= set(row)
        assert row["gt_count"] == row["pred_count"]
    assert [r["stem"] for r in read_csv(out_csv)] == ["img00", "img01", "img02"]
    out = capsys.readouterr().out
    assert "mean Dice" in out and "1.0000" in out and "ms" in out and "tiny" in out


def test_split_bad_mask_and_mask_size_mismatch(tmp_path, tiny_model_path, capsys):
    ds = write_dataset(tmp_path / "ds", n=4)
    small = cv2.resize(cv2.imread(str(ds / "masks" / "img01.png"), 0), (64, 48))
    cv2.imwrite(str(ds / "masks" / "img01.png"), small)  # resized like everywhere else
    (ds / "masks" / "img03.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out_json = tmp_path / "eval.json"
    assert _evaluate(tiny_model_path, ds, "--json", out_json) == 1
    report = json.loads(out_json.read_text())
    assert report["n_images"] == 3
    assert [b["stem"] for b in report["bad"]] == ["img03"]
    assert "img03.png" in report["bad"][0]["error"]
    assert "img03" in capsys.readouterr().err

    assert _evaluate(tiny_model_path, ds, "--skip-bad") == 0
    split = tmp_path / "val.txt"
    split.write_text("img00\n# comment\nimg02.png\n")
    assert _evaluate(tiny_model_path, ds, "--split", split, "--json", out_json) == 0
    assert [r["stem"] for r in json.loads(out_json.read_text())["per_image"]] == ["img00", "img02"]


def test_not_a_dataset(tmp_path, tiny_model_path, capsys):
    (tmp_path / "empty").mkdir()
    assert _evaluate(tiny_model_path, tmp_path / "empty") != 0
    err = error_lines(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith("polypviewer: error:") and "images/" in err[0]


def test_analysis_size_option(self_labelled, tiny_model_path, tmp_path, capsys):
    out = tmp_path / "eval96.json"
    assert _evaluate(tiny_model_path, self_labelled, "--size", 96, "--json", out) == 0
    assert "at 96px (model's own 64px)" in capsys.readouterr().out
    assert json.loads(out.read_text())["n_images"] == 3
    with pytest.raises(SystemExit) as e:
        _evaluate(tiny_model_path, self_labelled, "--size", 100)
    assert e.value.code == 2
    assert "multiple of 32" in capsys.readouterr().err
