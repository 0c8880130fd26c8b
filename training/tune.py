"""Hyper-parameter search with Optuna (seed 000): learning rate, loss, encoder, augmentation.

Every trial is an ordinary run in ``STUDY/trial_NNN`` (so the best one is directly usable);
a MedianPruner stops trials whose per-epoch validation Dice falls below the median of earlier
trials at the same epoch, by cancelling the run through its CancelToken. The study lives in
``STUDY/study.db`` (SQLite), so running the same command again adds trials to it.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace
from pathlib import Path

import optuna

from polypviewer.engine import fsutil
from polypviewer.engine.models.pretrained import available_pretrained

from .config import TrainConfig
from .events import CancelToken, Event, Listener
from .loop import run_training
from .losses import LOSSES
from .validate import emit_report, validate_datasets

LR_RANGE = (1e-4, 3e-3)
STRENGTH_RANGE = (0.25, 1.5)
STUDY_NAME = "polypviewer"


def search_encoders(base: TrainConfig) -> list[str]:
    """Encoders with offline ImageNet weights (the only ones worth comparing pretrained)."""
    return available_pretrained() or [base.model.encoder]


def trial_config(base: TrainConfig, study_dir: Path, number: int, params: dict) -> TrainConfig:
    return replace(
        base, out=str(study_dir / f"trial_{number:03d}"), lr=params["lr"], loss=params["loss"],
        model=replace(base.model, encoder=params["encoder"]),
        augment_strength=params["augment_strength"], validate=False, cv_folds=0, cv_fold=None,
        cache_dir=base.cache_dir or str(study_dir / "cache"),
        name=f"{base.name or study_dir.name}-trial{number:03d}")


def _best_dice(out: Path) -> tuple[float, int]:
    hist = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    best = max(hist, key=lambda h: h["val_dice"])
    return float(best["val_dice"]), len(hist)


def write_results(study: optuna.Study, study_dir: Path, base: TrainConfig) -> None:
    """trials.csv (every trial) and best.json (best parameters and the full config to re-run)."""
    cols = ["number", "state", "val_dice", "lr", "loss", "encoder", "augment_strength",
            "epochs_run", "duration_s", "out"]
    with fsutil.atomic_path(study_dir / "trials.csv") as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, cols)
            w.writeheader()
            for t in study.trials:
                dur = t.duration.total_seconds() if t.duration else None
                w.writerow({"number": t.number, "state": t.state.name, "val_dice": t.value,
                            **{k: t.params.get(k) for k in ("lr", "loss", "encoder", "augment_strength")},
                            "epochs_run": t.user_attrs.get("epochs_run"),
                            "duration_s": None if dur is None else round(dur, 1),
                            "out": t.user_attrs.get("out")})
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = max(done, key=lambda t: t.value) if done else None
    payload = {"metric": "best validation Dice at threshold 0.5 over the trial's epochs",
               "n_trials": len(study.trials), "n_complete": len(done),
               "n_pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
               "best_trial": None, "best_value": None, "best_params": None, "config": None}
    if best is not None:
        cfg = trial_config(base, study_dir, best.number, best.params)
        payload.update(best_trial=best.number, best_value=best.value, best_params=best.params,
                       model=str(Path(cfg.out) / "model.safetensors"), config=cfg.to_dict())
    fsutil.write_json(study_dir / "best.json", payload)


def run_study(base: TrainConfig, study_dir: str | Path, n_trials: int, timeout: float | None = None,
              listener: Listener | None = None, cancel: CancelToken | None = None,
              pruner: optuna.pruners.BasePruner | None = None,
              encoders: list[str] | None = None) -> optuna.Study:
    """Run ``n_trials`` more trials (or until ``timeout`` seconds); results are kept on disk."""
    listener = listener or (lambda e: None)
    cancel = cancel or CancelToken()
    study_dir = fsutil.check_writable_dir(study_dir)
    if base.validate:  # once for the study, not per trial
        emit_report(validate_datasets(base.datasets, base.train_split, task="segment"),
                    lambda kind, **d: listener(Event(kind, d)))
    encoders = encoders or search_encoders(base)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=STUDY_NAME, storage=f"sqlite:///{(study_dir / 'study.db').resolve()}",
        load_if_exists=True, direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=base.seed),
        pruner=pruner or optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
    fsutil.write_json(study_dir / "study_config.json", {
        "base": base.to_dict(), "search": {"lr": LR_RANGE, "loss": list(LOSSES),
                                           "encoder": encoders, "augment_strength": STRENGTH_RANGE}})

    def objective(trial: optuna.Trial) -> float:
        params = {"lr": trial.suggest_float("lr", *LR_RANGE, log=True),
                  "loss": trial.suggest_categorical("loss", list(LOSSES)),
                  "encoder": trial.suggest_categorical("encoder", encoders),
                  "augment_strength": trial.suggest_float("augment_strength", *STRENGTH_RANGE)}
        cfg = trial_config(base, study_dir, trial.number, params)
        trial.set_user_attr("out", Path(cfg.out).name)
        token, pruned = CancelToken(), []
        listener(Event("log", {"message": f"trial {trial.number}: {params}", "trial": trial.number}))

        def on_event(ev: Event) -> None:
            ev.data.setdefault("trial", trial.number)
            listener(ev)
            if cancel.cancelled:
                token.cancel()
            if ev.kind == "epoch_metrics":
                trial.report(ev.data["val_dice"], ev.data["epoch"])
                if trial.should_prune():
                    pruned.append(ev.data["epoch"])
                    token.cancel()

        final = run_training(cfg, on_event, token)
        value, epochs = _best_dice(Path(cfg.out)) if (Path(cfg.out) / "metrics.json").is_file() \
            else (math.nan, 0)
        trial.set_user_attr("epochs_run", epochs)
        if final is None:
            if cancel.cancelled:
                trial.study.stop()
                raise optuna.TrialPruned("study cancelled")
            listener(Event("log", {"message": f"trial {trial.number} pruned after epoch "
                                   f"{pruned[0] + 1} (val Dice {value:.4f})"}))
            raise optuna.TrialPruned(f"pruned at epoch {pruned[0]}")
        return value

    def after(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        write_results(study, study_dir, base)

    study.optimize(objective, n_trials=n_trials, timeout=timeout, callbacks=[after],
                   catch=(RuntimeError,))  # e.g. out of memory for one setting: next trial
    write_results(study, study_dir, base)
    return study
