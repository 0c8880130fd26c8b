"""EDA report: plots, a self-contained HTML page and eda.json with the tests' results."""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
from synthetic import synthetic_frame, write_dataset

from training.cli import add_eda_arguments, run_eda


def test_eda_outputs(tmp_path, capsys):
    ds = write_dataset(tmp_path / "ds", n=8)
    rng = np.random.default_rng(5)
    for i in range(3):  # portrait frames, so the orientation test has two groups
        img, mask = synthetic_frame(rng, h=128, w=96)
        cv2.imwrite(str(ds / "images" / f"p{i}.png"), img)
        cv2.imwrite(str(ds / "masks" / f"p{i}.png"), mask)
    big = np.zeros((96, 128), np.uint8)
    big[:, :64] = 255  # one large polyp: half the frame
    cv2.imwrite(str(ds / "masks" / "img00.png"), big)
    p = argparse.ArgumentParser()
    add_eda_arguments(p)
    out = tmp_path / "eda"
    assert run_eda(p.parse_args([str(ds), "--out", str(out)])) == 0
    assert "11 images" in capsys.readouterr().out
    s = json.loads((out / "eda.json").read_text())
    for key in ("image_size", "aspect_ratio", "coverage", "polyps_per_image", "polyp_size_classes",
                "colour", "contrast", "tests", "plots"):
        assert key in s
    assert s["n_images"] == 11 and s["orientation"] == {"landscape": 8, "portrait": 3, "square": 0}
    assert s["coverage"]["max"] == 0.5
    sc = s["polyp_size_classes"]["counts"]
    assert sc["large"] >= 1 and sum(sc.values()) == s["polyp_size_classes"]["n_polyps"]
    assert s["polyps_per_image"]["counts"]["2"] >= 1  # write_dataset draws 1 or 2 polyps
    assert s["colour"]["R"]["polyp_mean"] > s["colour"]["R"]["background_mean"]
    t = s["tests"]
    assert t["resolution_vs_coverage"]["test"] == "Spearman"
    assert t["coverage_portrait_vs_landscape"]["n"] == [3, 8]
    assert 0 <= t["coverage_portrait_vs_landscape"]["p_value"] <= 1
    assert 0 <= t["coverage_vs_contrast"]["p_value"] <= 1
    for name in s["plots"].values():
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "eda.html").read_text()
    assert page.count("data:image/png;base64,") == len(s["plots"]) == 4
    assert "Welch" in page and "src=\"http" not in page
