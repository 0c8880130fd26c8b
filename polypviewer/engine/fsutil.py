"""Atomic file writing: a crash or a full disk never leaves a half-written file behind.

Temporaries come from ``mkstemp``/``mkdtemp``, which create them private (0600 / 0700); before a
temporary takes its final name it gets the mode of the file it replaces, or the mode a plain
``open()``/``mkdir()`` would have given under the umask, so shared datasets stay readable.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import PolypViewerError, WriteError


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux)."""
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/self/status", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith("Umask:"):
                        return int(line.split()[1], 8)
        except (OSError, ValueError, IndexError):
            pass
    old = os.umask(0o022)  # elsewhere the only way to read it is to set it
    os.umask(old)
    return old


def publish_mode(tmp: str | os.PathLike, final: str | os.PathLike) -> None:
    """Give ``tmp`` the mode of ``final`` if that exists, else the umask default (file or folder)."""
    tmp, final = Path(tmp), Path(final)
    try:
        mode = stat.S_IMODE(final.stat().st_mode)
    except OSError:
        mode = (0o777 if tmp.is_dir() else 0o666) & ~current_umask()
    try:
        os.chmod(tmp, mode)
    except OSError:
        pass  # file systems without POSIX modes (FAT, some network shares)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PolypViewerError(f"cannot write to {path.parent}: {e.strerror or e}") from e
    # the name is chosen before the file exists and the file is made inside the try below, so
    # an interrupt (Ctrl-C, SIGTERM raised as KeyboardInterrupt) at any point leaves nothing
    tmp_path = path.parent / f".{path.name}.{secrets.token_hex(6)}.part{path.suffix}"
    try:
        try:
            os.close(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as e:
            raise PolypViewerError(f"cannot write to {path.parent}: {e.strerror or e}") from e
        yield tmp_path
        publish_mode(tmp_path, path)
        os.replace(tmp_path, path)
    except OSError as e:
        tmp_path.unlink(missing_ok=True)
        if isinstance(e, PolypViewerError):
            raise
        raise WriteError(path, e) from e  # a full disk says which file it could not write
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def check_writable_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed and prove we can write there, before any work starts."""
    path = Path(path)
    blocker = file_in_the_way(path)
    if blocker is not None:
        raise PolypViewerError(f"output folder {path} cannot be made: {blocker} is a file, "
                               "not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as e:
        raise PolypViewerError(f"output folder {path} is not writable: {e.strerror or e}") from e
    return path


def file_in_the_way(path: str | os.PathLike) -> Path | None:
    """The existing non-folder among ``path`` and its parents that stops it being a folder."""
    for p in (Path(path), *Path(path).parents):
        if p.exists() or p.is_symlink():
            return None if p.is_dir() else p
    return None
