"""``polypviewer train`` / ``python -m training``: the command line over ``loop.run_training``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

import torch
import torch.distributed as dist

from polypviewer.engine.errors import PolypViewerError
from polypviewer.engine.models.config import ModelConfig

from .augment import PRESETS
from .checkpoint import load_run_config
from .config import TrainConfig
from .events import CancelToken, Event
from .loop import run_training
from .losses import LOSSES


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("datasets", nargs="*", help="dataset folders with images/ and masks/ (merged); "
                   "with --task classify: folders holding one sub-folder per class")
    p.add_argument("--out", help="run folder (checkpoints, metrics, plots, final model)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its folder")
    p.add_argument("--config", help="a run's config.json (e.g. from 'Copy as command' or a run)")
    p.add_argument("--task", choices=["segment", "classify", "cadx"], default="segment",
                   help="segment (default), frame classification only (seed 000), or cadx: fit "
                   "the neoplastic head of the --init-from model on sources with classes/")
    p.add_argument("--cv", type=int, default=0, metavar="K",
                   help="k-fold cross-validation: K runs in RUN_DIR/fold_i and cv_summary.json")
    _add_run_options(p)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """Options shared by train and tune (model, data, optimisation, machine)."""
    d = TrainConfig()
    p.add_argument("--arch", default=d.model.arch, help="smp architecture (default %(default)s)")
    p.add_argument("--encoder", default=d.model.encoder,
                   help="encoder (default %(default)s); --task classify also takes small_cnn")
    p.add_argument("--size", type=int, default=d.model.input_size, help="input size in pixels")
    p.add_argument("--decoder-channels", help="comma-separated decoder widths, e.g. 128,64,32,16,8")
    p.add_argument("--no-cls-head", action="store_true", help="no frame-classification head")
    p.add_argument("--clahe", action="store_true", help="CLAHE on every input (train and use)")
    p.add_argument("--no-pretrained", action="store_true", help="random encoder init")
    p.add_argument("--init-from", help="fine-tune this model file instead of ImageNet weights")
    p.add_argument("--source", action="append", default=[], metavar="PATH[:OPT=V...]",
                   help="a training source (repeatable) instead of DATASET...: "
                   "PATH[:train=SPLIT][:weight=W][:holdout=F][:name=N]; SPLIT is relative to "
                   "PATH, W its share of draws (default: its image count), F the holdout "
                   "carved from it (default --val-fraction); a folder without masks/ is negatives")
    p.add_argument("--data-root", help="relative source paths (also in --config) are read here")
    p.add_argument("--scales", help="multi-scale training: comma-separated batch sizes, "
                   "e.g. 256,320,384,448 (default: --size only); --task cadx pools the "
                   "polyps at each")
    p.add_argument("--epoch-samples", type=int,
                   help="images drawn per epoch under the source weights (default: all)")
    p.add_argument("--cadx", action="store_true",
                   help="add the neoplastic-probability channel (trained on classes/ maps)")
    p.add_argument("--cadx-weight", type=float, default=d.cadx_weight,
                   help="loss weight of the neoplastic channel (default %(default)s)")
    p.add_argument("--cadx-views", choices=["off", "flips"], default=d.cadx_views,
                   help="--task cadx: pool each training polyp as it is (off) or in each of "
                        "the four flips that stills are analysed with (default %(default)s)")
    p.add_argument("--framed-negatives", type=_share, default=d.framed_negatives, metavar="P",
                   help="share of negative draws shown as whole frames: black surround, text, "
                        "position box (default %(default)s)")
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
    p.add_argument("--no-check", action="store_true",
                   help="skip the dataset check (validate.py) before training")
    p.add_argument("--events", choices=["text", "jsonl"], default="text",
                   help="jsonl: one JSON event per line on stdout (for the GUI)")


def _share(text: str) -> float:
    v = float(text)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1")
    return v


def _int_list(text: str | None, what: str) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(v) for v in text.split(",")]
    except ValueError as e:
        raise PolypViewerError(f"{what} takes comma-separated integers, not '{text}'") from e


def _sources(a: argparse.Namespace) -> list[dict]:
    from .sources import parse_source

    try:
        return [parse_source(s) for s in getattr(a, "source", None) or []]
    except ValueError as e:
        raise PolypViewerError(str(e)) from e


def _data_root(a: argparse.Namespace) -> str | None:
    root = getattr(a, "data_root", None)
    return str(Path(root).resolve()) if root else None


# with --config: where and how a run goes may be given; what it trains comes from the file
WITH_CONFIG = {"data_root", "threads", "init_from", "cache_dir", "events"}


def _ignored_with_config(a: argparse.Namespace) -> list[str]:
    """The training options given beside --config, which the file's values would override."""
    p = argparse.ArgumentParser(add_help=False)
    _add_run_options(p)  # each option's dest is its flag's name
    return ["--" + k.replace("_", "-") for k, v in vars(p.parse_args([])).items()
            if k not in WITH_CONFIG and getattr(a, k, v) != v]


def config_from_args(a: argparse.Namespace) -> TrainConfig:
    if getattr(a, "config", None):
        ignored = _ignored_with_config(a) + (["DATASET"] if getattr(a, "datasets", None) else [])
        if ignored:
            raise PolypViewerError(
                f"{', '.join(ignored)} cannot change a run given by --config {a.config}: what "
                "it trains comes from that file (edit a copy of it), and only --out, --data-root, "
                "--init-from, --cache-dir, --threads and --cv may be given beside it")
        try:
            cfg = TrainConfig.load(a.config)
        except (OSError, ValueError, TypeError) as e:
            raise PolypViewerError(f"cannot use training config {a.config}: {e}") from e
        # where and how it runs may change; what it trains comes from the file
        # a staged run names its start (the previous stage's model) on the command line
        return replace(cfg, out=a.out or cfg.out, cv_folds=getattr(a, "cv", 0) or cfg.cv_folds,
                       data_root=_data_root(a) or cfg.data_root,
                       threads=getattr(a, "threads", 0) or cfg.threads,
                       init_from=getattr(a, "init_from", None) or cfg.init_from,
                       cache_dir=getattr(a, "cache_dir", None) or cfg.cache_dir)
    sources = _sources(a)
    if (not a.datasets and not sources) or not a.out:
        raise PolypViewerError("train needs at least one DATASET (or --source) and --out RUN_DIR "
                               "(or --resume)")
    if a.datasets and sources:
        raise PolypViewerError("give either DATASET... or --source, not both")
    dec = tuple(_int_list(a.decoder_channels, "--decoder-channels") or ()) or None
    model = ModelConfig(arch=a.arch, encoder=a.encoder, input_size=a.size,
                        classification_head=not a.no_cls_head, decoder_channels=dec, clahe=a.clahe,
                        seg_channels=2 if getattr(a, "cadx", False) else 1)
    return TrainConfig(
        datasets=[str(Path(d)) for d in a.datasets], out=a.out, model=model,
        pretrained=not a.no_pretrained, init_from=a.init_from, train_split=a.train_split,
        val_split=a.val_split, val_fraction=a.val_fraction, epochs=a.epochs,
        batch_size=a.batch_size, lr=a.lr, weight_decay=a.weight_decay, optimizer=a.optimizer,
        scheduler=a.scheduler, loss=a.loss, pos_weight=a.pos_weight, cls_weight=a.cls_weight,
        augment=a.augment, augment_strength=a.augment_strength, amp=not a.no_amp,
        early_stopping=a.early_stopping, seed=a.seed, device=a.device, workers=a.workers,
        threads=a.threads, cache_dir=a.cache_dir, max_train_images=a.max_train_images,
        name=a.name, description=a.description, cv_folds=getattr(a, "cv", 0) or 0,
        validate=not a.no_check, sources=sources, data_root=_data_root(a),
        scales=_int_list(getattr(a, "scales", None), "--scales"),
        epoch_samples=getattr(a, "epoch_samples", None),
        cadx_weight=getattr(a, "cadx_weight", TrainConfig().cadx_weight),
        framed_negatives=getattr(a, "framed_negatives", TrainConfig().framed_negatives),
        cadx_views=getattr(a, "cadx_views", TrainConfig().cadx_views))


def classify_config_from_args(a: argparse.Namespace):
    from .classify import ClassifyConfig

    if not a.datasets or not a.out:
        raise PolypViewerError("train --task classify needs at least one DATASET and --out RUN_DIR")
    return ClassifyConfig(
        datasets=[str(Path(d)) for d in a.datasets], out=a.out, model=a.encoder, input_size=a.size,
        pretrained=not a.no_pretrained, clahe=a.clahe, val_fraction=a.val_fraction,
        epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, weight_decay=a.weight_decay,
        augment=a.augment, augment_strength=a.augment_strength, amp=not a.no_amp, seed=a.seed,
        device=a.device, workers=a.workers, threads=a.threads, cache_dir=a.cache_dir,
        name=a.name, description=a.description, validate=not a.no_check)


def _fmt_metrics(d: dict) -> str:
    if d.get("task") == "classify":
        return (f"loss {d['train_loss']:.4f} val_loss {d['val_loss']:.4f} accuracy "
                f"{d['val_accuracy']:.4f} AUC {d['val_auc']:.4f}")
    extra = "".join(f" {k[4:]} {v:.4f}" for k, v in d.items()
                    if k.startswith(("val_dice_", "val_frame_auc", "val_cadx")))
    return (f"loss {d['train_loss']:.4f} val_loss {d['val_loss']:.4f} "
            f"val Dice {d['val_dice']:.4f} IoU {d['val_iou']:.4f}{extra}")


class TextRenderer:
    """Human-readable progress: one line per epoch, a bar within the epoch."""

    def __init__(self) -> None:
        self.bar = None

    def __call__(self, ev: Event) -> None:
        from tqdm import tqdm

        d = ev.data
        tag = f"[trial {d['trial']}] " if "trial" in d else ""
        if ev.kind == "epoch_progress":
            desc = tag + d.get("label", f"epoch {d['epoch'] + 1}")
            if self.bar is not None and self.bar.desc != desc:
                self._close_bar()
            if self.bar is None:
                self.bar = tqdm(total=d["steps"], desc=desc, leave=False, file=sys.stderr)
            self.bar.n = d["step"]
            if "loss" in d:
                self.bar.set_postfix(loss=f"{d['loss']:.4f}", refresh=False)
            self.bar.refresh()
            return
        self._close_bar()
        if ev.kind == "run_started" and d.get("task") == "cadx":
            print(f"fitting the neoplastic head of {d['init_from']} at {_px(d['sizes'])}, views "
                  f"{d['views']}: {d['n_train']} train / {d['n_val']} holdout images -> "
                  f"{d['out']}", flush=True)
        elif ev.kind == "run_started":
            print(f"{tag}training on {d['device']}: {d['n_train']} train / {d['n_val']} val images, "
                  f"{d['n_params'] / 1e6:.2f} M parameters -> {d['out']}", flush=True)
        elif ev.kind == "epoch_metrics":
            print(f"{tag}epoch {d['epoch'] + 1}: {_fmt_metrics(d)} ({d['epoch_s']:.0f} s)"
                  + (" *" if d["improved"] else ""), flush=True)
        elif ev.kind in ("log", "cancelled", "cv_summary"):
            print(tag + d.get("message", ""), flush=True)
        elif ev.kind == "finished" and d.get("task") == "cadx":
            print(f"done: {d['model']} (neoplastic head, l2 {d['l2']:g}; holdout over the "
                  f"predicted regions: {cadx_holdout_text(d.get('holdout'))})", flush=True)
        elif ev.kind == "finished" and d.get("task") == "classify":
            print(f"done: {d['model']} (val accuracy {d['val_accuracy']:.4f}, precision "
                  f"{d['val_precision']:.4f}, recall {d['val_recall']:.4f}, AUC {d['val_auc']:.4f})",
                  flush=True)
        elif ev.kind == "finished":
            print(f"{tag}done: {d['model']} (val Dice {d['val_dice_model_res']:.4f} at threshold "
                  f"{d['threshold']:.2f}, model resolution)", flush=True)
        elif ev.kind == "failed" and not d.get("expected"):  # expected ones: main() prints them
            print(f"{tag}failed: {d['error']}", file=sys.stderr, flush=True)


    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _px(sizes: list[int]) -> str:
    return ", ".join(str(v) for v in sizes) + " px"


def cadx_holdout_text(holdout: dict | None) -> str:
    """Per size: polyps, accuracy, AUC over the predicted regions, as one line."""
    if not holdout:
        return "no holdout polyps"
    return "; ".join(f"{at} px {v['predicted']['polyps']} polyps, accuracy "
                     f"{v['predicted']['accuracy']:.3f}, AUC {v['predicted']['auc']:.3f}"
                     for at, v in holdout.items())


def jsonl_listener(ev: Event) -> None:
    sys.stdout.write(ev.to_json() + "\n")
    sys.stdout.flush()


def init_distributed(device: str = "auto") -> bool:
    """Join the process group torchrun describes (WORLD_SIZE > 1): nccl on GPUs, gloo on CPU."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo")
    return True


def _with_signals(fn):
    """Run ``fn(cancel)`` with SIGINT/SIGTERM turned into a cancel between batches."""
    cancel = CancelToken()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.cancel())
    prev_term = signal.signal(signal.SIGTERM, lambda *_: cancel.cancel()) \
        if hasattr(signal, "SIGTERM") else None
    try:
        return fn(cancel), cancel
    finally:
        signal.signal(signal.SIGINT, previous)
        if prev_term is not None:
            signal.signal(signal.SIGTERM, prev_term)


def run_train(a: argparse.Namespace) -> int:
    listener = jsonl_listener if a.events == "jsonl" else TextRenderer()
    if getattr(a, "task", "segment") == "classify":
        if a.resume or a.cv:
            raise PolypViewerError("--resume and --cv are for segmentation runs, not --task classify")
        from .classify import run_classification

        cfg = classify_config_from_args(a)
        final, cancel = _with_signals(lambda c: run_classification(cfg, listener, c))
        return 0 if final is not None else 130
    if getattr(a, "task", "segment") == "cadx":
        return _run_cadx(a, listener)
    resume = bool(a.resume)
    if resume:  # into RUN_DIR itself, whatever folder its config was written in
        cfg = load_run_config(a.resume)
    else:
        cfg = config_from_args(a)
    if cfg.cv_folds == 1 or cfg.cv_folds < 0:
        raise PolypViewerError("--cv needs K >= 2 folds")
    started = init_distributed(cfg.device)
    try:
        if started and cfg.cv_folds:
            raise PolypViewerError("--cv is not supported under torchrun; run the folds one by one")
        final, cancel = _with_signals(lambda c: run_training(cfg, listener, c, resume=resume))
    finally:
        if started:
            dist.destroy_process_group()
    return 0 if final is not None or cancel.cancelled is False else 130


def _run_cadx(a: argparse.Namespace, listener) -> int:
    from .cadx_run import run_cadx_fit

    if a.resume or a.cv:
        raise PolypViewerError("--resume and --cv are for segmentation runs, not --task cadx")
    cfg = config_from_args(a)
    if not cfg.init_from:
        raise PolypViewerError("--task cadx needs --init-from MODEL: the trained model whose "
                               "neoplastic head it fits")
    torch.set_num_threads(cfg.threads or torch.get_num_threads())
    # the head is read at whichever analysis size the app runs: fit it at every --scales size
    model, _ = _with_signals(lambda c: run_cadx_fit(cfg, listener, c))
    return 0 if model is not None else 130


def add_tune_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("datasets", nargs="+", help="dataset folders with images/ and masks/ (merged)")
    p.add_argument("--out", required=True, help="study folder: trial runs, trials.csv, best.json")
    p.add_argument("--trials", type=int, default=20, help="trials to run (default %(default)s)")
    p.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    p.add_argument("--pruner-startup", type=int, default=3, metavar="N",
                   help="trials run to the end before the median pruner acts (default %(default)s)")
    _add_run_options(p)
    p.set_defaults(epochs=10)


def run_tune(a: argparse.Namespace) -> int:
    import optuna

    from .tune import run_study

    a.config = None
    base = replace(config_from_args(a), out=str(Path(a.out) / "base"))
    listener = jsonl_listener if a.events == "jsonl" else TextRenderer()
    pruner = optuna.pruners.MedianPruner(n_startup_trials=a.pruner_startup, n_warmup_steps=1)
    study, cancel = _with_signals(lambda c: run_study(base, a.out, a.trials, a.timeout, listener, c,
                                                      pruner=pruner))
    best = json.loads((Path(a.out) / "best.json").read_text(encoding="utf-8"))
    if best["best_trial"] is None:
        print(f"no trial finished ({best['n_pruned']} pruned); see {Path(a.out) / 'trials.csv'}")
        return 130 if cancel.cancelled else 1
    print(f"best trial {best['best_trial']}: val Dice {best['best_value']:.4f} with "
          f"{best['best_params']} ({best['n_complete']} complete, {best['n_pruned']} pruned) -> "
          f"{Path(a.out) / 'best.json'}", flush=True)
    return 130 if cancel.cancelled else 0


def add_eda_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="dataset folder with images/ and masks/")
    p.add_argument("--out", required=True, help="report folder: eda.html, eda.json, PNG plots")
    p.add_argument("--max-images", type=int, help="analyse only the first N images")
    p.add_argument("--workers", type=int, default=2, help="decoding threads (default %(default)s)")


def run_eda(a: argparse.Namespace) -> int:
    from .eda import run_eda as eda

    s = eda(a.dataset, a.out, a.workers, a.max_images)
    cov = s["coverage"]
    print(f"{s['n_images']} images, coverage mean {cov['mean']:.1%} (median {cov['median']:.1%}), "
          f"{s['polyps_per_image']['mean']:.2f} polyps per image -> {Path(a.out) / 'eda.html'}")
    for name, t in s["tests"].items():
        p = "n/a" if t["p_value"] is None else f"p = {t['p_value']:.3g}"
        print(f"  {name}: {t['test']} {p}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training", description="Train a PolypViewer model.")
    add_train_arguments(p)
    a = p.parse_args(argv)
    try:
        return run_train(a)
    except PolypViewerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
