"""The model metadata schema: every field's type, range and length, checked before use.

A model JSON comes from anywhere (a colleague, an old version, a hand edit), so each value is
checked here once and a bad one is refused as ``<file>: field '<name>' ...``; nothing later
compares or builds with an unchecked value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

from ..errors import ModelFileError
from .config import MAX_INPUT_SIZE, MIN_INPUT_SIZE, SEG_CHANNELS_RANGE

FORMAT = "polypviewer-model"
FORMAT_VERSION = 1

MAX_NAME, MAX_TEXT = 200, 20_000
# what a model file's "tracking" may set (analysis.tracking): its regions' confidence runs with
# its pixel threshold, so the entry rule is the model's; the rest is about the video
# name -> (type, lowest, highest); enter_hits counts frames of the default window of 8
TRACKING_KEYS = {"enter_confidence": (float, 0.0, 1.0), "enter_hits": (int, 1, 8)}
MAX_DECODER_CHANNELS = 2048  # widest decoder stage accepted (the bundled models use <= 128)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class _Fields:
    """Checks values of one JSON file; every failure names the file and the field."""

    def __init__(self, where: Path) -> None:
        self.where = where

    def fail(self, field: str, why: str):
        raise ModelFileError(f"{self.where}: field '{field}' {why}")

    def integer(self, field: str, v, lo: int, hi: int) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(field, f"must be a whole number (got {v!r})")
        if not lo <= v <= hi:
            self.fail(field, f"must be between {lo} and {hi} (got {v})")
        return v

    def number(self, field: str, v, lo: float, hi: float, *, open_lo: bool = False,
               open_hi: bool = False) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            self.fail(field, f"must be a number (got {v!r})")
        if v < lo or v > hi or (open_lo and v == lo) or (open_hi and v == hi):
            lo_s, hi_s = ("(" if open_lo else "["), (")" if open_hi else "]")
            self.fail(field, f"must be in {lo_s}{lo:g}, {hi:g}{hi_s} (got {v:g})")
        return float(v)

    def text(self, field: str, v, max_len: int, *, empty: bool = True) -> str:
        if not isinstance(v, str):
            self.fail(field, f"must be text (got {v!r})")
        if not empty and not v.strip():
            self.fail(field, "must not be empty")
        if len(v) > max_len:
            self.fail(field, f"is longer than {max_len} characters")
        return v

    def choice(self, field: str, v, options) -> str:
        if not isinstance(v, str) or v not in options:
            self.fail(field, f"must be one of {', '.join(options)} (got {v!r})")
        return v

    def input_size(self, field: str, v) -> int:
        if self.integer(field, v, MIN_INPUT_SIZE, MAX_INPUT_SIZE) % 32:
            self.fail(field, f"must be a multiple of 32 (got {v})")
        return v

    def boolean(self, field: str, v) -> bool:
        if not isinstance(v, bool):
            self.fail(field, f"must be true or false (got {v!r})")
        return v

    def mapping(self, field: str, v) -> dict:
        if not isinstance(v, dict):
            self.fail(field, f"must be an object (got {type(v).__name__})")
        return v

    def sequence(self, field: str, v, n_min: int, n_max: int, item: Callable[[str, object], object]):
        if not isinstance(v, list):
            self.fail(field, f"must be a list (got {v!r})")
        if not n_min <= len(v) <= n_max:
            n = str(n_min) if n_min == n_max else f"{n_min} to {n_max}"
            self.fail(field, f"must have {n} values (got {len(v)})")
        for x in v:
            item(field, x)
        return v


def _check_config(f: _Fields, cfg) -> None:
    from .factory import ARCHS  # the factory decides which architectures exist

    f.mapping("config", cfg)
    checks: dict[str, Callable[[str, object], object]] = {
        "arch": lambda k, v: f.choice(k, v, ARCHS),
        "encoder": lambda k, v: f.text(k, v, 100, empty=False),
        "input_size": f.input_size,
        "classification_head": f.boolean,
        "decoder_channels": lambda k, v: v is None or f.sequence(
            k, v, 1, 8, lambda k2, x: f.integer(k2, x, 1, MAX_DECODER_CHANNELS)),
        "mean": lambda k, v: f.sequence(k, v, 3, 3, lambda k2, x: f.number(k2, x, 0.0, 1.0)),
        "std": lambda k, v: f.sequence(k, v, 3, 3, lambda k2, x: f.number(k2, x, 0.0, 1.0, open_lo=True)),
        "clahe": f.boolean,
        "class_names": lambda k, v: f.sequence(k, v, 1, 1000, lambda k2, x: f.text(k2, x, MAX_NAME)),
        "extra": f.mapping,
        "seg_channels": lambda k, v: f.integer(k, v, *SEG_CHANNELS_RANGE),
    }
    for key, value in cfg.items():
        if key not in checks:
            f.fail(f"config.{key}", f"is not a model config field (known: {', '.join(checks)})")
        checks[key](f"config.{key}", value)


def validate_metadata(meta, where: Path) -> dict:
    """``meta`` itself when every field is valid; raises ModelFileError naming the field otherwise."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{where} is not a PolypViewer model file")
    f = _Fields(where)
    version = f.integer("format_version", meta.get("format_version", 1), 1, 10**6)
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{where} needs a newer PolypViewer (model format {version})")
    if "name" in meta:
        f.text("name", meta["name"], MAX_NAME, empty=False)
    if "description" in meta:
        f.text("description", meta["description"], MAX_TEXT)
    if "config" not in meta:
        f.fail("config", "is missing")
    _check_config(f, meta["config"])
    if "threshold" in meta:
        f.number("threshold", meta["threshold"], 0.0, 1.0, open_lo=True, open_hi=True)
    if "frame_threshold" in meta:  # the frame verdict's operating point (operating_point.py)
        f.number("frame_threshold", meta["frame_threshold"], 0.0, 1.0)
    if "fast_size" in meta:  # the fast analysis profile (profiles.py)
        f.input_size("fast_size", meta["fast_size"])
    if "tracking" in meta:  # the model's own tracking values (analysis.tracking.settings_for)
        f.mapping("tracking", meta["tracking"])
        for key, value in meta["tracking"].items():
            if key not in TRACKING_KEYS:
                f.fail(f"tracking.{key}", "is not a tracking value a model sets "
                       f"(known: {', '.join(TRACKING_KEYS)})")
            kind, lo, hi = TRACKING_KEYS[key]
            check = f.integer if kind is int else f.number
            check(f"tracking.{key}", value, lo, hi)
    if "weights_file" in meta:
        f.text("weights_file", meta["weights_file"], 1000, empty=False)
    if "weights_sha256" not in meta:
        f.fail("weights_sha256", "is missing: the weights cannot be checked")
    sha = meta["weights_sha256"]
    if not isinstance(sha, str) or not _SHA256.match(sha):
        f.fail("weights_sha256", f"must be 64 lowercase hex digits (got {sha!r})")
    if "n_parameters" in meta:
        f.integer("n_parameters", meta["n_parameters"], 0, 10**12)
    if "training" in meta:
        f.mapping("training", meta["training"])
    return meta
