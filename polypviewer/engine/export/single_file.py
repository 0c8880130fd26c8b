"""One export written to exactly the file a user named (``my_case.mp4``), atomically.

``writers.export`` builds a folder of fixed names; a user saving a video, a report or a table
wants one file under a name of their own. The folder is built in a hidden temporary folder
beside the target, and its one file is renamed into place only when everything succeeded
(optionally converted first, e.g. HTML -> PDF); on error or cancel nothing is left behind.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from .. import fsutil
from ..errors import PolypViewerError
from .atomic_folder import temporary_beside
from .writers import ExportOptions, ExportResult, export

# format -> the file writers.export makes for it
FILE_OF = {"csv": "predictions.csv", "json": "predictions.json", "coco": "coco.json",
           "mp4": "annotated.mp4", "report": "report.html"}


def export_file(items: Iterable[tuple], path: str | Path, options: ExportOptions, *,
                convert: Callable[[Path, Path], None] | None = None,
                total: int | None = None, cancel=None,
                progress: Callable[[int, int | None], None] | None = None,
                input_notes: Callable[[], list[str]] | None = None,
                track=None, n_frames: int | None = None) -> ExportResult:
    """Write the one format of ``options`` for ``items`` to ``path`` (``writers.export``'s
    options; ``total``, ``cancel``, ``progress``, ``input_notes``, ``track`` and ``n_frames``
    as there).

    ``convert(produced, destination)`` turns the produced file into the one published (the
    report's PDF); without it the file is published as made. An existing ``path`` is replaced
    (the save dialog has asked); a folder there is refused.
    """
    path = Path(path)
    formats = tuple(dict.fromkeys(options.formats))
    if len(formats) != 1:
        raise PolypViewerError(f"a one-file export writes one format, not {', '.join(formats) or 'none'}")
    fmt = formats[0]
    if fmt not in FILE_OF:
        raise PolypViewerError(f"{fmt} exports are not a single file; choose from {', '.join(FILE_OF)}")
    if path.is_dir():
        raise PolypViewerError(f"{path} is a folder; choose a file name")
    work = temporary_beside(path)
    try:
        res = export(items, work / "out", replace(options, formats=formats, overwrite=False),
                     total=total, cancel=cancel, progress=progress, input_notes=input_notes,
                     track=track, n_frames=n_frames)
        produced = res.folder / FILE_OF[fmt]
        with fsutil.atomic_path(path) as tmp:
            if convert is not None:
                convert(produced, tmp)
            else:
                os.replace(produced, tmp)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return replace(res, folder=path.parent, files=[path.name])
