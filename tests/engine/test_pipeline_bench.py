"""``polypviewer bench`` end to end on a tiny generated clip and the tiny model."""

from __future__ import annotations

import json
import statistics

import cv2
import numpy as np
from synthetic import synthetic_frame

from polypviewer.cli import bench
from polypviewer.cli.main import main
from polypviewer.engine.media.sources import open_source


def make_clip(path, n=12):
    rng = np.random.default_rng(0)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (128, 96))
    for _ in range(n):
        w.write(np.ascontiguousarray(synthetic_frame(rng)[0][..., ::-1]))
    w.release()
    return path


def test_bench_end_to_end_writes_json(tiny_model_path, tmp_path, capsys):
    clip = make_clip(tmp_path / "clip.avi")
    out = tmp_path / "bench.json"
    rc = main(["bench", str(clip), "--model", str(tiny_model_path), "--device", "cpu",
               "--frames", "10", "--model-only-batches", "1,2", "--json", str(out)])
    assert rc == 0
    r = json.loads(out.read_text())
    for key in ("naive_fps", "pipeline_fps", "speedup", "device", "backend", "frames", "cpu",
                "model_only", "peak_rss_mb", "pipeline_stage_ms_per_frame", "torch_threads"):
        assert key in r, key
    assert r["frames"] == 10 and r["naive_fps"] > 0 and r["pipeline_fps"] > 0
    lanes = r["lanes"]
    expected = {"torch", "onnx"} | ({f"onnx x{lanes} lanes"} if lanes > 1 else set())
    assert r["backend"] == "onnx" and set(r["model_only"]) == expected
    assert all(set(figs) == {"1", "2"} for figs in r["model_only"].values())
    assert r["mask_dice_vs_naive"] > 0.95
    rounds = r["rounds"]  # default: three back-to-back pairs, alternating which goes first
    assert [x["first"] for x in rounds] == ["naive", "pipeline", "naive"]
    assert all(x["frames"] == 10 for x in rounds)
    assert r["naive_fps"] == statistics.median(x["naive_fps"] for x in rounds)
    assert r["speedup"] == statistics.median(x["speedup"] for x in rounds)
    assert r["speedup_range"] == [min(x["speedup"] for x in rounds), max(x["speedup"] for x in rounds)]
    assert r["pipeline"]["frames"] == 30  # stage times pooled over the rounds
    assert 0 < r["peak_rss_mb_analysis"] <= r["peak_rss_mb"]
    text = capsys.readouterr().out
    assert "frames/s" in text and "speedup" in text and "medians of 3 rounds" in text


def test_bench_loop_plays_a_short_clip_again(tiny_model_path, tmp_path, capsys):
    clip = make_clip(tmp_path / "clip.avi")
    out = tmp_path / "bench.json"
    with open_source(clip) as src:
        length = len(src)
    rc = main(["bench", str(clip), "--model", str(tiny_model_path), "--device", "cpu",
               "--frames", str(2 * length + 5), "--loop", "2", "--model-only-batches", "", "--rounds", "1",
               "--json", str(out)])
    assert rc == 0
    r = json.loads(out.read_text())
    assert r["loops"] == 2 and r["frames"] == 2 * length  # capped at what two plays hold
    assert len(r["rounds"]) == 1
    assert r["mask_dice_vs_naive"] > 0.95  # naive and pipeline saw the same frames in order
    assert "played 2 times" in capsys.readouterr().out


def test_bench_without_input_or_demo_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("polypviewer.paths.resources_dir", lambda: tmp_path)
    assert main(["bench", "--frames", "1"]) == 1
    err = capsys.readouterr().err
    assert "demo clip is missing" in err and "bench VIDEO" in err
    assert bench.cpu_model()
