"""Bad inputs end with one ``polypviewer: error:`` line, a non-zero status and no stray files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from cli_helpers import error_lines, write_images
from synthetic import write_dataset

from polypviewer.cli.main import main


def _one_error(capsys) -> str:
    err = error_lines(capsys.readouterr().err)
    assert len(err) == 1, err
    assert err[0].startswith("polypviewer: error: ") and "Traceback" not in err[0]
    return err[0]


def test_missing_input(tmp_path, tiny_model_path, capsys):
    out = tmp_path / "out"
    rc = main(["predict", str(tmp_path / "missing.png"), "--out", str(out),
               "--model", str(tiny_model_path), "--device", "cpu"])
    assert rc != 0
    assert "missing.png" in _one_error(capsys)
    assert not out.exists()  # inputs are checked before anything is created


def test_text_file_named_mp4(tmp_path, tiny_model_path, capsys):
    fake = tmp_path / "clip.mp4"
    fake.write_text("this is not a video\n")
    rc = main(["predict", str(fake), "--out", str(tmp_path / "out"), "--model", str(tiny_model_path)])
    assert rc != 0
    assert "clip.mp4" in _one_error(capsys)


def test_unwritable_output(tmp_path, tiny_model_path, capsys):
    write_images(tmp_path / "in", n=1)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anyway (root)")
        rc = main(["predict", str(tmp_path / "in"), "--out", str(locked / "out"),
                   "--model", str(tiny_model_path), "--device", "cpu"])
        assert rc != 0
        assert "not writable" in _one_error(capsys)
        assert not (locked / "out").exists()
        ds = write_dataset(tmp_path / "ds", n=1)
        rc = main(["evaluate", str(ds), "--json", str(locked / "sub" / "r.json"),
                   "--model", str(tiny_model_path), "--device", "cpu"])
        assert rc != 0
        assert "not writable" in _one_error(capsys)
    finally:
        locked.chmod(0o700)


def test_output_under_a_file(tmp_path, tiny_model_path, capsys):
    """Unwritable even for root: the output folder's parent is a regular file."""
    write_images(tmp_path / "in", n=1)
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    rc = main(["predict", str(tmp_path / "in"), "--out", str(blocker / "out"),
               "--model", str(tiny_model_path), "--device", "cpu"])
    assert rc != 0
    assert "file.txt is a file, not a folder" in _one_error(capsys)


@pytest.mark.parametrize("kind", ["pickle", "foreign-json", "garbage-weights"])
def test_model_file_not_ours(tmp_path, tiny_model_path, capsys, kind):
    write_images(tmp_path / "in", n=1)
    if kind == "pickle":
        model = tmp_path / "model.pt"
        model.write_bytes(b"\x80\x04junk")
    elif kind == "foreign-json":
        model = tmp_path / "other.safetensors"
        model.write_bytes(b"junk")
        model.with_suffix(".json").write_text(json.dumps({"hello": "world"}))
    else:  # our metadata, but the weights were replaced
        model = tmp_path / "swapped.safetensors"
        meta = json.loads(tiny_model_path.with_suffix(".json").read_text())
        model.with_suffix(".json").write_text(json.dumps(meta))
        model.write_bytes(b"not the weights")
    out = tmp_path / "out"
    rc = main(["predict", str(tmp_path / "in"), "--out", str(out), "--model", str(model),
               "--device", "cpu"])
    assert rc != 0
    line = _one_error(capsys)
    assert model.stem in line
    assert not list(out.rglob("*.png"))


def test_unknown_model_name(tmp_path, capsys):
    write_images(tmp_path / "in", n=1)
    rc = main(["predict", str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--model", "nonesuch"])
    assert rc != 0
    assert "nonesuch" in _one_error(capsys)


def test_error_in_subprocess_has_no_traceback(tmp_path):
    """A real process: one line, status 1 (evaluate fails before heavy imports, so it is quick)."""
    r = subprocess.run([sys.executable, "-m", "polypviewer", "evaluate", str(tmp_path / "gone")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and lines[0].startswith("polypviewer: error:") and "gone" in lines[0]
