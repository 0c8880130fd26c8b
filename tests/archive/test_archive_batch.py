"""The batch without Ray (``--workers 0``): same records, skip-if-done, failures recorded."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import torch
from archive_helpers import write_archive
from synthetic import TINY

from polypviewer.archive import db, query
from polypviewer.archive.runner import BatchOptions, run_batch
from polypviewer.cli.main import main
from polypviewer.engine.models.factory import create_model
from polypviewer.engine.models.modelfile import save_model


def _opts(root, database, model, **kw) -> BatchOptions:
    return BatchOptions(roots=(str(root),), database=str(database), model=str(model),
                        device="cpu", workers=0, **kw)


def test_batch_records_every_procedure_once_and_skips_on_rerun(tmp_path, tiny_model_path):
    root = write_archive(tmp_path / "arch")
    (root / "room0" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"junk" * 50)
    database = tmp_path / "results.sqlite"
    rep = run_batch(_opts(root, database, tiny_model_path))
    assert (rep.found, rep.recorded, rep.failed, rep.skipped) == (5, 5, 1, 0)
    assert [p.endswith("broken.mp4") for p, _ in rep.errors] == [True]
    c = db.connect(database, readonly=True)
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in query.rows(c)}
    assert rows["broken.mp4"]["status"] == "failed" and rows["broken.mp4"]["error"]
    assert rows["proc0.mp4"]["status"] == "done"
    assert (rows["proc0.mp4"]["n_frames"], rows["proc0.mp4"]["frames_read"]) == (12, 12)
    assert rows["proc0.mp4"]["duration_s"] == 1.2
    assert rows["case7"]["n_frames"] == 3 and rows["case7"]["duration_s"] is None
    probs, _ = db.frame_summary(c, rows["proc1.mp4"]["id"])
    assert len(probs) == 12 and not any(p != p for p in probs)
    c.close()

    again = run_batch(_opts(root, database, tiny_model_path))
    assert (again.recorded, again.skipped) == (0, 5)
    retry = run_batch(_opts(root, database, tiny_model_path, retry_failed=True))
    assert (retry.recorded, retry.failed, retry.skipped) == (1, 1, 4)
    c = db.connect(database, readonly=True)
    assert c.execute("SELECT COUNT(*) FROM procedures").fetchone()[0] == 5
    c.close()


def test_a_two_channel_model_is_analysed_like_any_other(tmp_path):
    """The archive stores maps through the viewer's sink, so the neoplastic map (which a
    one-channel callback could not take) reaches the cache instead of failing every video."""
    torch.manual_seed(0)
    cfg = replace(TINY, seg_channels=2)
    model = create_model(cfg).eval()
    with torch.no_grad():
        model.neoplastic_head.bias.fill_(math.log(0.8 / 0.2))
    path = save_model(tmp_path / "m" / "cadx", model, cfg, threshold=0.5, name="cadx")
    root = write_archive(tmp_path / "arch", n_videos=1)
    rep = run_batch(_opts(root, tmp_path / "r.sqlite", path, cache_dir=str(tmp_path / "cache")))
    assert (rep.recorded, rep.failed) == (2, 0), rep.errors
    c = db.connect(tmp_path / "r.sqlite", readonly=True)
    assert {r["status"] for r in query.rows(c)} == {"done"}
    c.close()


def test_other_settings_are_a_new_result(tmp_path, tiny_model_path):
    root = write_archive(tmp_path / "arch", n_videos=1)
    database = tmp_path / "r.sqlite"
    run_batch(_opts(root, database, tiny_model_path))
    rep = run_batch(_opts(root, database, tiny_model_path, threshold=0.7))
    assert (rep.recorded, rep.skipped) == (2, 0)


def test_cli_batch_then_summary_and_csv(tmp_path, tiny_model_path, capsys):
    root = write_archive(tmp_path / "arch", n_videos=2)
    database = tmp_path / "r.sqlite"
    assert main(["batch", str(root), "--db", str(database), "--model", str(tiny_model_path),
                 "--workers", "0", "--device", "cpu", "--no-maps"]) == 0
    assert "3 recorded (0 failed)" in capsys.readouterr().out
    assert main(["archive", str(database), "--summary", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["procedures"], s["done"], s["failed"]) == (3, 3, 0)
    assert s["hours_of_video"] == round(2 * 1.2 / 3600, 3)
    with_any = s["procedures_with_finding"]
    out = tmp_path / "rows.csv"
    assert main(["archive", str(database), "--min-confidence", "1.01", "--summary", "--csv", str(out)]) == 0
    text = capsys.readouterr().out
    assert "with >= 1 finding     0" in text
    lines = out.read_text().splitlines()
    assert lines[0].startswith("id,path,status") and len(lines) == 4
    assert 0 <= with_any <= 3


def test_archive_report_of_a_missing_row_is_one_clear_line(tmp_path, tiny_model_path, capsys):
    root = write_archive(tmp_path / "arch", n_videos=1)
    database = tmp_path / "r.sqlite"
    run_batch(_opts(root, database, tiny_model_path, keep_maps=False))
    assert main(["archive", str(database), "--report", "99", "--out", str(tmp_path / "rep")]) != 0
    assert "no procedure with ID 99" in capsys.readouterr().err


def test_folders_of_stills_get_the_apps_flips_and_the_app_finds_their_cache(tmp_path,
                                                                           tiny_model_path):
    from polypviewer.archive.procedure import settings_for
    from polypviewer.engine.media.sources import open_source
    from polypviewer.engine.runtime.inference import Predictor
    from polypviewer.engine.runtime.results import AnalysisStore

    root = write_archive(tmp_path / "arch", n_videos=1)
    database, cache = tmp_path / "r.sqlite", tmp_path / "cache"
    rep = run_batch(_opts(root, database, tiny_model_path, cache_dir=str(cache)))
    assert (rep.recorded, rep.failed) == (2, 0), rep.errors
    c = db.connect(database, readonly=True)
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in query.rows(c)}
    c.close()
    settings = {k: json.loads(rows[k]["settings"]) for k in ("case7", "proc0.mp4")}
    assert settings["case7"]["extra"] == {"test_time_views": "flips"}
    assert settings["proc0.mp4"]["extra"] == {}  # one view: the hash one-view records had
    one_view = settings_for(Predictor(tiny_model_path, device="cpu"))
    assert rows["proc0.mp4"]["settings_hash"] == one_view.digest()
    # what the app opens for the folder with Test-time views: Auto is the batch's analysis
    app = Predictor(tiny_model_path, device="cpu", tta="auto")
    src = open_source(str(root / "stills" / "case7"))
    try:
        store = AnalysisStore.open(src, app.for_media(src.kind), n_frames=len(src), root=cache)
        assert store.complete and all(store.has(i) for i in range(len(src)))
    finally:
        src.close()
    off = run_batch(_opts(root, database, tiny_model_path, tta="off"))
    assert (off.recorded, off.skipped) == (1, 1)  # the folder again at one view; video done
