"""Where PolypViewer's own files live: bundled resources and per-user folders."""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

import platformdirs

APP = "PolypViewer"


def resources_dir() -> Path:
    """Bundled resources: inside the installed wheel, or the repo's ``resources/`` in a clone."""
    pkg = importlib.resources.files("polypviewer")
    inside = pkg / "resources"
    if inside.is_dir():
        return Path(str(inside))
    return Path(str(pkg)).parent / "resources"


def _user(kind: str, env: str) -> Path:
    override = os.environ.get(env)
    if override:
        return Path(override)
    fn = {"data": platformdirs.user_data_dir, "cache": platformdirs.user_cache_dir,
          "config": platformdirs.user_config_dir, "log": platformdirs.user_log_dir}[kind]
    return Path(fn(APP, appauthor=False))


def user_data_dir() -> Path:
    """User models and training runs (``POLYPVIEWER_DATA_DIR`` overrides, e.g. in tests)."""
    return _user("data", "POLYPVIEWER_DATA_DIR")


def user_cache_dir() -> Path:
    """Analysis results per video/dataset and model (``POLYPVIEWER_CACHE_DIR`` overrides)."""
    return _user("cache", "POLYPVIEWER_CACHE_DIR")


def user_config_dir() -> Path:
    return _user("config", "POLYPVIEWER_CONFIG_DIR")


def user_log_dir() -> Path:
    """The app's rotating log, for bug reports (``POLYPVIEWER_LOG_DIR`` overrides)."""
    return _user("log", "POLYPVIEWER_LOG_DIR")


def user_models_dir() -> Path:
    return user_data_dir() / "models"


def runs_dir() -> Path:
    return user_data_dir() / "runs"
