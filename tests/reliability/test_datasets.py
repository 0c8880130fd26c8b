"""Datasets whose layout is ambiguous, masks without images, masks of another size."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from synthetic import write_dataset

from polypviewer.engine.errors import DatasetError
from polypviewer.engine.media.dataset import find_pairs
from polypviewer.engine.media.sources import open_source


@pytest.fixture
def ds(tmp_path):
    return write_dataset(tmp_path / "ds", n=4)


@pytest.mark.parametrize("folder", ["images", "masks"])
def test_two_files_for_one_stem_are_refused_with_the_list(ds, folder):
    src = ds / folder / "img01.png"
    shutil.copy(src, ds / folder / "img01.jpg")
    shutil.copy(ds / folder / "img02.png", ds / folder / "img02.bmp")
    with pytest.raises(DatasetError) as e:
        find_pairs(ds)
    msg = str(e.value)
    assert f"{folder}" in msg and "img01.jpg" in msg and "img01.png" in msg
    assert "img02.bmp" in msg and "img02.png" in msg and "img00" not in msg
    with pytest.raises(DatasetError):
        open_source(ds)


def test_orphan_masks_are_reported(ds, caplog):
    cv2.imwrite(str(ds / "masks" / "lost.png"), np.zeros((8, 8), np.uint8))
    with caplog.at_level("WARNING"):
        pairs = find_pairs(ds)
    assert len(pairs) == 4
    assert any("lost.png" in r.getMessage() and "no image" in r.getMessage() for r in caplog.records)
    notes: list[str] = []
    find_pairs(ds, notes=notes)
    assert len(notes) == 1 and "lost.png" in notes[0]
    src = open_source(ds)
    assert any("lost.png" in p for p in src.problems())


def test_clean_dataset_has_no_problems(ds, caplog):
    with caplog.at_level("WARNING"):
        src = open_source(ds)
        list(src.frames())
    assert src.problems() == [] and not caplog.records


def test_mask_of_another_size_is_resized_and_said(ds, caplog):
    m = cv2.imread(str(ds / "masks" / "img00.png"), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(ds / "masks" / "img00.png"), cv2.resize(m, (64, 48), interpolation=cv2.INTER_NEAREST))
    with caplog.at_level("WARNING"):
        frame = open_source(ds)[0]
    assert frame.gt_mask.shape == frame.rgb.shape[:2]
    assert any("img00.png" in r.getMessage() and "nearest" in r.getMessage() for r in caplog.records)


def test_evaluate_scores_a_resized_mask_like_export(ds, tmp_path, tiny_model_path, capsys, caplog):
    """One rule: evaluate no longer refuses what export and predict resize."""
    from polypviewer.cli.main import main

    m = cv2.imread(str(ds / "masks" / "img00.png"), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(ds / "masks" / "img00.png"), cv2.resize(m, (64, 48), interpolation=cv2.INTER_NEAREST))
    with caplog.at_level("WARNING"):
        rc = main(["evaluate", str(ds), "--model", str(tiny_model_path), "--device", "cpu",
                   "--json", str(tmp_path / "e.json")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert any("img00.png" in r.getMessage() and "nearest" in r.getMessage() for r in caplog.records)
    import json
    assert json.loads((tmp_path / "e.json").read_text())["n_images"] == 4
