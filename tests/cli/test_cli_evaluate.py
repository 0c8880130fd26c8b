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


def _evaluate_many(model, datasets, *extra):
    return main(["evaluate", *map(str, datasets), "--model", str(model), "--device", "cpu",
                 *map(str, extra)])


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


def _negatives(root, n=3, seed=7):
    """A no-polyp set as the CP-CHILD crops come: images/ and splits/, no masks/."""
    ds = write_dataset(root, n=n, seed=seed)
    shutil.rmtree(ds / "masks")
    return ds


def test_several_datasets_with_own_splits_and_a_negatives_only_set(tmp_path, tiny_model_path,
                                                                   capsys):
    pos = write_dataset(tmp_path / "pos", n=4)
    (pos / "splits").mkdir()
    (pos / "splits" / "val.txt").write_text("img01\nimg03\n")  # picked up by default
    neg = _negatives(tmp_path / "neg", n=3)
    out = tmp_path / "multi.json"
    assert _evaluate_many(tiny_model_path, [pos, neg], "--json", out) == 0
    report = json.loads(out.read_text())
    rows = report["table"]["datasets"]
    assert [r["name"] for r in rows] == ["pos", "neg"]
    assert rows[0]["split"].endswith("val.txt") and rows[1]["split"] is None
    assert (rows[0]["n_images"], rows[0]["n_polyp"], rows[0]["n_no_polyp"]) == (2, 2, 0)
    assert (rows[1]["n_images"], rows[1]["n_polyp"], rows[1]["n_no_polyp"]) == (3, 0, 3)
    assert rows[1]["negatives_only"] and rows[1]["dice"] is None  # no polyp images to segment
    assert rows[0]["frame_specificity"] is None and rows[1]["frame_sensitivity"] is None
    per_image = report["per_image"]
    assert [(r["dataset"], r["stem"]) for r in per_image] == [
        ("pos", "img01"), ("pos", "img03"), ("neg", "img00"), ("neg", "img01"), ("neg", "img02")]
    neg_rows = [r for r in per_image if r["dataset"] == "neg"]
    assert not any(r["gt_positive"] for r in neg_rows)
    share = sum(r["pred_positive"] for r in neg_rows) / 3
    assert rows[1]["no_polyp_with_region"] == pytest.approx(share)
    spec = sum(r["frame_prob"] < 0.5 for r in neg_rows) / 3
    assert rows[1]["frame_specificity"] == pytest.approx(spec)
    pooled = report["table"]["all"]
    assert pooled["n_images"] == 5 and pooled["dice"] == pytest.approx(rows[0]["dice"])
    assert pooled["no_polyp_with_region"] == pytest.approx(share)
    assert report["n_images"] == 5 and report["dataset"] == [str(pos), str(neg)]
    table = capsys.readouterr().out
    lines = [line for line in table.splitlines() if line.startswith(("pos ", "neg ", "all "))]
    assert [line.split()[0] for line in lines] == ["pos", "neg", "all"]
    assert "no-polyp w/ region" in table


def test_split_per_dataset_in_order_and_dash_for_the_default(tmp_path, tiny_model_path):
    a = write_dataset(tmp_path / "a", n=3)
    b = write_dataset(tmp_path / "b", n=3, seed=3)
    (b / "splits").mkdir()
    (b / "splits" / "val.txt").write_text("img02\n")
    only = tmp_path / "only.txt"
    only.write_text("img00\n")
    out = tmp_path / "r.json"
    assert _evaluate_many(tiny_model_path, [a, b], "--split", only, "--split", "-", "--json", out) == 0
    got = [(r["dataset"], r["stem"]) for r in json.loads(out.read_text())["per_image"]]
    assert got == [("a", "img00"), ("b", "img02")]
    assert _evaluate_many(tiny_model_path, [a, b], "--all-images", "--json", out) == 0
    assert len(json.loads(out.read_text())["per_image"]) == 6


def test_wrong_number_of_splits_is_one_clear_error(tmp_path, tiny_model_path, capsys):
    a = write_dataset(tmp_path / "a", n=2)
    b = write_dataset(tmp_path / "b", n=2)
    split = tmp_path / "s.txt"
    split.write_text("img00\n")
    assert _evaluate_many(tiny_model_path, [a, b], "--split", split) == 1
    err = error_lines(capsys.readouterr().err)
    assert len(err) == 1 and "one per DATASET" in err[0]


def test_help_documents_splits_and_columns(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = capsys.readouterr().out
    assert "splits/val.txt" in text and "all-negative" in text and "once per DATASET" in text


def test_cadx_row_scores_found_polyps_with_a_probability():
    from polypviewer.cli.evaluate_table import table_row

    polyps = [{"neoplastic": True, "found": True, "probability": 0.8},
              {"neoplastic": False, "found": True, "probability": 0.7},  # wrong
              {"neoplastic": False, "found": True, "probability": 0.2},
              {"neoplastic": True, "found": False, "probability": None}]  # missed: not scored
    row = {"dice": 1.0, "iou": 1.0, "recall": 1.0, "precision": 1.0, "gt_positive": True,
           "pred_positive": True, "frame_prob": 0.9, "polyp_classes": polyps}
    got = table_row([row], 0.5)
    assert got["cadx_polyps"] == 3
    assert got["cadx_accuracy"] == pytest.approx(2 / 3)
    assert got["cadx_sensitivity"] == pytest.approx(1.0)
    assert got["cadx_auc"] == pytest.approx(1.0)
    without = table_row([{**row, "polyp_classes": polyps[3:]}], 0.5)
    assert without["cadx_polyps"] == 0 and without["cadx_accuracy"] is None
