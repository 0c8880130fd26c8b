"""JPEG output for the CLI; drawing itself is ``engine.export.overlay`` (one renderer for all views)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..engine import fsutil
from ..engine.errors import MediaError


def write_jpg(path: str | Path, rgb: np.ndarray, quality: int = 90) -> None:
    """Encode an RGB frame as JPEG and write it atomically."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise MediaError(f"could not encode {Path(path).name} as JPEG")
    fsutil.write_bytes(path, buf.tobytes())
