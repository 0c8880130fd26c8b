"""Synthetic test data: small colonoscopy-like frames, datasets and the tiny model config."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from polypviewer.engine.models.config import ModelConfig

TINY = ModelConfig(input_size=64, decoder_channels=(16, 16, 8, 8, 8))


def synthetic_frame(rng: np.random.Generator, h: int = 96, w: int = 128,
                    n_polyps: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A pinkish mucosa-like frame with bright round 'polyps', and its mask."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = rng.integers(120, 160)
    img[..., 1] = rng.integers(50, 80)
    img[..., 2] = rng.integers(50, 80)
    img = cv2.add(img, rng.integers(0, 20, (h, w, 3), dtype=np.uint8))
    mask = np.zeros((h, w), np.uint8)
    for _ in range(n_polyps):
        r = int(rng.integers(min(h, w) // 10, min(h, w) // 5))
        cx, cy = int(rng.integers(r, w - r)), int(rng.integers(r, h - r))
        cv2.circle(mask, (cx, cy), r, 255, -1)
        cv2.circle(img, (cx, cy), r, (230, 170, 150), -1)
    return img, mask


def write_dataset(root: Path, n: int = 6, seed: int = 0, ext: str = ".png") -> Path:
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        img, mask = synthetic_frame(rng, n_polyps=1 + i % 2)
        cv2.imwrite(str(root / "images" / f"img{i:02d}{ext}"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "masks" / f"img{i:02d}.png"), mask)
    return root


def write_video(path: Path, n: int = 6, seed: int = 0, fps: float = 10.0) -> Path:
    """A short mp4v video of ``synthetic_frame``s (its folder made where missing)."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (128, 96))
    assert w.isOpened()
    for _ in range(n):
        rgb, _ = synthetic_frame(rng)
        w.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    w.release()
    return path


def write_classed(root, n=24, seed=0):
    """One polyp per image; neoplastic ones are bluish, the others yellowish (a texture-free
    stand-in for what separates them), with class maps like BKAI's (1 / 2)."""
    rng = np.random.default_rng(seed)
    for sub in ("images", "masks", "classes"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        img, mask = synthetic_frame(rng)
        neo = i % 2 == 0
        img[mask > 0] = (150, 150, 230) if neo else (230, 220, 120)
        cls = np.where(mask > 0, 1 if neo else 2, 0).astype(np.uint8)
        cv2.imwrite(str(root / "images" / f"i{i:02d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "masks" / f"i{i:02d}.png"), mask)
        cv2.imwrite(str(root / "classes" / f"i{i:02d}.png"), cls)
    return root
