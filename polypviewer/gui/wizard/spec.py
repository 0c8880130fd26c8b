"""What the wizard collects, turned into the exact ``polypviewer train|tune`` command line.

Kept free of Qt so the translation wizard -> CLI is testable on its own and so "Copy as
command" prints precisely what the child process ran.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# name -> settings; "Quick check on CPU" trades quality for a result within minutes
PRESETS: dict[str, dict] = {
    "Quick check on CPU": dict(epochs=3, size=192, batch_size=8, augment="light",
                               max_train_images=200, device="cpu", amp=False),
    "Balanced": dict(epochs=30, size=256, batch_size=8, augment="medium",
                     max_train_images=None, device="auto", amp=True),
    "Best on GPU": dict(epochs=60, size=352, batch_size=16, augment="strong",
                        max_train_images=None, device="cuda", amp=True),
}


@dataclass
class RunSpec:
    """Every choice of the wizard; ``train_args`` maps it onto CLI options."""

    datasets: list[str] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)  # datasets without masks/ ("no polyp")
    # pooled: all images in one pool (draws follow image counts); balanced: one --source per
    # dataset with weight 1, so a small dataset is drawn as often as a large one
    mix: str = "pooled"
    cadx: bool = False  # train the neoplastic channel on the datasets' classes/ maps
    framed_negatives: float = 0.0  # share of negative draws shown as whole frames
    task: str = "segment"  # segment | classify | cadx (the neoplastic head fit of init_from)
    target: str = "polyp"  # what is segmented: polyp, instrument, ...
    cls_head: bool = True
    arch: str = "Unet"
    encoder: str = "timm-tf_efficientnet_lite0"
    size: int = 256
    decoder_channels: tuple[int, ...] | None = None
    init: str = "imagenet"  # imagenet | scratch | model
    init_from: str | None = None
    split: str = "random"  # random | files | kfold
    train_split: str | None = None
    val_split: str | None = None
    val_fraction: float = 0.2
    folds: int = 5
    seed: int = 42
    epochs: int = 30
    batch_size: int = 8
    lr: float = 1e-3
    loss: str = "bce_dice"
    optimizer: str = "adamw"
    scheduler: str = "onecycle"
    amp: bool = True
    early_stopping: int = 0
    augment: str = "medium"
    augment_strength: float = 1.0
    device: str = "auto"
    workers: int = 1
    threads: int = 0
    max_train_images: int | None = None
    tune: bool = False
    trials: int = 10
    tune_timeout_s: float | None = None
    name: str = ""
    description: str = ""
    cadx_sizes: list[int] = field(default_factory=list)  # cadx: pooled at (default: size)
    cadx_flips: bool = True  # cadx: each training polyp also in the four flips stills use

    @property
    def uses_sources(self) -> bool:
        """Sources mode (``--source`` per dataset): the only form that takes negatives, weights
        and classes/; k-fold and tune pool datasets, so they are off in this mode."""
        return self.task == "cadx" or self.task == "segment" and (
            self.mix == "balanced" or self.cadx or bool(self.negatives))

    @property
    def command_name(self) -> str:
        return "tune" if self.tune and self.task == "segment" else "train"


def _opt(args: list[str], flag: str, value, default=None) -> None:
    if value is not None and value != default:
        args += [flag, str(value)]


def source_args(spec: RunSpec) -> list[str]:
    """One ``--source PATH:...`` per dataset; the chosen split file only where that dataset has
    it (a negatives folder usually has none: all its images train)."""
    names = Counter(Path(d).name for d in spec.datasets)
    seen: Counter = Counter()
    train_name = Path(spec.train_split).name if spec.split == "files" and spec.train_split else None
    args: list[str] = []
    for root in spec.datasets:
        src = root
        if train_name and (Path(root) / "splits" / train_name).is_file():
            src += f":train=splits/{train_name}"
        if spec.mix == "balanced" or spec.negatives:
            src += ":weight=1"
        src += f":holdout={spec.val_fraction:g}"
        name = Path(root).name
        seen[name] += 1
        if names[name] > 1:  # training refuses two sources of one name
            src += f":name={name}-{seen[name]}"
        args += ["--source", src]
    return args


def cadx_args(spec: RunSpec, out: str) -> list[str]:
    """``train --task cadx``: only what the neoplastic head fit reads (no epochs, lr, loss,
    augmentation: it is a closed-form fit on the CPU)."""
    if not spec.init_from:
        raise ValueError("the neoplastic head fit needs a trained model to start from: choose "
                         "it under 'Fine-tune an existing model'")
    if not any((Path(d) / "classes").is_dir() for d in spec.datasets):
        raise ValueError("none of the datasets has a classes/ folder (neoplastic / "
                         "non-neoplastic maps): the neoplastic head fit needs at least one")
    if spec.tune or spec.split == "kfold":
        raise ValueError("the neoplastic head fit has no k-fold or Optuna search")
    sizes = sorted(set(spec.cadx_sizes or [spec.size]))
    args = [*source_args(spec), "--out", out, "--task", "cadx", "--init-from", spec.init_from,
            "--size", str(spec.size), "--scales", ",".join(str(v) for v in sizes),
            "--cadx-views", "flips" if spec.cadx_flips else "off", "--seed", str(spec.seed)]
    _opt(args, "--threads", spec.threads, 0)
    return _naming(args, spec)


def _naming(args: list[str], spec: RunSpec) -> list[str]:
    _opt(args, "--name", spec.name or None)
    _opt(args, "--description", spec.description or None)
    return args


def train_args(spec: RunSpec, out: str) -> list[str]:
    """Options after ``polypviewer train`` (or ``tune``), without ``--events``."""
    if spec.task == "cadx":
        return cadx_args(spec, out)
    if spec.uses_sources and (spec.tune or spec.split == "kfold"):
        raise ValueError("k-fold and Optuna pool the datasets; choose 'pooled' without negatives "
                         "or the neoplastic channel")
    args = [*(source_args(spec) if spec.uses_sources else spec.datasets), "--out", out]
    if spec.task == "classify":
        args += ["--task", "classify"]
    else:
        args += ["--arch", spec.arch]
        if spec.decoder_channels:
            args += ["--decoder-channels", ",".join(str(c) for c in spec.decoder_channels)]
        if not spec.cls_head:
            args.append("--no-cls-head")
    args += ["--encoder", spec.encoder, "--size", str(spec.size)]
    if spec.init == "scratch":
        args.append("--no-pretrained")
    elif spec.init == "model" and spec.task == "segment":
        if not spec.init_from:
            raise ValueError("choose the model to fine-tune")
        args += ["--init-from", spec.init_from]
    if spec.task == "segment" and spec.split == "files" and not spec.uses_sources:
        _opt(args, "--train-split", spec.train_split)
        _opt(args, "--val-split", spec.val_split)
    if spec.split != "files" or not spec.val_split or spec.uses_sources:
        args += ["--val-fraction", f"{spec.val_fraction:g}"]
    if spec.cadx and spec.uses_sources:
        args.append("--cadx")
    if spec.negatives and spec.framed_negatives > 0:
        args += ["--framed-negatives", f"{spec.framed_negatives:g}"]
    if spec.task == "segment" and spec.split == "kfold" and not spec.tune:
        args += ["--cv", str(spec.folds)]
    args += ["--seed", str(spec.seed), "--epochs", str(spec.epochs),
             "--batch-size", str(spec.batch_size), "--lr", f"{spec.lr:g}",
             "--augment", spec.augment, "--augment-strength", f"{spec.augment_strength:g}",
             "--device", spec.device, "--workers", str(spec.workers)]
    if spec.task == "segment":
        args += ["--loss", spec.loss, "--optimizer", spec.optimizer, "--scheduler", spec.scheduler]
        _opt(args, "--early-stopping", spec.early_stopping, 0)
        _opt(args, "--max-train-images", spec.max_train_images)
    _opt(args, "--threads", spec.threads, 0)
    if not spec.amp:
        args.append("--no-amp")
    if spec.tune and spec.task == "segment":
        args += ["--trials", str(spec.trials)]
        _opt(args, "--timeout", spec.tune_timeout_s)
    return _naming(args, spec)


def child_argv(command: str, args: list[str]) -> list[str]:
    """The child process: this interpreter running the ``polypviewer`` CLI with JSON events."""
    return [sys.executable, "-m", "polypviewer", command, *args, "--events", "jsonl"]


def quote(argv: list[str]) -> str:
    """A command line a user can paste into this platform's shell."""
    return subprocess.list2cmdline(argv) if sys.platform == "win32" else shlex.join(argv)


def display_command(command: str, args: list[str]) -> str:
    return quote(["polypviewer", command, *args])
