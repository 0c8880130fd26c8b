"""Decode and letterbox every image once into an on-disk cache, then train from memory.

On a 2-core machine JPEG decoding of 1-2 MP frames would otherwise cost more than the model;
the cache makes an epoch pure augmentation + compute.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from polypviewer.engine import fsutil
from polypviewer.engine.media.dataset import Pair
from polypviewer.engine.media.imageio import read_image, read_mask
from polypviewer.engine.models.config import ModelConfig
from polypviewer.engine.runtime.preprocess import letterbox_mask, normalise, prepare

# a crop keeps "polyp" only if at least this share of its pixels is polyp
MIN_POLYP_FRACTION = 0.002


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


class SegmentationSet(Dataset):
    """Cached arrays -> (image tensor, mask tensor (1,S,S), frame label (1,))."""

    def __init__(self, images: np.ndarray, masks: np.ndarray, config: ModelConfig,
                 augment=None) -> None:
        self.images, self.masks, self.config, self.augment = images, masks, config, augment

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        img, mask = self.images[i], self.masks[i]
        if self.augment is not None:
            out = self.augment(image=img, mask=mask)
            img, mask = out["image"], out["mask"]
        x = normalise(np.ascontiguousarray(img), self.config)[0]
        m = torch.from_numpy(np.ascontiguousarray(mask)).float().unsqueeze(0)
        label = torch.tensor([float(m.mean() >= MIN_POLYP_FRACTION)])
        return x, m, label
