"""Which cache folder belongs to a source and a model: the folder name is a hash of both.

A source is identified by its path, size and modification time (folders: every file's, plus the
frame order), so an edited or replaced file gets a fresh analysis rather than stale results.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import PolypViewerError


def _stat_identity(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def source_identity(source) -> dict:
    """Absolute path + size + mtime; for folders every file's, plus the frame order."""
    path = Path(getattr(source, "path", source)).resolve()
    ident: dict = {"path": str(path), "kind": getattr(source, "kind", "")}
    if path.is_dir():
        h = hashlib.sha256()
        for sub in (path, path / "images"):
            if sub.is_dir():
                for p in sorted(sub.iterdir()):
                    if p.is_file():
                        st = p.stat()
                        h.update(f"{p.relative_to(path)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        ident["listing_sha256"] = h.hexdigest()
    else:
        ident.update(_stat_identity(path))
    if hasattr(source, "name") and callable(source.name) and ident["kind"] in ("folder", "dataset"):
        order = "\n".join(source.name(i) for i in range(len(source)))
        ident["order_sha256"] = hashlib.sha256(order.encode()).hexdigest()
    return ident


def store_key(identity: dict, weights: str, preprocessing: dict) -> str:
    blob = json.dumps({"source": identity, "model": weights, "pre": preprocessing},
                      sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def weights_sha256(path: Path | None) -> str:
    """The model file's sha256, for models whose metadata does not record it."""
    if path is None or not Path(path).is_file():
        raise PolypViewerError("the model has no recorded weights sha256 and no file to hash")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

