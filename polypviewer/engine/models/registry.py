"""Find models by name or path: bundled ones in resources/models, user ones in the data dir."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...paths import resources_dir, user_models_dir
from ..errors import ModelFileError
from .modelfile import read_metadata

DEFAULT_MODEL = "polyp-unet-lite0"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path  # the .safetensors file
    source: str  # "bundled" or "user"
    metadata: dict


def bundled_models_dir() -> Path:
    return resources_dir() / "models"


def _scan(folder: Path, source: str) -> list[ModelEntry]:
    out = []
    if not folder.is_dir():
        return out
    for j in sorted(folder.glob("*.json")):
        try:
            meta = read_metadata(j)
        except ModelFileError:
            continue
        out.append(ModelEntry(meta.get("name", j.stem), j.with_suffix(".safetensors"), source, meta))
    return out


def list_models() -> list[ModelEntry]:
    return _scan(bundled_models_dir(), "bundled") + _scan(user_models_dir(), "user")


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
    entries = list_models()
    for e in entries:
        if e.name == target or e.path.stem == target:
            return e.path
    names = ", ".join(e.name for e in entries) or "none installed"
    raise ModelFileError(f"no model named '{target}' (available: {names})")
