"""``polypviewer`` entry point: no arguments or a PATH opens the GUI, otherwise a subcommand.

Each subcommand's module (and torch, PySide6, ``training``) is imported only when that
command runs, so ``--help`` is instant and a missing optional part gives one clear line
instead of breaking every command.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

from .. import __version__
from .common import PROG, CommandUnavailable, pixel_count, report_error

# name -> (module, add_arguments attribute, run attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "gui": ("polypviewer.cli.gui", "add_arguments", "run",
            "open the viewer on images, a folder, a dataset or a video"),
    "predict": ("polypviewer.cli.predict", "add_arguments", "run",
                "segment images, folders, datasets or videos and write masks, overlays and a CSV"),
    "evaluate": ("polypviewer.cli.evaluate", "add_arguments", "run",
                 "score a model on one or more datasets (Dice, IoU, frame verdict, ...)"),
    "models": ("polypviewer.cli.models", "add_arguments", "run",
               "list bundled and user models with their metadata"),
    "train": ("training.cli", "add_train_arguments", "run_train", "train a segmentation model"),
    "tune": ("training.cli", "add_tune_arguments", "run_tune", "search training hyper-parameters"),
    "eda": ("training.cli", "add_eda_arguments", "run_eda", "summarise a dataset (sizes, mask areas)"),
    "bench": ("polypviewer.cli.bench", "add_arguments", "run", "measure inference speed"),
    "export": ("polypviewer.cli.export", "add_arguments", "run", "write masks, COCO, CSV/JSON, overlays, MP4 or an HTML report"),
    "batch": ("polypviewer.cli.batch", "add_arguments", "run",
              "analyse an archive of procedures into a results database (local Ray or a cluster)"),
    "archive": ("polypviewer.cli.archive", "add_arguments", "run",
                "query a results database: summary, filters, CSV, a procedure's report"),
}


def load_command(name: str) -> tuple[Callable, Callable]:
    """Import a command's module on demand; a missing one becomes a clear message."""
    module, add_name, run_name, _ = COMMANDS[name]
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise CommandUnavailable(f"the '{name}' command is not available: {e}") from e
    add, run = getattr(mod, add_name, None), getattr(mod, run_name, None)
    if add is None or run is None:
        missing = add_name if add is None else run_name
        raise CommandUnavailable(f"the '{name}' command is not available: "
                                 f"{module} has no {missing}()")
    return add, run


def build_parser(selected: str | None = None) -> tuple[argparse.ArgumentParser, Callable | None]:
    """The full parser; only ``selected`` gets its arguments (and its module imported)."""
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Review colonoscopy images and videos with polyp segmentation.",
        epilog=f"Without a command, '{PROG}' opens the viewer on the bundled sample and "
               f"'{PROG} PATH' opens it on PATH. Run '{PROG} COMMAND --help' for a command's options.",
    )
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    run = None
    for name, (_, _, _, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.add_argument("--max-pixels", type=pixel_count, metavar="N",
                        help="refuse images above N pixels (width x height) before decoding "
                             "them (default 50e6; the GUI setting max_image_pixels)")
        if name == selected:
            add, run = load_command(name)
            add(sp)
    return p, run


def _gui_fallback(reason: str) -> int:
    parser, _ = build_parser()
    parser.print_help()
    print(f"{PROG}: cannot open the viewer: {reason}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-")):
        argv = ["gui", *argv]  # bare `polypviewer` or `polypviewer PATH`
    selected = argv[0] if argv[0] in COMMANDS else None
    try:
        parser, run = build_parser(selected)
    except CommandUnavailable as e:
        if selected == "gui":
            return _gui_fallback(str(e))
        return report_error(e)
    args = parser.parse_args(argv)
    if run is None:
        parser.print_help()
        return 2
    if getattr(args, "max_pixels", None):
        from ..engine.media.imageio import set_max_pixels

        set_max_pixels(args.max_pixels)  # via the environment: worker processes inherit it
    try:
        return int(run(args) or 0)
    except CommandUnavailable as e:
        if selected == "gui":
            return _gui_fallback(str(e))
        return report_error(e)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - only user-fixable errors are shown as one line
        if is_user_error(e):
            return report_error(e)
        raise


def is_user_error(e: BaseException) -> bool:
    from ..engine.errors import PolypViewerError

    return isinstance(e, (PolypViewerError, OSError))


if __name__ == "__main__":
    raise SystemExit(main())
