"""Persisted preferences in an INI file under the user config folder.

An explicit file (not the platform registry) so that ``POLYPVIEWER_CONFIG_DIR`` isolates
tests and a user can read or delete their settings by hand. Known values are checked when read:
one that is out of range (a hand edit, another version) falls back to the caller's default with
a log line instead of breaking the start. The file carries a ``schema_version``; ``MIGRATIONS``
bring an older file up to date once, in order (napari-style: one function per step).
"""

from __future__ import annotations

import fnmatch
import logging
import math
from collections.abc import Callable

from PySide6.QtCore import QSettings

from ..engine.errors import PolypViewerError
from ..engine.models import model_settings
from ..engine.models.config import check_input_size
from ..engine.models.device import check_device
from ..engine.models.profiles import FAST
from ..engine.runtime.views import CHOICES as VIEW_CHOICES
from ..paths import user_config_dir

log = logging.getLogger(__name__)

MAX_RECENT = 10
MAX_MIN_AREA = 0.05  # the side panel offers 0-5 % of the frame


def _analysis_size(v) -> int | str:
    """0 (the model's own size), a size in pixels, or "fast" (the model's fast profile)."""
    text = str(v).strip().lower()
    if text == FAST:
        return FAST
    n = int(text)
    return 0 if n == 0 else check_input_size(n)


def _views(v) -> str:
    """A test-time views choice (engine.runtime.views): auto, off, hflip or flips."""
    text = str(v).strip().lower()
    if text not in VIEW_CHOICES:
        raise ValueError(f"must be one of {', '.join(VIEW_CHOICES)}")
    return text


def _fraction(hi: float) -> Callable[[float], float]:
    def check(v: float) -> float:
        if not (math.isfinite(v) and 0.0 <= v <= hi):
            raise ValueError(f"must be between 0 and {hi:g}")
        return v
    return check


def _pixel_limit(v: int) -> int:
    if v < 1:
        raise ValueError("must be a positive number of pixels")
    return v


# key (glob) -> check that returns the value or raises ValueError
CHECKS: dict[str, Callable] = {
    "device": check_device,
    "analysis_size": _analysis_size,
    "test_time_views": _views,
    "max_image_pixels": _pixel_limit,  # engine.media.imageio's limit; the CLI flag wins
    "min_area": _fraction(MAX_MIN_AREA),
    "overlay/*_opacity": _fraction(1.0),
}


# ---------------------------------------------------------------------------- migrations
def _thresholds_to_model_settings(q: QSettings) -> None:
    """``threshold/<model>`` keys move to the user's model settings, the threshold's one home.

    A threshold already saved there ("Use this threshold") is the user's explicit choice and is
    kept; the INI value was written on every close.
    """
    q.beginGroup("threshold")
    names = q.childKeys()
    values = {name: q.value(name) for name in names}
    q.endGroup()
    for name, raw in values.items():
        try:
            t = float(raw)
        except (TypeError, ValueError):
            log.warning("settings: dropping unreadable threshold %r for model %s", raw, name)
            continue
        if "threshold" not in model_settings.load_settings(name) and 0.0 < t < 1.0:
            model_settings.save_threshold(name, t)
    q.remove("threshold")


# MIGRATIONS[i] turns a version-i file into version i+1
MIGRATIONS: list[Callable[[QSettings], None]] = [_thresholds_to_model_settings]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(q: QSettings) -> int:
    """Bring ``q`` to SCHEMA_VERSION; a failed step is logged and retried at the next start."""
    try:
        version = int(q.value("schema_version", 0))
    except (TypeError, ValueError):
        version = 0
    if version > SCHEMA_VERSION:
        log.warning("settings %s come from a newer PolypViewer (schema %d > %d); left as they are",
                    q.fileName(), version, SCHEMA_VERSION)
        return version
    for step in range(max(version, 0), SCHEMA_VERSION):
        try:
            MIGRATIONS[step](q)
        except (OSError, PolypViewerError) as e:
            log.warning("settings %s: migration %d -> %d failed (%s); retried next start",
                        q.fileName(), step, step + 1, e)
            break
        version = step + 1
        q.setValue("schema_version", version)
    q.sync()
    return version


class Settings:
    def __init__(self) -> None:
        folder = user_config_dir()
        folder.mkdir(parents=True, exist_ok=True)
        self.q = QSettings(str(folder / "polypviewer.ini"), QSettings.Format.IniFormat)
        migrate(self.q)

    def get(self, key: str, default=None, type_=None):
        value = self.q.value(key, default)
        if value is default:
            return default
        try:
            if type_ is bool and isinstance(value, str):
                value = value.lower() in ("1", "true", "yes")
            elif type_ is not None:
                value = type_(value)
            for pattern, check in CHECKS.items():
                if fnmatch.fnmatchcase(key, pattern):
                    value = check(value)
        except (TypeError, ValueError) as e:
            log.warning("settings %s: %s=%r is not valid (%s); using %r", self.q.fileName(), key,
                        value, e, default)
            return default
        return value

    def set(self, key: str, value) -> None:
        self.q.setValue(key, value)

    def recent(self) -> list[str]:
        value = self.q.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if v]

    def add_recent(self, path: str) -> list[str]:
        items = [path] + [p for p in self.recent() if p != path]
        self.q.setValue("recent", items[:MAX_RECENT])
        return items[:MAX_RECENT]

    def sync(self) -> None:
        self.q.sync()
