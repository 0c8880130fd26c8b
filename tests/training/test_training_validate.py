"""The dataset check: every kind of problem is found, with the right severity and file."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from synthetic import write_dataset

from polypviewer.engine.errors import DatasetError
from training.validate import FATAL, WARNING, emit_report, validate_datasets


def kinds(rep, severity):
    return {p.kind for p in rep.problems if p.severity == severity}


def test_clean_dataset_has_no_problems(tmp_path):
    ds = write_dataset(tmp_path / "ds", n=4)
    rep = validate_datasets([ds])
    assert rep.ok and rep.problems == []
    assert rep.counts[str(ds)]["images"] == 4 and rep.counts[str(ds)]["masks"] == 4
    d = rep.to_dict()
    assert d["ok"] and d["n_fatal"] == 0 and json.dumps(d)
    assert "0 fatal problem(s), 0 warning(s)" in rep.to_text()


def test_missing_pairs_are_fatal_or_warned(tmp_path):
    ds = write_dataset(tmp_path / "ds", n=4)
    (ds / "masks" / "img00.png").unlink()
    (ds / "images" / "img01.png").unlink()
    rep = validate_datasets(ds)
    assert [p.file for p in rep.fatal if p.kind == "image without mask"] == [str(ds / "images" / "img00.png")]
    assert [p.file for p in rep.warnings if p.kind == "mask without image"] == [str(ds / "masks" / "img01.png")]
    with pytest.raises(DatasetError, match="image without mask"):
        rep.raise_if_fatal()


def test_unreadable_files_and_size_mismatch_are_fatal(tmp_path):
    ds = write_dataset(tmp_path / "ds", n=4)
    (ds / "images" / "img00.png").write_bytes(b"not a png")
    (ds / "masks" / "img01.png").write_bytes(b"")
    cv2.imwrite(str(ds / "masks" / "img02.png"), np.zeros((50, 60), np.uint8))
    rep = validate_datasets(ds)
    by_kind = {p.kind: p for p in rep.fatal}
    assert by_kind["unreadable image"].file.endswith("img00.png")
    assert by_kind["unreadable mask"].file.endswith("img01.png")
    assert by_kind["size mismatch"].file.endswith("img02.png")
    assert "60x50" in by_kind["size mismatch"].message and "128x96" in by_kind["size mismatch"].message
    assert rep.counts[str(ds)]["unreadable"] == 2


def test_grey_jpeg_masks_warn_with_share_and_label_masks_are_fatal(tmp_path):
    ds = write_dataset(tmp_path / "ds", n=4)
    m = cv2.imread(str(ds / "masks" / "img00.png"), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(ds / "masks" / "img00.png"), cv2.GaussianBlur(m, (31, 31), 0))  # soft edges
    cv2.imwrite(str(ds / "masks" / "img01.png"), (m > 0).astype(np.uint8))  # 0/1 labels
    cv2.imwrite(str(ds / "masks" / "img02.png"), np.zeros_like(m))
    rep = validate_datasets(ds)
    grey = [p for p in rep.warnings if p.kind == "non-binary mask"]
    assert len(grey) == 1 and grey[0].file.endswith("img00.png")
    assert "% of pixels are grey" in grey[0].message
    assert [p.file[-9:] for p in rep.fatal] == ["img01.png"]
    assert [p.file[-9:] for p in rep.warnings if p.kind == "empty mask"] == ["img02.png"]
    assert rep.counts[str(ds)]["empty masks"] == 1


def test_duplicates_across_datasets_and_split_restriction(tmp_path):
    a = write_dataset(tmp_path / "a", n=3, seed=1)
    b = write_dataset(tmp_path / "b", n=3, seed=2)
    (b / "images" / "img02.png").write_bytes((a / "images" / "img00.png").read_bytes())
    rep = validate_datasets([a, b])
    dup = [p for p in rep.warnings if p.kind == "duplicate"]
    assert len(dup) == 1 and str(b / "images" / "img02.png") in dup[0].message
    # a split limits the check to its stems; a stem it lists but the dataset lacks is fatal
    (a / "masks" / "img02.png").unlink()
    split = tmp_path / "train.txt"
    split.write_text("img00\nimg01.png\n")
    assert validate_datasets(a, split=split).ok
    assert kinds(validate_datasets(a, split=["img00", "img09"]), FATAL) == {"split lists missing image"}


def test_layout_problems(tmp_path):
    rep = validate_datasets([tmp_path / "nope", tmp_path], task="segment")
    assert kinds(rep, FATAL) == {"missing dataset", "layout"}


def test_classification_layout(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("polyps", "normal-cecum"):
        (tmp_path / "cls" / c).mkdir(parents=True)
        for i in range(2):
            cv2.imwrite(str(tmp_path / "cls" / c / f"{i}.png"), rng.integers(0, 255, (20, 30, 3), np.uint8))
    (tmp_path / "cls" / "polyps" / "bad.jpg").write_bytes(b"xx")
    (tmp_path / "cls" / "empty").mkdir()
    rep = validate_datasets(tmp_path / "cls")  # auto-detected as classification
    assert rep.counts[str(tmp_path / "cls")] == {"class empty": 0, "class normal-cecum": 2, "class polyps": 3}
    assert kinds(rep, FATAL) == {"unreadable image"}
    assert kinds(rep, WARNING) == {"empty class"}
    one = tmp_path / "one" / "polyps"
    one.mkdir(parents=True)
    cv2.imwrite(str(one / "a.png"), np.zeros((8, 8, 3), np.uint8))
    assert kinds(validate_datasets(tmp_path / "one", task="classify"), FATAL) == {"too few classes"}


def test_emit_report_logs_warnings_then_raises(tmp_path):
    ds = write_dataset(tmp_path / "ds", n=3)
    cv2.imwrite(str(ds / "masks" / "img00.png"), np.zeros((96, 128), np.uint8))
    logged = []
    emit_report(validate_datasets(ds), lambda kind, **d: logged.append((kind, d)))
    assert logged and logged[0][0] == "log" and "empty mask" in logged[0][1]["message"]
    (ds / "images" / "img01.png").write_bytes(b"junk")
    with pytest.raises(DatasetError, match="1 fatal"):
        emit_report(validate_datasets(ds), lambda kind, **d: None)
