"""Fine-tuning start: a model of the run's config with every fitting tensor from a model file.

The architecture (encoder, decoder widths, heads, normalisation) comes from the file; the run
chooses the input size and may add or drop the neoplastic channel: new output rows start at
zero (P = 0.5, no opinion) and the polyp row always keeps its trained weights.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from polypviewer.engine.models.config import ModelConfig
from polypviewer.engine.models.factory import create_model
from polypviewer.engine.models.modelfile import load_model


def init_config(run: ModelConfig, init_from: str) -> ModelConfig:
    """The run's model config when fine-tuning ``init_from``."""
    base = load_model(init_from).config
    return replace(base, input_size=run.input_size, seg_channels=run.seg_channels)


def init_model(config: ModelConfig, init_from: str) -> tuple[nn.Module, dict]:
    """(model, counts of tensors copied / partly copied / new)."""
    src = load_model(init_from).model.state_dict()
    model = create_model(config, pretrained=False)
    state = model.state_dict()
    copied, partial, new = 0, 0, 0
    with torch.no_grad():
        for k, t in state.items():
            s = src.get(k)
            if s is not None and s.shape == t.shape:
                t.copy_(s)
                copied += 1
            elif s is not None and s.ndim == t.ndim and s.shape[1:] == t.shape[1:]:
                # more output channels: old rows kept, new rows start at zero;
                # fewer: the leading rows (the polyp channel) are kept
                n = min(s.shape[0], t.shape[0])
                t.zero_()
                t[:n].copy_(s[:n])
                partial += 1
            else:
                new += 1
    if copied == 0:
        raise ValueError(f"{init_from} shares no tensor with the run's model")
    model.load_state_dict(state)
    return model, {"copied": copied, "partial": partial, "new": new}
