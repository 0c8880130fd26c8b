"""The wizard's work that runs in worker threads (never on the UI thread): device list, run-time
estimate, augmentation preview, model comparison on a run's validation images. No Qt here.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from polypviewer.engine.media.imageio import IMAGE_EXTS, read_image, read_mask

from .spec import RunSpec


def devices() -> list[tuple[str, str]]:
    """(value for --device, what the user sees): CPU threads, every CUDA GPU, Apple MPS."""
    import torch

    out = [("auto", "Automatic (GPU if available)"),
           ("cpu", f"CPU ({os.cpu_count() or 1} cores, {torch.get_num_threads()} torch threads)")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            out.append((f"cuda:{i}", f"GPU {i}: {p.name} ({p.total_memory / 2**30:.1f} GiB)"))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append(("mps", "Apple GPU (MPS)"))
    return out


@dataclass
class Estimate:
    seconds_per_batch: float
    batches_per_epoch: int
    total_s: float
    device: str

    def text(self) -> str:
        return (f"about {format_duration(self.total_s)} on {self.device} "
                f"({self.seconds_per_batch:.2f} s per batch x {self.batches_per_epoch} batches "
                f"per epoch)")


def format_duration(s: float) -> str:
    s = max(0, int(round(s)))
    if s < 90:
        return f"{s} s"
    if s < 5400:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def split_sizes(spec: RunSpec, n_images: int) -> tuple[int, int]:
    """(training, validation) images the run will use: from the split files when the run
    takes them (a dataset's val.txt is often far smaller than "everything not trained on"),
    else from the fraction or the folds."""
    from polypviewer.engine.media.dataset import read_split

    if spec.split == "files" and spec.val_split:
        n_val = len(read_split(spec.val_split))
        n_train = len(read_split(spec.train_split)) if spec.train_split else n_images - n_val
    else:
        share = spec.val_fraction if spec.split != "kfold" else 1 / max(spec.folds, 2)
        n_train = round(n_images * (1 - share))
        n_val = n_images - n_train
    if spec.max_train_images:
        n_train = min(n_train, spec.max_train_images)
    return max(1, n_train), max(1, n_val)


def estimate_run(spec: RunSpec, n_images: int, batches: int = 3) -> Estimate:
    """Time ``batches`` training steps of the chosen model on the chosen device, extrapolated.

    One untimed warm-up step first (allocations, cudnn autotuning); validation is counted as a
    third of a training epoch over the held-out share (forward only).
    """
    import torch

    from polypviewer.engine.models.config import ModelConfig
    from polypviewer.engine.models.device import resolve_device
    from polypviewer.engine.models.factory import create_model

    device, note = resolve_device(spec.device)
    cfg = ModelConfig(arch=spec.arch, encoder=spec.encoder if spec.encoder != "small_cnn"
                      else "timm-tf_efficientnet_lite0", input_size=spec.size,
                      classification_head=spec.cls_head, decoder_channels=spec.decoder_channels)
    model = create_model(cfg, pretrained=False).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.rand(spec.batch_size, 3, spec.size, spec.size, device=device)
    amp = spec.amp and device.type == "cuda"

    def step() -> None:
        with torch.autocast(device.type, enabled=amp):
            out = model(x)
            out = out[0] if isinstance(out, tuple) else out
            loss = out.float().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(batches):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    per_batch = (time.perf_counter() - t0) / batches
    n_train, n_val = split_sizes(spec, n_images)
    per_epoch = max(1, math.ceil(n_train / spec.batch_size))
    val_batches = math.ceil(max(1, n_val) / spec.batch_size) / 3
    total = (per_epoch + val_batches) * per_batch * spec.epochs
    if spec.split == "kfold" and not spec.tune:
        total *= spec.folds
    if spec.tune:
        total *= spec.trials
    return Estimate(per_batch, per_epoch, total, note)


def dataset_images(roots: list[str], limit: int) -> list[Path]:
    """A few images of the chosen datasets (segmentation images/ or class folders)."""
    out: list[Path] = []
    for r in roots:
        root = Path(r)
        folders = [root / "images"] if (root / "images").is_dir() else \
            sorted(d for d in root.iterdir() if d.is_dir()) if root.is_dir() else []
        for f in folders:
            out += sorted(p for p in f.iterdir() if p.suffix.lower() in IMAGE_EXTS)[:limit]
    return out[:limit]


def augment_preview(images: list[Path], preset: str, size: int, strength: float,
                    per_image: int = 3, seed: int = 0) -> list[np.ndarray]:
    """Each image letterboxed to ``size``, then ``per_image`` augmented versions (RGB uint8)."""
    import random

    from polypviewer.engine.runtime.preprocess import letterbox
    from training.augment import build_augment

    aug = build_augment(preset, size, strength)
    random.seed(seed)
    np.random.seed(seed)
    tiles = []
    for p in images:
        img, _ = letterbox(read_image(p), size)
        tiles.append(img)
        for _ in range(per_image):
            tiles.append(aug(image=img)["image"])
    return tiles


def _mask_for(image: Path) -> Path | None:
    masks = image.parent.parent / "masks"
    for ext in (image.suffix, *IMAGE_EXTS):
        m = masks / (image.stem + ext)
        if m.is_file():
            return m
    return None


@dataclass
class Comparison:
    names: tuple[str, str]
    mean_dice: tuple[float, float]
    n: int
    pairs: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, float, float]]  # name, rgb, a, b, dice a, dice b


def compare_models(run_dir: Path, model_a: str, model_b: str, device: str = "cpu",
                   n_pairs: int = 3, limit: int = 200, cancel=None) -> Comparison:
    """Both models over the run's validation images (``split.json``): mean Dice and a few pairs."""
    from polypviewer.engine.metrics import evaluate_masks
    from polypviewer.engine.runtime.inference import Predictor

    split = json.loads((Path(run_dir) / "split.json").read_text(encoding="utf-8"))
    images = [Path(p) for p in split.get("val", [])][:limit]
    items = [(p, m) for p in images if (m := _mask_for(p)) is not None]
    if not items:
        raise ValueError("the run's validation images have no masks to compare against")
    preds = [Predictor(model_a, device), Predictor(model_b, device)]
    scores: list[list[float]] = [[], []]
    pairs = []
    for i, (img_path, mask_path) in enumerate(items):
        if cancel is not None and cancel.is_set():
            break
        rgb, gt = read_image(img_path), read_mask(mask_path)
        masks = [p.predict(rgb).mask for p in preds]
        d = [evaluate_masks(m, gt)["dice"] for m in masks]
        for k in (0, 1):
            scores[k].append(d[k])
        if i < n_pairs:
            pairs.append((img_path.name, rgb, masks[0], masks[1], d[0], d[1]))
    return Comparison((preds[0].name, preds[1].name),
                      (float(np.mean(scores[0])), float(np.mean(scores[1]))), len(scores[0]), pairs)
