"""Register a finished run's model under a name in the user models folder, with a model card.

The model is re-saved through ``engine.models.modelfile`` (not copied byte for byte) so the new name
lands in the JSON metadata and the recorded sha256 still matches the weights.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from polypviewer.engine import fsutil
from polypviewer.engine.errors import ModelFileError
from polypviewer.engine.models.modelfile import load_model, save_model
from polypviewer.paths import user_models_dir

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_name(name: str) -> str:
    """'' when ``name`` can be a model file name, else why not."""
    if not NAME_RE.match(name or ""):
        return "use letters, digits, '.', '-' or '_' (up to 64, starting with a letter or digit)"
    if (user_models_dir() / f"{name}.json").exists():
        return f"a model named '{name}' is already registered"
    return ""


def model_card(name: str, description: str, meta: dict, run_dir: Path) -> str:
    cfg, tr = meta.get("config", {}), meta.get("training", {})
    lines = [f"# {name}", "", description or "(no description)", "",
             "## Model", "",
             f"- architecture: {cfg.get('arch')} with encoder {cfg.get('encoder')}",
             f"- input size: {cfg.get('input_size')} px; frame-classification head: "
             f"{'yes' if cfg.get('classification_head') else 'no'}",
             f"- threshold: {meta.get('threshold', 0.5):.2f}",
             f"- parameters: {meta.get('n_parameters', 0) / 1e6:.2f} M", "",
             "## Training", "",
             f"- run: {run_dir.name}"]
    for key in ("datasets", "train_split", "val_split", "n_train", "n_val", "epochs_run",
                "best_epoch", "loss", "augment", "lr", "device", "train_time_s"):
        if key in tr:
            value = tr[key] + 1 if key == "best_epoch" and isinstance(tr[key], int) else tr[key]
            lines.append(f"- {key.replace('_', ' ')}: {value}")  # epochs counted from 1
    lines += ["", "## Validation (model resolution)", ""]
    for key in ("val_dice_model_res", "val_iou_model_res", "val_accuracy", "val_auc"):
        if key in tr:
            lines.append(f"- {key.replace('_', ' ')}: {tr[key]:.4f}")
    head = tr.get("neoplastic_head")
    if isinstance(head, dict):
        lines += ["", "## Neoplastic head fit (research)", "",
                  f"- sizes: {head.get('sizes')}; views: {head.get('views')}; "
                  f"l2: {head.get('l2')}; sources: {head.get('sources')}"]
        for at, v in (head.get("holdout") or {}).items():
            p = v.get("predicted", {})
            lines.append(f"- holdout at {at} px, predicted regions: {p.get('polyps')} polyps, "
                         f"accuracy {p.get('accuracy', float('nan')):.3f}, "
                         f"AUC {p.get('auc', float('nan')):.3f}")
    lines += ["", "Validation scores come from the run's own held-out images; check the model on "
              "your data before relying on it.", ""]
    return "\n".join(lines)


def register_run(run_dir: str | Path, name: str, description: str = "") -> Path:
    """Copy RUN/model.* into the user models folder as ``name``; returns the .safetensors path."""
    run_dir = Path(run_dir)
    problem = check_name(name)
    if problem:
        raise ModelFileError(problem)
    src = run_dir / "model.safetensors"
    if not src.is_file():
        raise ModelFileError(f"{run_dir.name} has no finished model (model.safetensors)")
    try:
        loaded = load_model(src)
    except ModelFileError:
        raise
    except Exception as e:  # e.g. a classifier-format model the factory cannot build
        raise ModelFileError(f"{src.name} cannot be registered as a viewer model: {e}") from e
    meta = loaded.metadata
    training = dict(meta.get("training", {}), run=run_dir.name)
    dest_dir = fsutil.check_writable_dir(user_models_dir())
    # the operating points travel with the weights (a neoplastic head fit keeps its model's)
    path = save_model(dest_dir / name, loaded.model, loaded.config, threshold=loaded.threshold,
                      name=name, description=description or meta.get("description", ""),
                      training=training, frame_threshold=meta.get("frame_threshold"),
                      fast_size=meta.get("fast_size"), tracking=meta.get("tracking"))
    saved = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    fsutil.write_text(dest_dir / f"{name}.md", model_card(name, description, saved, run_dir))
    return path
