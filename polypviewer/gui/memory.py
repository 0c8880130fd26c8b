"""Keep Python's full garbage collections short once the heavy libraries are loaded.

A full collection walks every object the collector tracks: once torch,
segmentation_models_pytorch and Qt are imported that is about half a million objects, 0.3 s
on a 2-core CPU with the GIL held, so playback and every worker stop that long, again each
time a quarter as many new objects have piled up. Modules, classes and functions live as long
as the process; ``gc.freeze`` takes them out of the collector's walk. It is done once, before
any model or window exists, so what is made later (models, frames, results, windows) is still
collected when dropped. At exit they are handed back (``gc.unfreeze``), so that the
interpreter's last collection frees them and extension modules that count their live objects
at shutdown (nanobind's, in triton) find none left over.
"""

from __future__ import annotations

import atexit
import gc
import threading

_lock = threading.Lock()
_frozen = False


def freeze_libraries() -> bool:
    """Freeze every object tracked now, once per process; True the one time it freezes."""
    global _frozen
    with _lock:
        if _frozen:
            return False
        gc.collect(1)  # drop the young garbage of the imports (cheap: old objects not walked)
        gc.freeze()
        atexit.register(gc.unfreeze)
        _frozen = True
        return True
