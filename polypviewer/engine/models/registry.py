"""Find models by name or path: bundled ones in resources/models, user ones in the data dir.

A damaged or hand-edited file in a models folder is listed as unusable with its reason (see
``ModelEntry.problem``) and never stops the other models from being found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ...paths import resources_dir, user_models_dir
from ..errors import ModelFileError
from .modelfile import read_metadata
from .schema import FORMAT

DEFAULT_MODEL = "polyp-unet-lite1"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path  # the .safetensors file
    source: str  # "bundled" or "user"
    metadata: dict = field(default_factory=dict)
    problem: str | None = None  # why the file cannot be used; None when it can


def bundled_models_dir() -> Path:
    return resources_dir() / "models"


def _claims_to_be_a_model(j: Path) -> bool:
    """A JSON that says it is ours, or sits beside weights of the same name (else: foreign)."""
    if j.with_suffix(".safetensors").is_file():
        return True
    try:
        data = json.loads(j.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def _scan(folder: Path, source: str) -> list[ModelEntry]:
    out = []
    if not folder.is_dir():
        return out
    for j in sorted(folder.glob("*.json")):
        w = j.with_suffix(".safetensors")
        try:
            meta = read_metadata(j)
        except ModelFileError as e:
            if _claims_to_be_a_model(j):
                out.append(ModelEntry(j.stem, w, source, {}, str(e)))
            continue
        out.append(ModelEntry(meta.get("name", j.stem), w, source, meta))
    return out


def list_models(include_unusable: bool = False) -> list[ModelEntry]:
    """Bundled then user models; with ``include_unusable`` also the files that are refused."""
    entries = _scan(bundled_models_dir(), "bundled") + _scan(user_models_dir(), "user")
    return entries if include_unusable else [e for e in entries if e.problem is None]


def resolve_model(name_or_path: str | Path | None = None) -> Path:
    """A model's ``.safetensors`` path from a file path, a registered name, or the default."""
    target = str(name_or_path) if name_or_path else DEFAULT_MODEL
    p = Path(target)
    if p.suffix in (".safetensors", ".json") or p.exists():
        if p.is_dir():
            p = p / "model.safetensors"  # a training run folder
        w = p.with_suffix(".safetensors")
        if not w.is_file() and not p.with_suffix(".json").is_file():
            raise ModelFileError(f"model file {p} not found")
        return w
    entries = list_models(include_unusable=True)
    matches = [e for e in entries if e.name == target or e.path.stem == target]
    for e in matches:
        if e.problem is None:
            return e.path
    if matches:  # only unusable files carry that name: say why
        raise ModelFileError(matches[0].problem)
    names = ", ".join(e.name for e in entries if e.problem is None) or "none installed"
    raise ModelFileError(f"no model named '{target}' (available: {names})")
