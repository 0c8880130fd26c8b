"""Decode and letterbox every image once into an on-disk cache, then train from memory.

On a 2-core machine JPEG decoding of 1-2 MP frames would otherwise cost more than the model;
the cache makes an epoch pure augmentation + compute.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from polypviewer.engine import fsutil
from polypviewer.engine.errors import DatasetError
from polypviewer.engine.media.dataset import Pair
from polypviewer.engine.media.imageio import read_image, read_mask, read_raw
from polypviewer.engine.models.config import ModelConfig
from polypviewer.engine.runtime.preprocess import apply_clahe, letterbox, letterbox_mask, normalise, prepare

from .framing import frame_like

# a crop keeps "polyp" only if at least this share of its pixels is polyp
MIN_POLYP_FRACTION = 0.002
FRAMING_STREAM = 7  # the framing's random stream, apart from the augmentation's (same seed)


def _key(pairs: list[Pair], size: int, clahe: bool) -> str:
    h = hashlib.sha256(f"v1|{size}|{clahe}".encode())
    for p in pairs:
        for f in (p.image, p.mask):
            if f is not None:
                st = f.stat()
                h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def _load_one(pair: Pair, config: ModelConfig) -> tuple[np.ndarray, np.ndarray]:
    img, _ = prepare(read_image(pair.image), config)
    if pair.mask is None:
        mask = np.zeros(img.shape[:2], bool)
    else:
        m = read_mask(pair.mask)
        mask = letterbox_mask(m, config.input_size)
    return img, mask.astype(np.uint8)


def load_cached(pairs: list[Pair], config: ModelConfig, cache_dir: Path | None,
                workers: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(N,S,S,3) uint8 images and (N,S,S) uint8 {0,1} masks, from cache when unchanged."""
    size = config.input_size
    key = _key(pairs, size, config.clahe)
    if cache_dir is not None:
        f = Path(cache_dir) / f"seg-{key}.npz"
        if f.is_file():
            with np.load(f) as z:
                return z["images"], z["masks"]
    with ThreadPoolExecutor(max(1, workers)) as ex:
        loaded = list(ex.map(lambda p: _load_one(p, config), pairs))
    images = np.stack([a for a, _ in loaded]) if loaded else np.zeros((0, size, size, 3), np.uint8)
    masks = np.stack([b for _, b in loaded]) if loaded else np.zeros((0, size, size), np.uint8)
    if cache_dir is not None:
        with fsutil.atomic_path(Path(cache_dir) / f"seg-{key}.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, images=images, masks=masks)
        (Path(cache_dir) / f"seg-{key}.json").write_text(
            json.dumps({"n": len(pairs), "size": size, "stems": [p.stem for p in pairs]}))
    return images, masks


# per-pixel training labels: polyp with unknown class, neoplastic, non-neoplastic
LABEL_POLYP, LABEL_NEOPLASTIC, LABEL_NON_NEOPLASTIC = 1, 2, 3


def _square(img: np.ndarray, max_side: int, interpolation: int | None = None) -> np.ndarray:
    """Letterbox to a square no larger than ``max_side`` and no larger than the image."""
    side = max(img.shape[:2])
    return letterbox(img, min(side, max_side), interpolation)[0]


def _load_labelled(pair: Pair, cls: Path | None, max_side: int,
                   clahe: bool) -> tuple[np.ndarray, np.ndarray]:
    img = _square(read_image(pair.image), max_side)
    if clahe:
        img = apply_clahe(img)
    side = img.shape[0]
    if pair.mask is None:
        return img, np.zeros((side, side), np.uint8)
    full = read_mask(pair.mask)
    mask = _square(full.astype(np.uint8) * 255, max_side) > 127
    label = mask.astype(np.uint8) * LABEL_POLYP
    if cls is not None:
        c = read_raw(cls)
        if c.ndim == 3:
            c = c[..., 0]
        if c.shape[:2] != full.shape[:2]:
            raise DatasetError(f"{cls}: class map size differs from its mask {pair.mask}")
        c = _square(c.astype(np.uint8), max_side, cv2.INTER_NEAREST)
        label[mask & (c == 1)] = LABEL_NEOPLASTIC
        label[mask & (c == 2)] = LABEL_NON_NEOPLASTIC
    return img, label


def _resize_to(img: np.ndarray, side: int, nearest: bool = False) -> np.ndarray:
    if img.shape[0] == side:
        return img
    interp = cv2.INTER_NEAREST if nearest else (
        cv2.INTER_AREA if img.shape[0] > side else cv2.INTER_LINEAR)
    return cv2.resize(img, (side, side), interpolation=interp)


def resize_labels(label: np.ndarray, side: int) -> np.ndarray:
    """Labels at another size: the polyp area like a mask (area, half), its class by nearest."""
    if label.shape[0] == side:
        return label
    mask = _resize_to((label > 0).astype(np.uint8) * 255, side) > 127
    cls = _resize_to(label, side, nearest=True)
    return np.where(mask, np.maximum(cls, LABEL_POLYP), 0).astype(np.uint8)


def load_labelled(pairs: list[Pair], classes: dict[str, Path], max_side: int, clahe: bool,
                  cache_dir: Path | None, workers: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(N,C,C,3) uint8 images and (N,C,C) uint8 labels (0 background, LABEL_*), decoded once.

    C is ``max_side`` or the largest image's side if that is smaller (256 px crops are not
    stored at 448); training resizes to each batch's size from here.
    """
    h = hashlib.sha256(f"labels-v1|{max_side}|{clahe}".encode())
    for p in pairs:
        for f in (p.image, p.mask, classes.get(p.stem)):
            if f is not None:
                st = f.stat()
                h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    key = h.hexdigest()[:20]
    f = Path(cache_dir) / f"lab-{key}.npz" if cache_dir is not None else None
    if f is not None and f.is_file():
        with np.load(f) as z:
            return z["images"], z["labels"]
    with ThreadPoolExecutor(max(1, workers)) as ex:
        loaded = list(ex.map(lambda p: _load_labelled(p, classes.get(p.stem), max_side, clahe),
                             pairs))
    side = max((a.shape[0] for a, _ in loaded), default=min(max_side, 64))
    images = np.zeros((len(loaded), side, side, 3), np.uint8)
    labels = np.zeros((len(loaded), side, side), np.uint8)
    for i, (a, b) in enumerate(loaded):
        images[i] = _resize_to(a, side)
        labels[i] = resize_labels(b, side)
    if f is not None:
        with fsutil.atomic_path(f) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, images=images, labels=labels)
        fsutil.write_json(f.with_suffix(".json"),
                          {"n": len(pairs), "side": side, "stems": [p.stem for p in pairs]})
    return images, labels


def to_targets(img: np.ndarray, label: np.ndarray, config: ModelConfig):
    """(image tensor, mask (1,S,S), frame label (1,), class target (S,S) uint8)."""
    x = normalise(np.ascontiguousarray(img), config)[0]
    lab = torch.from_numpy(np.ascontiguousarray(label))
    m = (lab > 0).float().unsqueeze(0)
    frame = torch.tensor([float(m.mean() >= MIN_POLYP_FRACTION)])
    return x, m, frame, lab


class MultiSourceSet(Dataset):
    """Items ``(index, size, seed)`` from ``SourceBatchSampler`` -> augmented tensors at ``size``.

    Each source keeps its own arrays (their sides differ); the per-item seed makes the
    augmentation repeat exactly on resume, whatever the number of loader processes.
    """

    def __init__(self, arrays: list[tuple[np.ndarray, np.ndarray]], config: ModelConfig,
                 augment_for=None, framed: list[float] | None = None) -> None:
        """``framed[s]``: the share of source ``s``'s draws shown as whole frames
        (``framing.frame_like``; only for negatives, whose masks stay empty)."""
        self.arrays, self.config, self.augment_for = arrays, config, augment_for
        self.framed = list(framed) if framed is not None else [0.0] * len(arrays)
        self.offsets = np.cumsum([0] + [len(a) for a, _ in arrays])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, i: int) -> tuple[int, int]:
        s = int(np.searchsorted(self.offsets, i, side="right") - 1)
        return s, i - int(self.offsets[s])

    def __getitem__(self, item):
        i, size, seed = item if isinstance(item, tuple) else (item, self.config.input_size, 0)
        s, j = self.locate(int(i))
        img, label = self.arrays[s][0][j], self.arrays[s][1][j]
        img, label = _resize_to(img, size), resize_labels(label, size)
        if self.framed[s] > 0:
            rng = np.random.default_rng([int(seed), FRAMING_STREAM])
            if rng.random() < self.framed[s]:
                img = frame_like(img, rng)
        if self.augment_for is not None:
            aug = self.augment_for(size)
            aug.set_random_seed(int(seed))
            out = aug(image=img, mask=label)
            img, label = out["image"], out["mask"]
        return to_targets(img, label, self.config)


class ArraySet(Dataset):
    """Fixed-size arrays (holdout at the evaluation size), no augmentation."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, config: ModelConfig) -> None:
        self.images, self.labels, self.config = images, labels, config

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return to_targets(self.images[i], self.labels[i], self.config)
