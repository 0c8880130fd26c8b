"""``polypviewer predict`` on every input kind with the tiny model: files, CSV, Ctrl-C."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from cli_helpers import read_csv, write_images
from pipeline_helpers import pipeline_threads, wait_no_threads
from synthetic import write_dataset, write_video

from polypviewer.cli.main import main
from polypviewer.cli.predict_output import CSV_COLUMNS, Writer


def _predict(tiny_model_path, out, *inputs, extra=()):
    return main(["predict", *map(str, inputs), "--out", str(out), "--model", str(tiny_model_path),
                 "--device", "cpu", "--batch-size", "2", *extra])


def _no_partials(folder):
    return [p for p in folder.rglob("*") if ".part" in p.name or p.name.startswith(".")]


def test_images_and_folder(tmp_path, tiny_model_path):
    imgs = write_images(tmp_path / "in", n=3)
    single = write_images(tmp_path / "one", n=1, size=(70, 90))[0]
    out = tmp_path / "out"
    assert _predict(tiny_model_path, out, tmp_path / "in", single) == 0
    rows = read_csv(out / "predictions.csv")
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    assert len(rows) == 4
    # two inputs share the stem 'frame0': the second gets a unique name, nothing is overwritten
    names = [r["name"] for r in rows]
    assert names == ["frame0", "frame1", "frame2", "frame0_2"]
    assert rows[0]["source"] == str(imgs[0]) and rows[3]["source"] == str(single)
    mask = cv2.imread(str(out / "masks" / "frame0_2.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (70, 90) and set(np.unique(mask)) <= {0, 255}
    for r in rows:
        assert (out / "overlays" / f"{r['name']}.jpg").is_file()
        assert r["time_s"] == ""
        boxes = json.loads(r["boxes"])
        assert len(boxes) == int(r["polyp_count"])
        assert all(len(b) == 5 and 0 <= b[4] <= 1 for b in boxes)
        assert 0.0 <= float(r["polyp_probability"]) <= 1.0
    assert not _no_partials(out)


def test_dataset_gradcam(tmp_path, tiny_model_path):
    ds = write_dataset(tmp_path / "ds", n=2)
    out = tmp_path / "out"
    assert _predict(tiny_model_path, out, ds, extra=["--gradcam", "--tta"]) == 0
    rows = read_csv(out / "predictions.csv")
    assert [r["name"] for r in rows] == ["img00", "img01"]
    assert rows[0]["source"].endswith("img00.png")
    for stem in ("img00", "img01"):
        heat = cv2.imread(str(out / "gradcam" / f"{stem}.jpg"))
        assert heat.shape == (96, 128, 3)


def test_video_findings_and_all(tmp_path, tiny_model_path):
    video = write_video(tmp_path / "clip.mp4", n=5, fps=10)
    out = tmp_path / "out"
    # nothing reaches 0.99 with the random tiny model: no findings -> no per-frame files
    assert _predict(tiny_model_path, out, video, extra=["--threshold", "0.99"]) == 0
    rows = read_csv(out / "predictions.csv")
    assert [int(r["frame"]) for r in rows] == [0, 1, 2, 3, 4]
    assert [float(r["time_s"]) for r in rows] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4], abs=1e-3)
    assert all(r["polyp_count"] == "0" and r["name"] == "" for r in rows)
    assert not (out / "masks").exists()

    out2 = tmp_path / "out2"
    assert _predict(tiny_model_path, out2, video, extra=["--video-frames", "all"]) == 0
    masks = sorted(p.name for p in (out2 / "masks").iterdir())
    assert masks == [f"clip_{i:06d}.png" for i in range(5)]
    assert (out2 / "overlays" / "clip_000004.jpg").is_file()


def test_ctrl_c_keeps_finished_frames(tmp_path, tiny_model_path, monkeypatch, capsys):
    write_images(tmp_path / "in", n=5)
    real = Writer.frame
    calls = {"n": 0}

    def interrupted(self, item, pred):  # Ctrl-C lands on the main thread, which writes files
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, item, pred)

    monkeypatch.setattr(Writer, "frame", interrupted)
    out = tmp_path / "out"
    rc = main(["predict", str(tmp_path / "in"), "--out", str(out), "--model", str(tiny_model_path),
               "--device", "cpu", "--batch-size", "1"])
    assert rc == 130
    rows = read_csv(out / "predictions.csv")
    assert [r["name"] for r in rows] == ["frame0", "frame1"]
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["frame0.png", "frame1.png"]
    assert not _no_partials(out)
    assert "interrupted" in capsys.readouterr().err
    assert wait_no_threads() < 5 and not pipeline_threads()  # the pipeline stopped with it


def test_help_documents_video_frames(capsys):
    with pytest.raises(SystemExit) as e:
        main(["predict", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "--video-frames" in text and "only frames with findings" in text


def test_same_masks_as_the_predictor_through_the_pipeline(tmp_path, tiny_model_path):
    """predict runs the engine pipeline (ONNX on CPU): masks agree with eager PyTorch, with
    the stills' default four flips and with one view."""
    from polypviewer.engine.metrics import mask_dice
    from polypviewer.engine.runtime.inference import Predictor

    imgs = write_images(tmp_path / "in", n=4)
    for views, extra in (("flips", []), ("off", ["--tta", "off"])):
        out = tmp_path / f"out-{views}"
        assert _predict(tiny_model_path, out, tmp_path / "in", extra=extra) == 0
        predictor = Predictor(tiny_model_path, device="cpu", tta=views)
        for img in imgs:
            rgb = cv2.cvtColor(cv2.imread(str(img)), cv2.COLOR_BGR2RGB)
            want = predictor.predict(rgb).mask
            got = cv2.imread(str(out / "masks" / f"{img.stem}.png"), cv2.IMREAD_UNCHANGED) > 0
            assert got.shape == want.shape and mask_dice(got, want) > 0.99
        doc = json.loads((out / "findings.json").read_text())
        assert {s["test_time_views"] for s in doc["sources"]} == {views}
