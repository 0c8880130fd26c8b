"""A run folder on disk: its config and its resumable checkpoint, read back with one clear line.

The checkpoint of epoch N+1 is written completely before it replaces epoch N's, and epoch N's
stays as ``checkpoint.prev.pt`` (a hard link, so no copy), so a truncated or damaged
``checkpoint.pt`` still leaves the epoch before it to resume from. Resuming always writes into
the folder it was given, whatever ``out`` the config recorded (the run may have been copied).
"""

from __future__ import annotations

import json
import os
import shutil
import types
import typing
from dataclasses import fields, replace
from pathlib import Path

import torch

from polypviewer.engine import fsutil
from polypviewer.engine.errors import PolypViewerError

from .config import TrainConfig

CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"
CONFIG = "config.json"
_STATE_KEYS = ("epoch", "model", "opt", "best", "best_epoch")


def _type_ok(value, hint) -> bool:
    if hint is typing.Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if origin is not None:  # list[str], tuple[int, ...], dict
        return isinstance(value, origin) or (origin is tuple and isinstance(value, list))
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is type(None):
        return value is None
    return isinstance(value, hint)


def check_types(obj) -> None:
    """Raise ValueError naming the first field whose value has the wrong type."""
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        value = getattr(obj, f.name)
        if not _type_ok(value, hints[f.name]):
            raise ValueError(f"'{f.name}' must be {hints[f.name]}, not {value!r}")


def load_run_config(run_dir: str | os.PathLike) -> TrainConfig:
    """The config of the run in ``run_dir``, with ``out`` set to ``run_dir`` itself."""
    run = Path(run_dir)
    path = run / CONFIG
    if not path.is_file():
        raise PolypViewerError(f"{run} is not a run folder (no {CONFIG})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, found {type(data).__name__}")
        cfg = TrainConfig.from_dict(data)
        check_types(cfg)
        check_types(cfg.model)
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as e:
        raise PolypViewerError(f"{path} is not a usable training config: {e}") from e
    return replace(cfg, out=str(run))


def _reason(e: BaseException) -> str:
    """The first sentence of torch's message (its advice to load untrusted pickles is not ours)."""
    text = str(e).strip()
    if text.startswith("Weights only load failed"):
        return "it holds objects other than tensors and numbers"
    first = text.splitlines()[0].split(". ")[0] if text else type(e).__name__
    return first[:160]


def _read(path: Path) -> dict:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or any(k not in state for k in _STATE_KEYS):
        raise ValueError("not a PolypViewer training checkpoint")
    int(state["epoch"]), float(state["best"]), int(state["best_epoch"])
    return state


def read_checkpoint(run_dir: str | os.PathLike, log) -> tuple[dict, Path] | None:
    """The newest readable checkpoint state (on the CPU) and its path; None if the run has none.

    A damaged ``checkpoint.pt`` is reported through ``log`` and the previous one is used; when
    no checkpoint is readable the run stops with one line and every file is left as it is.
    """
    run = Path(run_dir)
    candidates = [run / CHECKPOINT, run / PREVIOUS]
    if not any(p.is_file() for p in candidates):
        return None
    damaged: list[str] = []
    for path in candidates:
        if not path.is_file():
            continue
        try:
            state = _read(path)
        except Exception as e:  # noqa: BLE001 - torch raises many kinds for a damaged file
            damaged.append(f"{path} is damaged ({_reason(e)})")
            continue
        if path.name != CHECKPOINT:
            why = damaged[0] if damaged else f"{run / CHECKPOINT} is missing"
            log(f"{why}; resuming from {path.name} (epoch {int(state['epoch']) + 1})")
        return state, path
    raise PolypViewerError(f"cannot resume: {'; '.join(damaged)}; no usable checkpoint is left "
                           "(the files are kept; start a new run)")


def _keep_previous(current: Path, previous: Path) -> None:
    """``previous`` becomes the file now at ``current`` (which is about to be replaced)."""
    with fsutil.atomic_path(previous) as tmp:
        tmp.unlink()
        try:
            os.link(current, tmp)
        except OSError:  # no hard links here (some network or FAT file systems)
            shutil.copyfile(current, tmp)


def write_checkpoint(run_dir: str | os.PathLike, state: dict, keep_previous: bool = True) -> Path:
    """Write ``state`` as the run's checkpoint; the one it replaces becomes ``PREVIOUS``.

    ``keep_previous=False`` when the current file is known damaged, so it never replaces a
    good previous checkpoint.
    """
    run = Path(run_dir)
    path = run / CHECKPOINT
    with fsutil.atomic_path(path) as tmp:
        try:
            torch.save(state, tmp)
        except OSError as e:
            raise PolypViewerError(f"cannot write {path}: {e.strerror or e}") from e
        if keep_previous and path.is_file():
            _keep_previous(path, run / PREVIOUS)
    return path
