"""Frame classification only (seed 000): one folder per class, e.g. ``polyps/`` + ``normal-cecum/``.

Models: ``small_cnn`` (the seed's baseline: conv-bn-relu-pool blocks, global pool, linear) or
any smp encoder built by the engine factory with offline ImageNet weights.

Saved models: a two-class encoder model is a real engine model file (an smp network whose frame
head is trained; its mask decoder is not, which ``training.task == "classify"`` in the metadata
records). Everything the factory cannot build (the small CNN, more than two classes) is saved in
the classifier format here: ``NAME.safetensors`` + ``NAME.json`` with ``"kind": "classifier"``,
loaded by ``load_classifier``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from segmentation_models_pytorch.base import ClassificationHead
from torch import nn
from torch.utils.data import DataLoader, Dataset

from polypviewer.engine import fsutil
from polypviewer.engine.errors import DatasetError, ModelFileError
from polypviewer.engine.media.dataset import Pair
from polypviewer.engine.media.imageio import IMAGE_EXTS
from polypviewer.engine.models.config import ModelConfig
from polypviewer.engine.models.device import resolve_device
from polypviewer.engine.models.factory import count_parameters, create_model
from polypviewer.engine.models.modelfile import save_model
from polypviewer.engine.runtime.preprocess import normalise

from . import classify_report as R
from .augment import build_augment
from .data import load_cached
from .events import Cancelled, CancelToken, Event, Listener
from .validate import emit_report, validate_datasets

SMALL_CNN = "small_cnn"
CLASSIFIER_FORMAT = "polypviewer-classifier"


@dataclass
class ClassifyConfig:
    datasets: list[str] = field(default_factory=list)
    out: str = "runs/classify"
    model: str = "timm-tf_efficientnet_lite0"  # or "small_cnn"
    input_size: int = 224
    pretrained: bool = True
    clahe: bool = False
    val_fraction: float = 0.2
    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    augment: str = "medium"
    augment_strength: float = 1.0
    amp: bool = True
    seed: int = 42
    device: str = "auto"
    workers: int = 1
    threads: int = 0
    cache_dir: str | None = None
    name: str | None = None
    description: str = ""
    validate: bool = True
    task: str = "classify"

    def to_dict(self) -> dict:
        return asdict(self)


# ---- data ------------------------------------------------------------------------------
def find_samples(roots: list[str]) -> tuple[list[Pair], list[int], list[str]]:
    """Images and labels over all datasets; classes are the folder names, sorted."""
    by_class: dict[str, list[Path]] = {}
    for r in roots:
        root = Path(r)
        if not root.is_dir():
            raise DatasetError(f"{root} does not exist")
        for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            files = sorted(f for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTS)
            by_class.setdefault(d.name, []).extend(files)
    classes = sorted(c for c, f in by_class.items() if f)
    if len(classes) < 2:
        raise DatasetError("classification needs at least two class folders with images "
                           f"(found: {', '.join(classes) or 'none'})")
    pairs, labels = [], []
    for ci, c in enumerate(classes):
        for f in by_class[c]:
            pairs.append(Pair(f"{c}/{f.stem}", f, None))
            labels.append(ci)
    return pairs, labels, classes


def stratified_split(labels: list[int], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices; every class keeps about ``val_fraction`` of its images for validation."""
    rng = random.Random(seed)
    train, val = [], []
    for c in sorted(set(labels)):
        idx = [i for i, y in enumerate(labels) if y == c]
        rng.shuffle(idx)
        n_val = max(1, round(len(idx) * val_fraction)) if len(idx) > 1 else 0
        val += idx[:n_val]
        train += idx[n_val:]
    if not val or not train:
        raise DatasetError("too few images to split into training and validation")
    return sorted(train), sorted(val)


class ClassifySet(Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray, config: ModelConfig, augment=None):
        self.images, self.labels, self.config, self.augment = images, labels, config, augment

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        img = self.images[i]
        if self.augment is not None:
            img = self.augment(image=img)["image"]
        return normalise(np.ascontiguousarray(img), self.config)[0], int(self.labels[i])


# ---- models ----------------------------------------------------------------------------
class SmallCNN(nn.Module):
    """Seed 000's baseline: a few conv-bn-relu-maxpool blocks, global average pool, linear."""

    def __init__(self, n_out: int, widths: tuple[int, ...] = (32, 64, 128, 256), dropout: float = 0.2):
        super().__init__()
        layers, c = [], 3
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(c, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class EncoderClassifier(nn.Module):
    """An engine-factory smp model used through its encoder and frame head only."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.classification_head(self.net.encoder(x)[-1])


def engine_config(cfg: ClassifyConfig, classes: list[str]) -> ModelConfig:
    # the smallest decoder: it is never trained, only needed so the factory can rebuild the file
    return ModelConfig(encoder=cfg.model, input_size=cfg.input_size, classification_head=True,
                       decoder_channels=(16, 16, 8, 8, 8), clahe=cfg.clahe,
                       class_names=tuple(classes))


def build_classifier(meta: dict, pretrained: bool = False) -> nn.Module:
    """Network for a classifier description (``arch``, ``n_outputs``, ...)."""
    n_out = int(meta["n_outputs"])
    if meta["arch"] == SMALL_CNN:
        return SmallCNN(n_out, tuple(meta.get("widths", (32, 64, 128, 256))))
    mc = ModelConfig.from_dict(meta["model_config"])
    net = create_model(mc, pretrained=pretrained)
    if n_out != 1:
        net.classification_head = ClassificationHead(net.encoder.out_channels[-1], n_out, dropout=0.2)
    return EncoderClassifier(net)


# ---- classifier model files ------------------------------------------------------------
def save_classifier(path: str | Path, model: nn.Module, meta: dict) -> Path:
    p = Path(path).with_suffix("")
    w_path, j_path = p.with_suffix(".safetensors"), p.with_suffix(".json")
    blob = st_save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
    full = {"format": CLASSIFIER_FORMAT, "kind": "classifier", "format_version": 1, **meta,
            "weights_file": w_path.name, "weights_sha256": hashlib.sha256(blob).hexdigest()}
    fsutil.write_bytes(w_path, blob)
    fsutil.write_json(j_path, full)
    return w_path


def load_classifier(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a ``kind: classifier`` file; sha256 and every tensor are checked."""
    p = Path(path).with_suffix("")
    w_path, j_path = p.with_suffix(".safetensors"), p.with_suffix(".json")
    try:
        meta = json.loads(j_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelFileError(f"{j_path} is not a readable classifier file") from e
    if meta.get("format") != CLASSIFIER_FORMAT:
        raise ModelFileError(f"{j_path} is not a PolypViewer classifier file")
    blob = w_path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != meta.get("weights_sha256"):
        raise ModelFileError(f"{w_path} does not match its metadata (sha256 differs)")
    model = build_classifier(meta)
    model.load_state_dict(st_load(blob), strict=True)
    return model.eval().to(device), meta


# ---- training --------------------------------------------------------------------------
def _probs(logits: torch.Tensor) -> torch.Tensor:
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits[:, 0])
        return torch.stack([1 - p, p], 1)
    return torch.softmax(logits, 1)


def _loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if logits.shape[1] == 1:
        return nn.functional.binary_cross_entropy_with_logits(logits[:, 0], y.float())
    return nn.functional.cross_entropy(logits, y)


def run_classification(cfg: ClassifyConfig, listener: Listener | None = None,
                       cancel: CancelToken | None = None) -> Path | None:
    """Train, keep the best epoch (validation AUC, then accuracy), write reports and the model."""
    listener = listener or (lambda e: None)
    cancel = cancel or CancelToken()

    def emit(kind: str, **data) -> None:
        listener(Event(kind, data))

    try:
        return _run(cfg, emit, cancel)
    except Cancelled:
        emit("cancelled", out=cfg.out, message="cancelled; classification runs restart from scratch")
        return None
    except Exception as e:
        emit("failed", error=f"{type(e).__name__}: {e}")
        raise


def _run(cfg: ClassifyConfig, emit, cancel: CancelToken) -> Path:
    out = fsutil.check_writable_dir(cfg.out)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device, note = resolve_device(cfg.device)
    amp = cfg.amp and device.type == "cuda"
    if cfg.validate:
        emit_report(validate_datasets(cfg.datasets, task="classify"), emit)
    pairs, labels, classes = find_samples(cfg.datasets)
    tr, va = stratified_split(labels, cfg.val_fraction, cfg.seed)
    fsutil.write_json(out / "config.json", cfg.to_dict())
    fsutil.write_json(out / "split.json", {"classes": classes,
                                           "train": [str(pairs[i].image) for i in tr],
                                           "val": [str(pairs[i].image) for i in va]})
    torch.manual_seed(cfg.seed)
    n_out = 1 if len(classes) == 2 else len(classes)
    meta = {"arch": SMALL_CNN if cfg.model == SMALL_CNN else "encoder", "n_outputs": n_out,
            "class_names": classes, "input_size": cfg.input_size, "clahe": cfg.clahe}
    mc = engine_config(cfg, classes) if cfg.model != SMALL_CNN else ModelConfig(
        encoder=SMALL_CNN, input_size=cfg.input_size, clahe=cfg.clahe, class_names=tuple(classes))
    meta.update(mean=list(mc.mean), std=list(mc.std))
    if cfg.model != SMALL_CNN:
        meta["model_config"] = mc.to_dict()
    model = build_classifier(meta, pretrained=cfg.pretrained and cfg.model != SMALL_CNN).to(device)
    cache = Path(cfg.cache_dir) if cfg.cache_dir else out / "cache"
    images, _ = load_cached(pairs, mc, cache)
    y = np.asarray(labels)
    aug = build_augment(cfg.augment, cfg.input_size, cfg.augment_strength)
    train_loader = DataLoader(ClassifySet(images[tr], y[tr], mc, aug), batch_size=cfg.batch_size,
                              shuffle=True, num_workers=cfg.workers, drop_last=len(tr) > cfg.batch_size,
                              persistent_workers=cfg.workers > 0, pin_memory=device.type == "cuda")
    val_loader = DataLoader(ClassifySet(images[va], y[va], mc), batch_size=cfg.batch_size * 2)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = len(train_loader)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(1, cfg.epochs * steps),
                                                pct_start=0.15)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    emit("run_started", out=str(out), device=note, n_train=len(tr), n_val=len(va),
         n_params=count_parameters(model), epochs=cfg.epochs, start_epoch=0, classes=classes,
         task="classify")
    history, best_key, best_state, best_probs, best_epoch = [], None, None, None, -1
    for epoch in range(cfg.epochs):
        t0 = time.perf_counter()
        model.train()
        torch.manual_seed(cfg.seed + epoch)
        total, n = 0.0, 0
        for i, (x, lab) in enumerate(train_loader):
            if cancel.cancelled:
                raise Cancelled()
            x, lab = x.to(device, non_blocking=True), lab.to(device, non_blocking=True)
            with torch.autocast(device.type, enabled=amp):
                loss = _loss(model(x).float(), lab)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            total, n = total + loss.item() * len(x), n + len(x)
            el = time.perf_counter() - t0
            emit("epoch_progress", epoch=epoch, step=i + 1, steps=steps, loss=total / n,
                 elapsed_s=el, eta_s=el / (i + 1) * (steps - i - 1))
        probs, vloss = _evaluate(model, val_loader, device, amp)
        m = R.classification_metrics(y[va], probs, classes)
        row = {"epoch": epoch, "train_loss": total / max(n, 1), "val_loss": vloss,
               "val_accuracy": m["accuracy"], "val_precision": m["precision"],
               "val_recall": m["recall"], "val_auc": m["auc"], "lr": opt.param_groups[0]["lr"],
               "epoch_s": round(time.perf_counter() - t0, 1)}
        history.append(row)
        key = (np.nan_to_num(m["auc"], nan=-1.0), m["accuracy"])
        improved = best_key is None or key > best_key
        if improved:
            best_key, best_state, best_probs = key, copy.deepcopy(model.state_dict()), probs
            best_epoch = epoch
        R.write_history(out, history)
        emit("epoch_metrics", **row, improved=improved, task="classify")
    model.load_state_dict(best_state)
    final = R.classification_metrics(y[va], best_probs, classes)
    fsutil.write_json(out / "metrics.json", {"final": final, "history": history})
    R.write_roc(out, y[va], best_probs, classes)
    R.write_confusion(out, final)
    summary = {"task": "classify", "datasets": [Path(d).name for d in cfg.datasets],
               "classes": classes, "n_train": len(tr), "n_val": len(va), "architecture": cfg.model,
               "val_accuracy": final["accuracy"], "val_precision": final["precision"],
               "val_recall": final["recall"], "val_auc": final["auc"], "device": note,
               "best_epoch": best_epoch, "epochs_run": len(history)}
    name = cfg.name or out.name
    model.cpu()
    if cfg.model != SMALL_CNN and n_out == 1:  # fits the engine factory: a normal model file
        path = save_model(out / "model", model.net, mc, threshold=0.5, name=name,
                          description=cfg.description or "frame classifier (mask decoder untrained)",
                          training=summary)
    else:
        path = save_classifier(out / "model", model, {**meta, "name": name,
                                                      "description": cfg.description,
                                                      "threshold": 0.5, "training": summary})
    fsutil.write_json(out / "summary.json", summary)
    emit("finished", model=str(path), **summary)
    return path


@torch.inference_mode()
def _evaluate(model: nn.Module, loader, device, amp: bool) -> tuple[np.ndarray, float]:
    model.eval()
    probs, total, n = [], 0.0, 0
    for x, lab in loader:
        x, lab = x.to(device), lab.to(device)
        with torch.autocast(device.type, enabled=amp):
            logits = model(x).float()
        total += float(_loss(logits, lab)) * len(x)
        n += len(x)
        probs.append(_probs(logits).cpu().numpy())
    return np.concatenate(probs), total / max(n, 1)
