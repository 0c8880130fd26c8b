"""The user's own copy of a model's settings (e.g. threshold), kept apart from the model file.

Bundled and trained model files are never edited: a user who picks another threshold in the
dataset review or moves the viewer's slider gets ``user_config_dir()/models/<name>.json``
instead; ``Predictor(threshold=None)`` asks :func:`effective_threshold`, so that choice applies
in the GUI and the CLI alike. This file is the threshold's only home.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ...paths import user_config_dir
from .. import fsutil
from ..errors import PolypViewerError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def settings_path(model_name: str) -> Path:
    """Where the user's settings for ``model_name`` live (name made safe for a file name)."""
    safe = _UNSAFE.sub("_", model_name).strip("._") or "model"
    return user_config_dir() / "models" / f"{safe}.json"


def load_settings(model_name: str) -> dict:
    """The user's settings for a model; ``{}`` when none were saved or the file is unreadable."""
    path = settings_path(model_name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def save_settings(model_name: str, **values) -> Path:
    """Merge ``values`` into the user's settings for a model, atomically."""
    data = load_settings(model_name)
    data.update(values)
    data["model"] = model_name
    path = settings_path(model_name)
    fsutil.write_json(path, data)
    return path


def save_threshold(model_name: str, threshold: float) -> Path:
    t = float(threshold)
    if not 0.0 < t < 1.0:
        raise PolypViewerError(f"threshold must be between 0 and 1 (got {t})")
    return save_settings(model_name, threshold=round(t, 4))


def effective_threshold(loaded) -> float:
    """The user's threshold for this model if they chose one, else the model file's own.

    ``loaded`` is a :class:`~polypviewer.engine.models.modelfile.LoadedModel` (anything with
    ``name`` and ``threshold``).
    """
    value = load_settings(loaded.name).get("threshold")
    if isinstance(value, (int, float)) and 0.0 < float(value) < 1.0:
        return float(value)
    return float(loaded.threshold)
