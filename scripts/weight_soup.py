"""Average the weights of several models of one architecture (a uniform "weight soup").

Fine-tuned models that start from the same weights can often be averaged into one model that
scores like an ensemble at the cost of one. The result keeps the first model's metadata and
neoplastic head (its head is fitted on features, so refit it if the soup is kept).

Usage: uv run python scripts/weight_soup.py OUT MODEL.safetensors|RUN/checkpoint.pt ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from polypviewer.engine.models.modelfile import load_model, save_model


def state_of(path: str) -> dict:
    """A model file's state dict, or the model of a training checkpoint."""
    if path.endswith(".pt"):
        return torch.load(path, map_location="cpu", weights_only=False)["model"]
    return load_model(path).model.state_dict()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="where to write OUT.safetensors and OUT.json")
    p.add_argument("models", nargs="+", help="model files or training checkpoints")
    a = p.parse_args(argv)
    base = load_model(a.models[0])
    states = [state_of(m) for m in a.models]
    soup = {}
    for key, value in base.model.state_dict().items():
        if key.startswith("neoplastic_head") or not value.is_floating_point():
            soup[key] = value  # the fitted head and integer buffers stay the first model's
        else:
            soup[key] = sum(s[key].float() for s in states) / len(states)
    base.model.load_state_dict(soup)
    meta = base.metadata
    path = save_model(Path(a.out), base.model, base.config, threshold=base.threshold,
                      name=base.name, description=f"uniform weight soup of {len(states)} models",
                      frame_threshold=meta.get("frame_threshold"), fast_size=meta.get("fast_size"),
                      tracking=meta.get("tracking"))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
