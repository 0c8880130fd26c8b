"""Pieces every command shares: the error line, model/device options, loading a predictor."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..engine.errors import ModelFileError, PolypViewerError

PROG = "polypviewer"


class CommandUnavailable(PolypViewerError):
    """A command whose module (or the GUI toolkit) cannot be imported."""


def report_error(err: BaseException) -> int:
    """One line on stderr, never a traceback: the message is meant for the user."""
    if isinstance(err, OSError) and not isinstance(err, PolypViewerError):
        where = f"{err.filename}: " if err.filename else ""
        msg = f"{where}{err.strerror or err}"
    else:
        msg = str(err) or type(err).__name__
    print(f"{PROG}: error: {' '.join(msg.split())}", file=sys.stderr)
    return 1


EXIT_INCOMPLETE = 3  # finished, but some input was skipped or could be read only in part


def report_problems(problems: list[str]) -> int:
    """The input problems a run met (skipped files, damaged videos), listed at its end."""
    for line in problems:
        print(f"{PROG}: warning: {' '.join(line.split())}", file=sys.stderr)
    if not problems:
        return 0
    print(f"{PROG}: warning: {len(problems)} input problem(s) above; the results cover the rest",
          file=sys.stderr)
    return EXIT_INCOMPLETE


def device_arg(value: str) -> str:
    from ..engine.models.device import check_device

    try:
        return check_device(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def unit_float(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a number") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1")
    return v


def pixel_count(value: str) -> int:
    """A pixel limit such as 400000000 or 400e6."""
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a number of pixels") from None
    if not 1 <= v < 1e15:
        raise argparse.ArgumentTypeError(f"{value} is not a usable pixel limit")
    return int(v)


def positive_int(value: str) -> int:
    try:
        v = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return v


def analysis_size(value: str) -> int | str:
    """Pixels, or a profile name that the model resolves once it is loaded (profiles.py)."""
    from ..engine.models.config import check_input_size
    from ..engine.models.profiles import PROFILE_NAMES

    if value.strip().lower() in PROFILE_NAMES:
        return value.strip().lower()
    try:
        size = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is neither a number of pixels nor a profile "
                                         f"({', '.join(PROFILE_NAMES)})") from None
    try:
        return check_input_size(size)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_model_arguments(p: argparse.ArgumentParser, threshold: bool = True, tta: bool = True) -> None:
    p.add_argument("--model", metavar="NAME|PATH",
                   help="model name (see 'polypviewer models') or NAME.safetensors path; "
                        "default: the bundled model")
    p.add_argument("--device", type=device_arg, default="auto",
                   help="auto (GPU if usable), cpu, cuda, cuda:N or mps (default %(default)s)")
    p.add_argument("--size", type=analysis_size, metavar="PX|PROFILE",
                   help="analysis size: pixels (a multiple of 32), 'accurate' (the model's own, "
                        "the default) or 'fast' (the model's real-time profile, if it has one)")
    if threshold:
        p.add_argument("--threshold", type=unit_float, metavar="T",
                       help="pixel probability threshold (default: the model's own)")
    if tta:
        from ..engine.runtime import views  # numpy only: no torch at argument parsing

        p.add_argument("--tta", nargs="?", const=views.FLIPS, default=views.AUTO,
                       choices=views.CHOICES, metavar="VIEWS",
                       help="test-time views, their logits averaged: auto (the default: 4 flips "
                            "for images, folders and datasets, one view for video), off, hflip "
                            "(2 views) or flips (4); --tta alone means flips")


def check_model_path(model: str | None) -> None:
    """Refuse a file that clearly is not ours before the registry guesses around it."""
    if not model:
        return
    p = Path(model)
    if p.is_file() and p.suffix not in (".safetensors", ".json"):
        raise ModelFileError(f"{p} is not a PolypViewer model "
                             "(expected NAME.safetensors with NAME.json beside it)")


def make_predictor(args: argparse.Namespace, min_area_fraction: float | None = None):
    """A Predictor from the shared options; heavy imports happen only here."""
    from ..engine.runtime.inference import Predictor
    from ..engine.runtime.postprocess import DEFAULT_MIN_AREA_FRACTION

    check_model_path(getattr(args, "model", None))
    frac = DEFAULT_MIN_AREA_FRACTION if min_area_fraction is None else min_area_fraction
    try:
        return Predictor(getattr(args, "model", None), device=getattr(args, "device", "auto"),
                         threshold=getattr(args, "threshold", None), min_area_fraction=frac,
                         tta=getattr(args, "tta", "off"),
                         input_size=getattr(args, "size", None))
    except ValueError as e:  # e.g. an unknown device string
        raise PolypViewerError(str(e)) from e


def has_finding(pred) -> bool:
    """The frame verdict: at least one polyp region survived the threshold and speck filter."""
    return pred.count > 0


def describe_predictor(pred) -> str:
    from ..engine.runtime import views

    tta = f", test-time {views.LABELS[pred.tta]}" if pred.tta != views.OFF else ""
    size = pred.config.input_size
    own = getattr(pred, "native_size", size)
    at = f" at {size}px (model's own {own}px)" if size != own else ""
    thr = f"threshold {pred.threshold:.2f}"
    source = getattr(pred, "threshold_source", "")
    if source:
        thr += f" ({source})"
    cadx = (", neoplastic probability per polyp (research only, not a diagnosis)"
            if getattr(pred, "has_cadx", False) else "")
    return f"model {pred.name}{at}, {thr}, device {pred.device_note}{tta}{cadx}"
