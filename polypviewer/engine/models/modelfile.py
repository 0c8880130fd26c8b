"""Model files: ``NAME.safetensors`` weights + ``NAME.json`` metadata, never pickle.

The JSON records everything needed to rebuild the network through the factory and to use it
(normalisation, threshold, class names), plus the sha256 of the weights so a damaged or
swapped file is refused instead of producing silent nonsense.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from .. import fsutil
from ..errors import ModelFileError
from .config import ModelConfig
from .factory import create_model
from .schema import FORMAT, FORMAT_VERSION, validate_metadata

__all__ = ["FORMAT", "FORMAT_VERSION", "LoadedModel", "load_model", "read_metadata", "save_model"]


@dataclass
class LoadedModel:
    model: nn.Module
    config: ModelConfig
    threshold: float
    name: str
    path: Path | None = None
    metadata: dict = field(default_factory=dict)


def _paths(path: str | Path) -> tuple[Path, Path]:
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_suffix(".safetensors"), p.with_suffix(".json")


def save_model(path: str | Path, model: nn.Module, config: ModelConfig, *, threshold: float = 0.5,
               name: str | None = None, description: str = "", training: dict | None = None,
               frame_threshold: float | None = None, fast_size: int | None = None,
               tracking: dict | None = None) -> Path:
    """Write weights then metadata, each atomically; returns the ``.safetensors`` path."""
    w_path, j_path = _paths(path)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    blob = st_save(state)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name or w_path.stem,
        "description": description,
        "config": config.to_dict(),
        "threshold": float(threshold),
        "weights_file": w_path.name,
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
        "n_parameters": int(sum(v.numel() for v in state.values() if v.is_floating_point())),
        "training": training or {},
    }
    if frame_threshold is not None:  # the verdict's operating point (models/operating_point.py)
        meta["frame_threshold"] = float(frame_threshold)
    if fast_size is not None:  # the real-time analysis size (models/profiles.py)
        meta["fast_size"] = int(fast_size)
    if tracking:  # the model's own tracking values (analysis.tracking.settings_for)
        meta["tracking"] = dict(tracking)
    validate_metadata(meta, j_path)  # never write a file that would be refused on load
    fsutil.write_bytes(w_path, blob)
    fsutil.write_json(j_path, meta)
    return w_path


def read_metadata(path: str | Path) -> dict:
    """The model's JSON, every field checked by :mod:`.schema` (raises ModelFileError)."""
    _, j_path = _paths(path)
    if not j_path.is_file():
        raise ModelFileError(f"model metadata {j_path} not found")
    try:
        meta = json.loads(j_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{j_path} is not a PolypViewer model file (invalid JSON)") from e
    except OSError as e:
        raise ModelFileError(f"cannot read {j_path}: {e.strerror or e}") from e
    return validate_metadata(meta, j_path)


def _check_finite(state: dict[str, torch.Tensor], w_path: Path) -> None:
    """NaN or infinite weights detect nothing, silently: refuse them, naming the tensor."""
    for key, t in state.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ModelFileError(f"{w_path}: tensor '{key}' holds NaN or infinite values "
                                 "(the training diverged or the file was damaged)")


def load_model(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild through the factory, check hash and every tensor, and return an eval model."""
    w_path, j_path = _paths(path)
    meta = read_metadata(j_path)
    if not w_path.is_file():
        raise ModelFileError(f"model weights {w_path} not found")
    try:
        blob = w_path.read_bytes()
    except OSError as e:
        raise ModelFileError(f"cannot read {w_path}: {e.strerror or e}") from e
    if hashlib.sha256(blob).hexdigest() != meta["weights_sha256"]:
        raise ModelFileError(f"{w_path} does not match its metadata (sha256 differs): "
                             "the file is damaged or was replaced")
    try:
        config = ModelConfig.from_dict(meta["config"])
        model = create_model(config, pretrained=False)
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{j_path}: model config not understood ({e})") from e
    try:
        state = st_load(blob)
    except SafetensorError as e:
        raise ModelFileError(f"{w_path} is not a valid safetensors file") from e
    _check_finite(state, w_path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ModelFileError(f"{w_path}: weights do not fit the architecture in its metadata") from e
    model.eval().to(device)
    return LoadedModel(model=model, config=config, threshold=float(meta.get("threshold", 0.5)),
                       name=meta.get("name", w_path.stem), path=w_path, metadata=meta)
