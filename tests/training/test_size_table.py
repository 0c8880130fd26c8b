"""scripts/size_table.py on a tiny synthetic case: one row per size, both kinds of dataset."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from synthetic import synthetic_frame, write_dataset
from training_helpers import load_script


@pytest.fixture(scope="module")
def size_table():
    return load_script("size_table")


def test_table_scores_every_size_and_dataset(size_table, tmp_path, tiny_model_path):
    pos = write_dataset(tmp_path / "pos", n=4)
    (tmp_path / "hold.txt").write_text("img01\nimg03\n")
    neg = tmp_path / "neg"
    (neg / "images").mkdir(parents=True)  # a dataset without masks/: negatives
    rng = np.random.default_rng(2)
    for i in range(3):
        cv2.imwrite(str(neg / "images" / f"n{i}.png"), synthetic_frame(rng, n_polyps=0)[0])
    out = tmp_path / "t.json"
    rc = size_table.main(["--model", str(tiny_model_path), "--holdout", f"{pos}:{tmp_path / 'hold.txt'}",
                          "--holdout", str(neg), "--sizes", "64,96", "--json", str(out),
                          "--no-bench"])
    assert rc == 0
    table = json.loads(out.read_text())
    assert list(table["sizes"]) == ["64", "96"]
    for row in table["sizes"].values():
        p, n = row["datasets"]["pos"], row["datasets"]["neg"]
        assert p["n_images"] == 2 and 0.0 <= p["dice"] <= 1.0 and p["no_polyp_with_region"] is None
        assert n["n_images"] == 3 and 0.0 <= n["no_polyp_with_region"] <= 1.0
        assert n["n_polyp"] == 0 and n["frame_specificity"] is not None
        assert "bench" not in row and row["tta"] == "flips"  # holdout stills, as the app does
    assert size_table.format_table(table).splitlines()[2].startswith("64 | Dice")


def test_speed_comes_from_polypviewer_bench(size_table, tmp_path, tiny_model_path):
    pos = write_dataset(tmp_path / "pos", n=3)
    got = size_table.bench_fps(str(tiny_model_path), 64, 3, [str(pos / "images"), "--backend", "torch"])
    assert got["pipeline_fps"] > 0 and got["backend"] == "torch"


def test_a_split_naming_missing_images_is_one_clear_line_in_the_table(size_table, tmp_path,
                                                                     tiny_model_path):
    pos = write_dataset(tmp_path / "pos", n=2)
    (tmp_path / "bad.txt").write_text("nope\n")
    got = size_table.evaluate_at(str(tiny_model_path),
                                 [size_table.parse_holdout(f"{pos}:{tmp_path / 'bad.txt'}")], 64)
    assert "nope" in " ".join(got["datasets"]["error"])


def test_views_can_be_those_of_video(size_table, tmp_path, tiny_model_path):
    pos = write_dataset(tmp_path / "pos", n=2)
    out = tmp_path / "t.json"
    assert size_table.main(["--model", str(tiny_model_path), "--holdout", str(pos), "--sizes", "64",
                            "--tta", "off", "--no-bench", "--json", str(out)]) == 0
    table = json.loads(out.read_text())
    assert table["tta"] == "off" and table["sizes"]["64"]["tta"] == "off"
