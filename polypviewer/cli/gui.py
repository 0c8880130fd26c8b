"""``polypviewer [gui] [PATH...]``: hand over to the Qt app, imported only now."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import CommandUnavailable, add_model_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="image, folder, dataset or video to open (default: the bundled sample)")
    p.add_argument("--frame", type=int, metavar="N", help="start at frame N (0-based)")
    p.add_argument("--screenshot", metavar="OUT.png",
                   help="save a screenshot of the window once the frame is shown, then quit")
    add_model_arguments(p, threshold=False, tta=False)


def run(args: argparse.Namespace) -> int:
    try:
        from ..gui.app import run_app
    except ImportError as e:  # no PySide6, no display libraries, or no GUI module yet
        raise CommandUnavailable(f"the GUI could not be loaded ({e})") from e
    paths = list(args.paths)  # empty: the app opens its bundled sample itself
    if paths:
        missing = [p for p in paths if not Path(p).exists()]
        if missing:
            raise FileNotFoundError(2, "no such file or folder", missing[0])
    return int(run_app(paths, args) or 0)
