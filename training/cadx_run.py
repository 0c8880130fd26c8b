"""``train --task cadx`` as a run: the neoplastic head's fit in the event stream of training
runs (``events``), so the CLI renders it as text and the wizard monitors it as a child.

The stream: ``run_started`` (``task`` "cadx", ``epochs`` = pooling passes), ``log`` lines,
one ``epoch_progress`` per batch of each pass, then ``finished`` (the model and the chosen
L2's holdout figures per size), ``failed`` or ``cancelled`` (no model written).
"""

from __future__ import annotations

from pathlib import Path

from polypviewer.engine.errors import PolypViewerError

from .cadx import fit_neoplastic_head
from .config import TrainConfig
from .events import Cancelled, CancelToken, Event, Listener
from .run_sources import training_sources

CANCELLED = "cancelled; the neoplastic head fit wrote no model"


def finished_data(report: dict, model: Path) -> dict:
    """What ``finished`` carries: the model and the chosen L2's holdout figures."""
    best = next(g for g in report["grid"] if g["l2"] == report["l2"])
    return {"task": "cadx", "model": str(model), "l2": report["l2"], "sizes": report["sizes"],
            "views": report["views"], "holdout": best["holdout"],
            "holdout_auc": best["holdout_auc"], "holdout_auc_truth": best["holdout_auc_truth"]}


def run_cadx_fit(cfg: TrainConfig, listener: Listener,
                 cancel: CancelToken | None = None) -> Path | None:
    """Fit the head of ``cfg.init_from``; the model's path, or None when cancelled. Expected
    problems (a dataset, a model file) emit ``failed`` with their one line and re-raise."""
    def log(message: str) -> None:
        listener(Event("log", {"message": message}))

    try:
        sources = training_sources(cfg)
        plain = [s.name for s in sources if not s.classes]
        if plain and len(plain) < len(sources):
            log(f"no classes/ folder, not fitted on (holdouts written): {', '.join(plain)}")
        report = fit_neoplastic_head(
            cfg.init_from, sources, cfg.out, size=cfg.model.input_size, sizes=cfg.scales,
            cache_dir=cfg.cache_dir, name=cfg.name, description=cfg.description,
            views=cfg.cadx_views, emit=log, listener=listener, cancel=cancel)
    except Cancelled:
        listener(Event("cancelled", {"out": str(cfg.out), "message": CANCELLED}))
        return None
    except Exception as e:
        expected = isinstance(e, PolypViewerError)
        listener(Event("failed", {"error": str(e) if expected else f"{type(e).__name__}: {e}",
                                  "expected": expected}))
        raise
    model = Path(cfg.out) / "model.safetensors"
    listener(Event("finished", finished_data(report, model)))
    return model
