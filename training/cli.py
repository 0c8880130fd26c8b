"""``polypviewer train`` / ``python -m training``: the command line over ``loop.run_training``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from dataclasses import replace
from pathlib import Path

from polypviewer.engine.config import ModelConfig
from polypviewer.engine.errors import PolypViewerError

from .augment import PRESETS
from .config import TrainConfig
from .events import CancelToken, Event
from .loop import run_training
from .losses import LOSSES


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    p.add_argument("datasets", nargs="*", help="dataset folders with images/ and masks/ (merged)")
    p.add_argument("--out", help="run folder (checkpoints, metrics, plots, final model)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its folder")
    p.add_argument("--config", help="a run's config.json (e.g. from 'Copy as command' or a run)")
    p.add_argument("--arch", default=d.model.arch, help="smp architecture (default %(default)s)")
    p.add_argument("--encoder", default=d.model.encoder, help="encoder (default %(default)s)")
    p.add_argument("--size", type=int, default=d.model.input_size, help="input size in pixels")
    p.add_argument("--decoder-channels", help="comma-separated decoder widths, e.g. 128,64,32,16,8")
    p.add_argument("--no-cls-head", action="store_true", help="no frame-classification head")
    p.add_argument("--clahe", action="store_true", help="CLAHE on every input (train and use)")
    p.add_argument("--no-pretrained", action="store_true", help="random encoder init")
    p.add_argument("--init-from", help="fine-tune this model file instead of ImageNet weights")
    p.add_argument("--train-split", help="split file of training stems (per dataset)")
    p.add_argument("--val-split", help="split file of validation stems (per dataset)")
    p.add_argument("--val-fraction", type=float, default=d.val_fraction,
                   help="share of training stems held out when no --val-split (default %(default)s)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--optimizer", default=d.optimizer, choices=["adam", "adamw"])
    p.add_argument("--scheduler", default=d.scheduler, choices=["onecycle", "cosine", "plateau", "none"])
    p.add_argument("--loss", default=d.loss, choices=LOSSES)
    p.add_argument("--pos-weight", type=float, help="BCE positive-class weight (seed 001)")
    p.add_argument("--cls-weight", type=float, default=d.cls_weight, help="frame-head loss weight")
    p.add_argument("--augment", default=d.augment, choices=PRESETS)
    p.add_argument("--augment-strength", type=float, default=d.augment_strength)
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument("--early-stopping", type=int, default=d.early_stopping, metavar="EPOCHS")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--workers", type=int, default=d.workers, help="data loader processes")
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (0 = default)")
    p.add_argument("--cache-dir", help="where decoded images are cached (default RUN_DIR/cache)")
    p.add_argument("--max-train-images", type=int, help="use only the first N training images")
    p.add_argument("--name", help="model name (default: run folder name)")
    p.add_argument("--description", default="")
    p.add_argument("--events", choices=["text", "jsonl"], default="text",
                   help="jsonl: one JSON event per line on stdout (for the GUI)")


def config_from_args(a: argparse.Namespace) -> TrainConfig:
    if a.config:
        cfg = TrainConfig.load(a.config)
        return replace(cfg, out=a.out or cfg.out)
    if not a.datasets or not a.out:
        raise PolypViewerError("train needs at least one DATASET and --out RUN_DIR (or --resume)")
    dec = tuple(int(v) for v in a.decoder_channels.split(",")) if a.decoder_channels else None
    model = ModelConfig(arch=a.arch, encoder=a.encoder, input_size=a.size,
                        classification_head=not a.no_cls_head, decoder_channels=dec, clahe=a.clahe)
    return TrainConfig(
        datasets=[str(Path(d)) for d in a.datasets], out=a.out, model=model,
        pretrained=not a.no_pretrained, init_from=a.init_from, train_split=a.train_split,
        val_split=a.val_split, val_fraction=a.val_fraction, epochs=a.epochs,
        batch_size=a.batch_size, lr=a.lr, weight_decay=a.weight_decay, optimizer=a.optimizer,
        scheduler=a.scheduler, loss=a.loss, pos_weight=a.pos_weight, cls_weight=a.cls_weight,
        augment=a.augment, augment_strength=a.augment_strength, amp=not a.no_amp,
        early_stopping=a.early_stopping, seed=a.seed, device=a.device, workers=a.workers,
        threads=a.threads, cache_dir=a.cache_dir, max_train_images=a.max_train_images,
        name=a.name, description=a.description)


class TextRenderer:
    """Human-readable progress: one line per epoch, a bar within the epoch."""

    def __init__(self) -> None:
        self.bar = None

    def __call__(self, ev: Event) -> None:
        from tqdm import tqdm

        d = ev.data
        if ev.kind == "epoch_progress":
            if self.bar is None:
                self.bar = tqdm(total=d["steps"], desc=f"epoch {d['epoch'] + 1}", leave=False,
                                file=sys.stderr)
            self.bar.n = d["step"]
            self.bar.set_postfix(loss=f"{d['loss']:.4f}", refresh=False)
            self.bar.refresh()
            return
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if ev.kind == "run_started":
            print(f"training on {d['device']}: {d['n_train']} train / {d['n_val']} val images, "
                  f"{d['n_params'] / 1e6:.2f} M parameters -> {d['out']}", flush=True)
        elif ev.kind == "epoch_metrics":
            print(f"epoch {d['epoch'] + 1}: loss {d['train_loss']:.4f} val_loss {d['val_loss']:.4f} "
                  f"val Dice {d['val_dice']:.4f} IoU {d['val_iou']:.4f} ({d['epoch_s']:.0f} s)"
                  + (" *" if d["improved"] else ""), flush=True)
        elif ev.kind in ("log", "cancelled"):
            print(d.get("message", ""), flush=True)
        elif ev.kind == "finished":
            print(f"done: {d['model']} (val Dice {d['val_dice_model_res']:.4f} at threshold "
                  f"{d['threshold']:.2f}, model resolution)", flush=True)
        elif ev.kind == "failed":
            print(f"failed: {d['error']}", file=sys.stderr, flush=True)


def jsonl_listener(ev: Event) -> None:
    sys.stdout.write(ev.to_json() + "\n")
    sys.stdout.flush()


def run_train(a: argparse.Namespace) -> int:
    resume = bool(a.resume)
    if resume:
        cfg_path = Path(a.resume) / "config.json"
        if not cfg_path.is_file():
            raise PolypViewerError(f"{a.resume} is not a run folder (no config.json)")
        cfg = TrainConfig.load(cfg_path)
    else:
        cfg = config_from_args(a)
    cancel = CancelToken()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.cancel())
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, lambda *_: cancel.cancel())
    listener = jsonl_listener if a.events == "jsonl" else TextRenderer()
    try:
        final = run_training(cfg, listener, cancel, resume=resume)
    finally:
        signal.signal(signal.SIGINT, previous)
    return 0 if final is not None or cancel.cancelled is False else 130


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training", description="Train a PolypViewer model.")
    add_train_arguments(p)
    a = p.parse_args(argv)
    try:
        return run_train(a)
    except PolypViewerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
