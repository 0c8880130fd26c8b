"""``polypviewer predict`` numbers findings as the viewer, ``export`` and the report do."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from cli_helpers import read_csv, write_images
from findings_fixtures import FPS, H, W, draw

from polypviewer.cli.main import main
from polypviewer.engine.media.sources import open_source
from polypviewer.engine.runtime.inference import Predictor
from polypviewer.engine.runtime.preprocess import letterbox
from polypviewer.engine.runtime.results import AnalysisStore

N = 64


def _analysed_video(root: Path, model: Path) -> Path:
    """A video and its analysis in the viewer's cache, the maps drawn by hand: the random tiny
    model is never confident enough to make findings."""
    root.mkdir(parents=True)
    video = root / "procedure.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (W, H))
    probs = []
    for i in range(N):
        rgb, prob = draw(i)
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        probs.append(prob)
    writer.release()
    with open_source(video) as src:
        store = AnalysisStore.open(src, Predictor(model, device="cpu"), n_frames=len(src))
        for frame, prob in zip(src.frames(), probs):
            small, box = letterbox(prob, store.size, cv2.INTER_LINEAR)
            store.put(frame.index, small, float(prob.max()), box, time_s=frame.time_s)
        store.complete = True
    return video


def _run(*argv) -> int:
    return main([*map(str, argv), "--device", "cpu"])


def test_video_finding_ids_agree_with_export_and_report(tmp_path, tiny_model_path):
    video = _analysed_video(tmp_path / "in", tiny_model_path)
    out, exp = tmp_path / "pred", tmp_path / "exp"
    assert _run("predict", video, "--out", out, "--model", tiny_model_path) == 0
    assert _run("export", video, "--format", "json,report", "--out", exp,
                "--model", tiny_model_path) == 0
    rows = read_csv(out / "predictions.csv")
    doc = json.loads((exp / "predictions.json").read_text())
    exported = {fr["index"]: [r["finding_id"] for r in fr["instances"]] for fr in doc["frames"]}
    predicted = {int(r["frame"]): json.loads(r["finding_ids"]) for r in rows}
    assert predicted == exported
    assert predicted[0] == [1] and predicted[27] == [0] and predicted[40] == [2]
    assert predicted[30] == []

    (summary,) = json.loads((out / "findings.json").read_text())["sources"]
    assert summary["source"] == str(video) and summary["kind"] == "video"
    assert summary["coverage"]["complete"] and summary["summary"] == "2 findings"
    assert summary["findings"] == doc["findings"]  # same numbers, frames, times and sizes
    assert summary["tracking"] == doc["tracking"]
    report = (exp / "report.html").read_text()
    for f in summary["findings"]:
        assert f"Finding #{f['id']}" in report
        assert f"frames {f['first_index'] + 1}-{f['last_index'] + 1}" in report
    # only frames with a region get files, named by frame; the overlays carry the numbers
    assert sorted(p.stem for p in (out / "masks").iterdir()) == sorted(
        r["name"] for r in rows if r["name"])
    assert (out / "overlays" / "procedure_000040.jpg").is_file()


def test_still_findings_are_numbered_per_input(tmp_path, tiny_model_path):
    write_images(tmp_path / "in", n=3)
    single = write_images(tmp_path / "one", n=1, size=(70, 90))[0]
    out = tmp_path / "out"
    assert _run("predict", tmp_path / "in", single, "--out", out, "--model", tiny_model_path,
                "--threshold", "0.3") == 0
    rows = read_csv(out / "predictions.csv")
    ids = [json.loads(r["finding_ids"]) for r in rows]
    assert [len(v) for v in ids] == [int(r["polyp_count"]) for r in rows]
    folder = [k for v in ids[:3] for k in v]
    assert folder == list(range(1, len(folder) + 1))  # one finding per region, in order
    assert ids[3] == list(range(1, len(ids[3]) + 1))  # the next input counts from 1 again
    sources = json.loads((out / "findings.json").read_text())["sources"]
    assert [s["source"] for s in sources] == [str(tmp_path / "in"), str(single)]
    assert [len(s["findings"]) for s in sources] == [len(folder), len(ids[3])]
    assert all(s["kind"] == "images" and "tracking" not in s for s in sources)


def test_a_frame_killed_before_its_row_is_removed_by_the_next_run(tmp_path, tiny_model_path,
                                                                   monkeypatch):
    """kill -9 after a frame's files, before its row: nothing after the files runs (no undo);
    the next run into the folder removes the unlisted files before it starts."""
    from polypviewer.cli.predict_output import PENDING, Writer

    write_images(tmp_path / "in", n=3)
    out, killed_at = tmp_path / "out", "frame1"

    class Killed(BaseException):
        pass

    real_row = Writer._row

    def row(self, r):
        if r["name"] == killed_at:
            raise Killed
        return real_row(self, r)

    monkeypatch.setattr(Writer, "_row", row)
    monkeypatch.setattr(Writer, "_undo", lambda *a: None)
    with pytest.raises(Killed):
        _run("predict", tmp_path / "in", "--out", out, "--model", tiny_model_path)
    monkeypatch.undo()
    assert [r["name"] for r in read_csv(out / "predictions.csv")] == ["frame0"]
    assert {p.stem for p in (out / "masks").iterdir()} == {"frame0", killed_at}
    assert json.loads((out / PENDING).read_text())["name"] == killed_at

    other = write_images(tmp_path / "other", n=1, seed=4)[0].rename(tmp_path / "other" / "x.png")
    assert _run("predict", other, "--out", out, "--model", tiny_model_path) == 0
    assert not (out / "masks" / f"{killed_at}.png").exists()
    assert not (out / "overlays" / f"{killed_at}.jpg").exists()
    assert not (out / PENDING).exists()
    assert (out / "masks" / "frame0.png").is_file()  # a finished frame of the earlier run stays
