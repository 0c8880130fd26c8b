"""An export folder appears complete or not at all.

The work happens in a hidden temporary folder beside the target that is renamed into place
at the end and deleted on error or cancel. An existing folder is replaced only with
``overwrite=True``. A temporary folder left by a killed export (its owner file names a
process that is gone) is removed by the next export into the same parent.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from .. import fsutil
from ..errors import PolypViewerError

OWNER_FILE = ".polypviewer-export"  # "host pid" of the export writing a temporary folder
STALE_UNOWNED_S = 3600.0  # an unmarked temporary (older versions) this old is abandoned


def _owner_alive(folder: Path) -> bool:
    try:
        host, pid = (folder / OWNER_FILE).read_text(encoding="utf-8").split()
        pid = int(pid)
    except (OSError, ValueError):
        return time.time() - folder.stat().st_mtime < STALE_UNOWNED_S
    if host != socket.gethostname():
        return True  # another machine's export on a shared folder: not ours to judge
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def remove_stale_temporaries(out: Path) -> None:
    """What killed exports left beside ``out``: their temporary folders, a displaced old export.

    A temporary folder is removed when the process that made it is gone; an old export moved
    aside for replacing is put back if the export that moved it never finished.
    """
    parent = out.parent
    if not parent.is_dir():
        return
    for p in parent.glob(".*.part"):
        if p.is_dir() and not p.is_symlink() and (p.name.startswith(f".{out.name}.")
                                                  or (p / OWNER_FILE).is_file()):
            try:
                if not _owner_alive(p):
                    shutil.rmtree(p, ignore_errors=True)
            except OSError:
                pass
    for old in parent.glob(f".{out.name}.old-*"):
        if old.is_dir() and not old.is_symlink():
            if out.exists():
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(old, out)


def check_export_target(out_dir: str | Path, overwrite: bool = False) -> Path:
    """Refuse an output folder that cannot be made, before any analysis starts."""
    out = Path(out_dir)
    blocker = fsutil.file_in_the_way(out.parent)
    if blocker is not None:
        raise PolypViewerError(f"cannot export to {out}: {blocker} is a file, not a folder")
    if out.exists() and not overwrite:
        raise PolypViewerError(f"{out} already exists; choose another folder or allow overwriting")
    if out.exists() and not out.is_dir():
        raise PolypViewerError(f"{out} exists and is not a folder")
    ancestor = next(p for p in (out.parent, *out.parent.parents) if p.exists())
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise PolypViewerError(f"cannot export to {out}: {ancestor} is not writable")
    return out


def temporary_beside(target: Path) -> Path:
    """A new hidden ``.<name>.*.part`` folder beside ``target`` (its parent made if missing):
    the name ``remove_stale_temporaries`` recognises."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    except OSError as e:
        raise PolypViewerError(f"cannot write to {target.parent}: {e.strerror or e}") from e


@contextmanager
def atomic_dir(out_dir: str | Path, overwrite: bool = False):
    """Yield a temporary folder that becomes ``out_dir`` only if the block succeeds."""
    out = check_export_target(out_dir, overwrite)
    try:
        remove_stale_temporaries(out)
    except OSError:
        pass  # tidying is best effort; the export itself reports real problems
    tmp = temporary_beside(out)
    try:
        (tmp / OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}\n", encoding="utf-8")
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PolypViewerError(f"cannot write to {out.parent}: {e.strerror or e}") from e
    try:
        yield tmp
        (tmp / OWNER_FILE).unlink(missing_ok=True)
        fsutil.publish_mode(tmp, out)
        if out.exists():
            if not overwrite:
                raise PolypViewerError(f"{out} appeared while exporting; nothing was replaced")
            old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(out, old)
            try:
                os.replace(tmp, out)
            except OSError:
                os.replace(old, out)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
