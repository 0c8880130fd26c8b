"""The segmentation training loop: one implementation for the CLI, the wizard and torchrun.

``run_training`` drives everything as events (see ``events.py``); it is resumable because a
checkpoint (model, optimiser, scheduler, history) is written after every epoch (``checkpoint.py``
keeps the one before it too) and each epoch re-seeds from ``seed + epoch``, so a resumed run
continues as the original would. What it trains on comes from ``run_sources``, the holdout's
probabilities from ``predict``.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from polypviewer.engine import fsutil
from polypviewer.engine.errors import DatasetError, PolypViewerError
from polypviewer.engine.metrics import frame_auc, group_mean
from polypviewer.engine.models.device import resolve_device
from polypviewer.engine.models.factory import count_parameters, create_model
from polypviewer.engine.models.modelfile import load_model, save_model
from polypviewer.engine.models.operating_point import choose_frame_threshold

from . import checkpoint, report
from .augment import AugmentBySize
from .checkpoint import CHECKPOINT
from .config import TrainConfig
from .data import LABEL_NEOPLASTIC, ArraySet, MultiSourceSet, load_labelled, resize_labels
from .events import Cancelled, CancelToken, Event, Listener
from .losses import build_loss, cadx_loss
from .optim import make_optimizer, make_scheduler
from .predict import dice_iou, forward, predict_probs
from .run_sources import split_stems, training_sources
from .sampling import SourceBatchSampler
from .sources import write_holdouts
from .validate import emit_report, validate_datasets, validate_pairs
from .warmstart import init_config, init_model


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    def __init__(self, cfg: TrainConfig, listener: Listener | None = None,
                 cancel: CancelToken | None = None) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.listener = listener or (lambda e: None)
        self.cancel = cancel or CancelToken()
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1

    def emit(self, kind: str, **data) -> None:
        if self.rank == 0:
            self.listener(Event(kind, data))

    # ---- setup -------------------------------------------------------------------------
    def _setup(self) -> None:
        cfg = self.cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if self.distributed and torch.cuda.is_available() and cfg.device in ("auto", "cuda"):
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(self.device)
            self.device_note = f"GPU {torch.cuda.get_device_name(self.device)} x{self.world}"
        else:
            self.device, self.device_note = resolve_device(cfg.device)
        self.amp = cfg.amp and self.device.type == "cuda"
        seed_everything(cfg.seed)
        if cfg.validate and not cfg.sources:  # every rank checks, so all stop alike
            emit_report(validate_datasets(cfg.datasets, split_stems(cfg), task="segment"),
                        self.emit)
        self.sources = training_sources(cfg)
        if cfg.validate and cfg.sources:
            emit_report(validate_pairs([(s.root, s.train + s.holdout) for s in self.sources]),
                        self.emit)
        self.train_pairs = [p for s in self.sources for p in s.train]
        self.val_pairs = [p for s in self.sources for p in s.holdout]
        if cfg.init_from:
            cfg.model = init_config(cfg.model, cfg.init_from)
        self._load_arrays()
        if cfg.init_from:
            model, counts = init_model(cfg.model, cfg.init_from)
            self.emit("log", message=f"initialised from {Path(cfg.init_from).name}: "
                      f"{counts['copied']} tensors copied, {counts['partial']} widened, "
                      f"{counts['new']} new")
        else:
            model = create_model(cfg.model, pretrained=cfg.pretrained)
        self.n_params = count_parameters(model)
        model = model.to(self.device, memory_format=torch.channels_last)
        self.model = model
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # an untrained frame head (cls_weight 0) has no gradients, which DDP must be told
            unused = cfg.model.classification_head and cfg.cls_weight <= 0
            self.net = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=ids, find_unused_parameters=unused)
        else:
            self.net = model
        train_set = MultiSourceSet(self.train_arrays, cfg.model,
                                   AugmentBySize(cfg.augment, cfg.augment_strength),
                                   framed=[cfg.framed_negatives if s.negative else 0.0
                                           for s in self.sources])
        val_set = ArraySet(self.val_x, self.val_labels, cfg.model)
        n_train = len(train_set)
        self.sampler = SourceBatchSampler(
            [len(s.train) for s in self.sources], [s.weight for s in self.sources],
            cfg.batch_size, cfg.epoch_samples, self.train_sizes, cfg.seed,
            rank=self.rank, world=self.world,
            drop_last=(cfg.epoch_samples or n_train) // self.world > cfg.batch_size)
        pin = self.device.type == "cuda"
        # workers are started per epoch (not persistent) so that each epoch's seeds apply
        self.train_loader = DataLoader(train_set, batch_sampler=self.sampler,
                                       num_workers=cfg.workers, pin_memory=pin)
        self.val_loader = DataLoader(val_set, batch_size=cfg.batch_size * 2, num_workers=0,
                                     pin_memory=pin)
        self.opt = make_optimizer(cfg, model)
        self.sched = make_scheduler(cfg, self.opt, len(self.train_loader))
        self.loss_fn = build_loss(cfg.loss, cfg.pos_weight).to(self.device)
        self.cls_loss = torch.nn.BCEWithLogitsLoss()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.history: list[dict] = []
        self.start_epoch = 0
        self.best = -1.0
        self.best_epoch = -1

    def _load_arrays(self) -> None:
        """Decoded caches per source; the holdout at the model size, with its source index."""
        cfg = self.cfg
        size = cfg.model.input_size
        self.train_sizes = sorted(set(cfg.scales)) if cfg.scales else [size]
        max_side = max(self.train_sizes + [size])
        cache = Path(cfg.cache_dir) if cfg.cache_dir else self.out / "cache"
        t0 = time.perf_counter()
        self.train_arrays, vx, vl, groups = [], [], [], []
        for i, s in enumerate(self.sources):
            self.train_arrays.append(load_labelled(s.train, s.classes, max_side,
                                                   cfg.model.clahe, cache))
            if s.holdout:
                x, lab = load_labelled(s.holdout, s.classes, max_side, cfg.model.clahe, cache)
                vx += [cv2.resize(a, (size, size), interpolation=cv2.INTER_AREA
                                  if a.shape[0] > size else cv2.INTER_LINEAR)
                       if a.shape[0] != size else a for a in x]
                vl += [resize_labels(b, size) for b in lab]
                groups += [i] * len(x)
        if not vx:
            raise DatasetError("no holdout images: give a holdout fraction above 0")
        self.val_x, self.val_labels = np.stack(vx), np.stack(vl)
        self.val_y = (self.val_labels > 0).astype(np.uint8)
        self.val_groups = np.asarray(groups)
        self.cache_s = time.perf_counter() - t0

    # ---- checkpoints -------------------------------------------------------------------
    def _save_checkpoint(self, epoch: int) -> None:
        state = {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "sched": self.sched.state_dict() if self.sched is not None else {},
            "scaler": self.scaler.state_dict(),
            "best": self.best,
            "best_epoch": self.best_epoch,
            "history": self.history,
        }
        checkpoint.write_checkpoint(self.out, state, keep_previous=self._checkpoint_ok)
        self._checkpoint_ok = True
        fsutil.write_json(self.out / "metrics.json", self.history)

    def _read_checkpoint(self) -> dict | None:
        """Before any data or model work, so a damaged run folder stops at once."""
        found = checkpoint.read_checkpoint(self.out, lambda m: self.emit("log", message=m))
        if found is None:
            return None
        state, path = found
        self._checkpoint_ok = path.name == CHECKPOINT  # else never rotate the damaged one
        self._checkpoint_path = path
        return state

    def _load_checkpoint(self, state: dict) -> None:
        try:
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["opt"])
            if self.sched is not None and state["sched"]:
                self.sched.load_state_dict(state["sched"])
            if state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise PolypViewerError(f"{self._checkpoint_path} does not fit this run's model and "
                                   f"settings ({checkpoint._reason(e)})") from e
        self.start_epoch = int(state["epoch"]) + 1
        self.best, self.best_epoch = float(state["best"]), int(state["best_epoch"])
        history = state.get("history")
        if not isinstance(history, list):  # checkpoints written before the history was in them
            history = self._read_history()
        self.history = [h for h in history if isinstance(h, dict)
                        and isinstance(h.get("epoch"), int) and h["epoch"] < self.start_epoch]

    def _read_history(self) -> list:
        hist = self.out / "metrics.json"
        try:
            data = json.loads(hist.read_text(encoding="utf-8")) if hist.is_file() else []
        except (OSError, ValueError) as e:
            self.emit("log", message=f"{hist} is unreadable ({e}); earlier epochs are not plotted")
            return []
        return data if isinstance(data, list) else []

    # ---- epochs ------------------------------------------------------------------------
    def _cancelled(self) -> bool:
        """Under DDP every rank stops at the same batch, or the others would wait forever."""
        if not self.distributed:
            return self.cancel.cancelled
        flag = torch.tensor([int(self.cancel.cancelled)], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def _stop_on_rank0(self) -> bool:
        """Whether rank 0 may stop inside its holdout pass: only without DDP, where no other
        rank waits for it at the next collective."""
        return not self.distributed and self.cancel.cancelled

    def _train_epoch(self, epoch: int) -> float:
        cfg = self.cfg
        self.net.train()
        self.sampler.set_epoch(epoch)
        seed_everything(cfg.seed + epoch)
        total, n, t0 = 0.0, 0, time.perf_counter()
        steps = len(self.train_loader)
        for i, (x, m, lab, classes) in enumerate(self.train_loader):
            if self._cancelled():
                raise Cancelled()
            x = x.to(self.device, non_blocking=True, memory_format=torch.channels_last)
            m = m.to(self.device, non_blocking=True)
            lab = lab.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, enabled=self.amp):
                logits, cls = forward(self.net, x)
                loss = self.loss_fn(logits[:, :1].float(), m)
                if cls is not None and cfg.cls_weight > 0:
                    loss = loss + cfg.cls_weight * self.cls_loss(cls.float(), lab)
                if logits.shape[1] > 1 and cfg.cadx_weight > 0:
                    loss = loss + cfg.cadx_weight * cadx_loss(
                        logits[:, 1:2].float(), classes.to(self.device, non_blocking=True))
            self.opt.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
            if self.sched is not None and cfg.scheduler in ("onecycle", "cosine"):
                self.sched.step()
            total += loss.item() * len(x)
            n += len(x)
            elapsed = time.perf_counter() - t0
            self.emit("epoch_progress", epoch=epoch, step=i + 1, steps=steps, loss=total / n,
                      elapsed_s=elapsed, eta_s=elapsed / (i + 1) * (steps - i - 1))
        return total / max(n, 1)

    def _group_mean(self, per_image: np.ndarray) -> float:
        """Mean over sources of each source's mean, so a large source does not dominate."""
        return group_mean(per_image, self.val_groups)

    def _validate(self) -> dict:
        probs, frame, cadx = predict_probs(self.model, self.val_loader, self.device, self.amp,
                                           self._stop_on_rank0)
        dice, iou = dice_iou(probs, self.val_y, 0.5)
        with torch.no_grad():
            t = torch.from_numpy(probs).clamp(1e-6, 1 - 1e-6)
            logits = torch.log(t / (1 - t)).unsqueeze(1)
            vloss = float(self.loss_fn.cpu()(logits, torch.from_numpy(self.val_y).float().unsqueeze(1)))
            self.loss_fn.to(self.device)
        self._val_probs = probs
        # negatives score 1 when nothing is predicted (dice_iou's empty/empty rule)
        out = {"val_loss": vloss, "val_dice": self._group_mean(dice),
               "val_iou": self._group_mean(iou), "val_frame_prob_mean": float(frame.mean())}
        if len(self.sources) > 1:
            for g, s in enumerate(self.sources):
                if (self.val_groups == g).any():
                    out[f"val_dice_{s.name}"] = float(dice[self.val_groups == g].mean())
        positive = self.val_y.reshape(len(self.val_y), -1).mean(1) > 0
        if positive.any() and not positive.all():
            out["val_frame_auc"] = float(frame_auc(positive.astype(int), frame))
        if cadx is not None:
            known = self.val_labels >= LABEL_NEOPLASTIC
            if known.any():
                hit = (cadx[known] >= 0.5) == (self.val_labels[known] == LABEL_NEOPLASTIC)
                out["val_cadx_pixel_acc"] = float(hit.mean())
        return out

    def run(self, resume: bool = False) -> Path | None:
        cfg = self.cfg
        self._checkpoint_ok = True
        state = self._read_checkpoint() if resume else None
        self._setup()
        if state is not None:
            self._load_checkpoint(state)
        if self.rank == 0:
            fsutil.check_writable_dir(self.out)
            fsutil.write_json(self.out / "config.json", cfg.to_dict())
            fsutil.write_json(self.out / "split.json", {
                "train": [str(p.image) for p in self.train_pairs],
                "val": [str(p.image) for p in self.val_pairs]})
            if cfg.sources:
                write_holdouts(self.out, self.sources)
        self.emit("run_started", out=str(self.out), device=self.device_note,
                  n_train=len(self.train_pairs), n_val=len(self.val_pairs),
                  n_params=self.n_params, epochs=cfg.epochs, start_epoch=self.start_epoch,
                  cache_s=round(self.cache_s, 2))
        # resumed runs continue the early-stopping count where the interrupted run left it
        patience = max(0, self.start_epoch - 1 - self.best_epoch) if self.best_epoch >= 0 else 0
        for epoch in range(self.start_epoch, cfg.epochs):
            t0 = time.perf_counter()
            train_loss = self._train_epoch(epoch)
            train_s = time.perf_counter() - t0
            if self.rank == 0:
                metrics = self._validate()
                if isinstance(self.sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    self.sched.step(metrics["val_dice"])
                row = {"epoch": epoch, "train_loss": train_loss, **metrics,
                       "lr": self.opt.param_groups[0]["lr"], "train_s": round(train_s, 1),
                       "epoch_s": round(time.perf_counter() - t0, 1)}
                self.history.append(row)
                improved = metrics["val_dice"] > self.best
                if improved:
                    self.best, self.best_epoch = metrics["val_dice"], epoch
                    save_model(self.out / "best", self.model, cfg.model, name="best")
                    patience = 0
                else:
                    patience += 1
                self._save_checkpoint(epoch)
                report.write_curves(self.out, self.history)
                self.emit("epoch_metrics", **row, best_dice=self.best, improved=improved)
                grid = report.write_sample_grid(self.out, self.val_x, self.val_y,
                                                self._val_probs, 0.5)
                self.emit("samples", path=str(grid), epoch=epoch)
            stop = cfg.early_stopping and patience >= cfg.early_stopping
            if self.distributed:
                flag = torch.tensor([int(bool(stop))], device=self.device)  # nccl: on the GPU
                dist.broadcast(flag, 0)
                stop = bool(flag.item())
            if stop:
                self.emit("log", message=f"early stopping after {patience} epochs without gain")
                break
        if self.rank != 0:
            return None
        return self._finish()

    def _finish(self) -> Path:
        cfg = self.cfg
        best = load_model(self.out / "best", device=self.device)
        probs, frame, _ = predict_probs(best.model.to(memory_format=torch.channels_last),
                                        self.val_loader, self.device, self.amp,
                                        self._stop_on_rank0)
        sweep = report.threshold_sweep(probs, self.val_y, groups=self.val_groups)
        thr = sweep["best_threshold"]
        report.write_sweep(self.out, sweep)
        report.write_sample_grid(self.out, self.val_x, self.val_y, probs, thr)
        dice, iou = dice_iou(probs, self.val_y, thr)
        summary = {
            "datasets": [Path(d).name for d in cfg.datasets] or [s.name for s in self.sources],
            "train_split": Path(cfg.train_split).name if cfg.train_split else None,
            "val_split": Path(cfg.val_split).name if cfg.val_split else f"random {cfg.val_fraction:.0%}",
            "n_train": len(self.train_pairs), "n_val": len(self.val_pairs),
            "epochs_run": len(self.history), "best_epoch": self.best_epoch,
            "val_dice_model_res": self._group_mean(dice), "val_iou_model_res": self._group_mean(iou),
            "threshold": thr, "loss": cfg.loss, "augment": cfg.augment, "lr": cfg.lr,
            "device": self.device_note,
            "train_time_s": round(sum(h["epoch_s"] for h in self.history), 1),
        }
        if cfg.sources:
            summary["sources"] = [{"name": s.name, "weight": s.weight, "n_train": len(s.train),
                                   "n_holdout": len(s.holdout), "negative": s.negative,
                                   "classes": bool(s.classes)} for s in self.sources]
            summary["val_split"] = "holdouts carved from each source's training split"
            summary["scales"] = self.train_sizes
        frame_thr = None
        positive = self.val_y.reshape(len(self.val_y), -1).any(1)
        if cfg.model.classification_head and positive.any() and not positive.all():
            # the verdict's operating point from holdout negatives (operating_point.py's rule)
            op = choose_frame_threshold(frame[~positive], frame[positive])
            op["auc"] = float(frame_auc(positive.astype(int), frame))
            summary["frame_operating_point"] = op
            frame_thr = op["frame_threshold"]
        final = save_model(self.out / "model", best.model.to("cpu"), cfg.model, threshold=thr,
                           name=cfg.name or self.out.name, description=cfg.description,
                           training=summary, frame_threshold=frame_thr)
        fsutil.write_json(self.out / "summary.json", summary)
        self.emit("finished", model=str(final), **summary)
        return final


def run_training(cfg: TrainConfig, listener: Listener | None = None,
                 cancel: CancelToken | None = None, resume: bool = False) -> Path | None:
    """Train; emits ``cancelled``/``failed`` instead of raising for expected endings.

    A config with ``cv_folds`` > 1 (and no ``cv_fold``) runs k-fold cross-validation and
    returns the ``cv_summary.json`` path.
    """
    if cfg.cv_folds and cfg.cv_fold is None:
        from .cv import run_cv

        return run_cv(cfg, listener, cancel, resume=resume, train=run_training)
    trainer = Trainer(cfg, listener, cancel)
    try:
        return trainer.run(resume=resume)
    except Cancelled:
        trainer.emit("cancelled", out=str(cfg.out),
                     message="cancelled; the last finished epoch is kept for resume")
        return None
    except Exception as e:
        # expected: a problem the user can fix, which the caller shows as its one line
        expected = isinstance(e, PolypViewerError)
        trainer.emit("failed", error=str(e) if expected else f"{type(e).__name__}: {e}",
                     expected=expected)
        raise


