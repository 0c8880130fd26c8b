"""Persisted preferences in an INI file under the user config folder.

An explicit file (not the platform registry) so that ``POLYPVIEWER_CONFIG_DIR`` isolates
tests and a user can read or delete their settings by hand.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings

from ..paths import user_config_dir

MAX_RECENT = 10


class Settings:
    def __init__(self) -> None:
        folder = user_config_dir()
        folder.mkdir(parents=True, exist_ok=True)
        self.q = QSettings(str(folder / "polypviewer.ini"), QSettings.Format.IniFormat)

    def get(self, key: str, default=None, type_=None):
        if type_ is None:
            return self.q.value(key, default)
        value = self.q.value(key, default)
        try:
            if type_ is bool and isinstance(value, str):
                return value.lower() in ("1", "true", "yes")
            return type_(value)
        except (TypeError, ValueError):
            return default

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
