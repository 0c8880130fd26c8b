"""k-fold cross-validation: K ordinary runs in ``OUT/fold_i`` and one ``cv_summary.json``.

Each fold is a full run (own config.json with ``cv_fold``, split.json, checkpoint, model), so a
fold can be inspected, resumed or used like any other run; the spread across folds says how
much a single validation split's score can be trusted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from polypviewer.engine import fsutil

from .config import TrainConfig
from .events import CancelToken, Event, Listener
from .validate import emit_report, validate_datasets

CV_SUMMARY = "cv_summary.json"
TrainOne = Callable[..., "Path | None"]  # (cfg, listener, cancel, resume=...) -> model path
METRICS = ("val_dice_model_res", "val_iou_model_res", "best_val_dice_at_0.5", "best_val_iou_at_0.5")


def fold_config(cfg: TrainConfig, i: int) -> TrainConfig:
    out = Path(cfg.out) / f"fold_{i}"
    cache = cfg.cache_dir or str(Path(cfg.out) / "cache")  # one image cache for all folds
    return replace(cfg, cv_fold=i, out=str(out), cache_dir=cache, validate=False,
                   name=f"{cfg.name or Path(cfg.out).name}-fold{i}")


def _fold_result(out: Path) -> dict:
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    history = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    best = max(history, key=lambda h: h["val_dice"])
    return {"fold": int(out.name.split("_")[-1]), "out": out.name,
            "n_train": summary["n_train"], "n_val": summary["n_val"],
            "threshold": summary["threshold"], "best_epoch": summary["best_epoch"],
            "val_dice_model_res": summary["val_dice_model_res"],
            "val_iou_model_res": summary["val_iou_model_res"],
            "best_val_dice_at_0.5": best["val_dice"], "best_val_iou_at_0.5": best["val_iou"]}


def summarise(results: list[dict]) -> dict:
    """Mean and sample std (ddof=1 when K > 1) of each fold metric."""
    agg = {}
    for m in METRICS:
        v = np.array([r[m] for r in results], float)
        agg[m] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}
    return agg


def run_cv(cfg: TrainConfig, listener: Listener | None = None, cancel: CancelToken | None = None,
           resume: bool = False, *, train: TrainOne) -> Path | None:
    """Run (or resume) every fold in turn with ``train`` (``loop.run_training``, which calls
    this for a CV config: passed in, so the two modules never import each other); None when
    cancelled."""
    listener = listener or (lambda e: None)
    cancel = cancel or CancelToken()
    k = cfg.cv_folds
    if k < 2:
        raise ValueError("cross-validation needs --cv K with K >= 2")
    root = fsutil.check_writable_dir(cfg.out)
    fsutil.write_json(root / "config.json", cfg.to_dict())  # `--resume OUT` resumes the CV
    if cfg.validate:
        emit_report(validate_datasets(cfg.datasets, cfg.train_split, task="segment"),
                    lambda kind, **d: listener(Event(kind, d)))
    results = []
    for i in range(k):
        fcfg = fold_config(cfg, i)
        out = Path(fcfg.out)
        if resume and (out / "summary.json").is_file() and (out / "model.safetensors").is_file():
            listener(Event("log", {"message": f"fold {i + 1}/{k} already finished"}))
        else:
            listener(Event("log", {"message": f"fold {i + 1}/{k} -> {out}"}))
            fold_resume = resume and (out / "checkpoint.pt").is_file()
            if train(fcfg, listener, cancel, resume=fold_resume) is None:
                return None  # cancelled: finished folds and the fold's checkpoint are kept
        results.append(_fold_result(out))
    summary = {"k": k, "seed": cfg.seed, "folds": results, **summarise(results)}
    path = root / CV_SUMMARY
    fsutil.write_json(path, summary)
    d, u = summary["val_dice_model_res"], summary["val_iou_model_res"]
    listener(Event("cv_summary", {
        "path": str(path), "k": k, "dice_mean": d["mean"], "dice_std": d["std"],
        "iou_mean": u["mean"], "iou_std": u["std"],
        "message": f"{k}-fold CV: val Dice {d['mean']:.4f} ± {d['std']:.4f}, "
                   f"IoU {u['mean']:.4f} ± {u['std']:.4f} (swept threshold, model resolution)"}))
    return path
