"""Dispatch: bare start and PATH open the GUI, subcommands load lazily, missing parts are clear."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest
from cli_helpers import error_lines

from polypviewer.cli import main as cli_main
from polypviewer.cli.main import COMMANDS, main


@pytest.fixture
def fake_gui(monkeypatch):
    calls = []

    def run_app(paths, args):
        calls.append((paths, args))
        return 0

    monkeypatch.setitem(sys.modules, "polypviewer.gui.app", types.SimpleNamespace(run_app=run_app))
    return calls


def test_help_via_subprocess():
    r = subprocess.run([sys.executable, "-m", "polypviewer", "--help"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0
    for name in COMMANDS:
        assert name in r.stdout
    r = subprocess.run([sys.executable, "-c", "import sys; from polypviewer.cli.main import main; "
                        "import contextlib, io\nwith contextlib.redirect_stdout(io.StringIO()):\n"
                        "    try: main(['--help'])\n    except SystemExit: pass\n"
                        "print('torch' in sys.modules)"], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "False"  # --help stays instant: no torch import


def test_path_opens_gui(fake_gui, tmp_path):
    img = tmp_path / "a.png"
    img.write_bytes(b"x")
    assert main([str(img)]) == 0
    paths, args = fake_gui[0]
    assert paths == [str(img)] and args.frame is None and args.screenshot is None

    shot = tmp_path / "shot.png"
    assert main(["gui", str(img), "--frame", "7", "--screenshot", str(shot), "--device", "cpu"]) == 0
    paths, args = fake_gui[1]
    assert paths == [str(img)] and args.frame == 7 and args.screenshot == str(shot)
    assert args.device == "cpu" and args.model is None


def test_bare_start_opens_gui(fake_gui):
    """No arguments: the app is started with no paths and shows its bundled sample."""
    assert main([]) == 0
    paths, args = fake_gui[0]
    assert paths == [] and args.frame is None


def test_gui_missing_prints_help_and_reason(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "polypviewer.gui.app", None)  # import fails
    assert main([]) == 1
    cap = capsys.readouterr()
    assert "predict" in cap.out and "evaluate" in cap.out  # the CLI help
    err = error_lines(cap.err)
    assert len(err) == 1 and "cannot open the viewer" in err[0]


def test_gui_missing_path_is_one_line(fake_gui, tmp_path, capsys):
    assert main([str(tmp_path / "nope.mp4")]) == 1
    err = error_lines(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith("polypviewer: error:") and "nope.mp4" in err[0]
    assert not fake_gui


def test_missing_command_module_is_clear(monkeypatch, capsys):
    monkeypatch.setitem(COMMANDS, "bench", ("polypviewer.cli.no_such_bench", "add_arguments", "run", "x"))
    assert main(["bench"]) == 1
    err = error_lines(capsys.readouterr().err)
    assert len(err) == 1 and "'bench' command is not available" in err[0]

    monkeypatch.setitem(COMMANDS, "tune", ("polypviewer.cli.common", "add_nothing", "run_nothing", "x"))
    assert main(["tune", "--help"]) == 1
    assert "has no add_nothing()" in capsys.readouterr().err


def test_train_delegates_to_training(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    assert "--epochs" in capsys.readouterr().out


def test_unexpected_errors_still_raise(monkeypatch):
    """Only user errors become one line; a bug keeps its traceback for the report."""
    def boom(args):
        raise RuntimeError("bug")

    monkeypatch.setattr(cli_main, "load_command", lambda name: (lambda p: None, boom))
    with pytest.raises(RuntimeError):
        main(["models"])
