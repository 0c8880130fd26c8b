"""Preprocessing shared by training and inference (one implementation, so they cannot drift).

Frames keep their aspect ratio: they are padded to a square with black (as the scope's own
vignette) and resized to the model size; the probability map goes back the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..models.config import ModelConfig


@dataclass(frozen=True)
class Letterbox:
    """How a frame was placed in the square model input, to undo it exactly."""

    height: int
    width: int
    side: int
    top: int
    left: int
    size: int


def letterbox(img: np.ndarray, size: int, interpolation: int | None = None) -> tuple[np.ndarray, Letterbox]:
    """Pad to a square with black, then resize to ``size``; see ``Letterbox`` to undo it."""
    h, w = img.shape[:2]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    box = Letterbox(h, w, side, top, left, size)
    if interpolation is None:
        interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    if side > size and interpolation == cv2.INTER_AREA and _aligned(box):
        # the padding covers whole output pixels (640x480, 1280x720, 1920x1080...): area
        # averaging of the picture alone gives the same pixels without building the big
        # square first (1080p: 14 -> 7 ms)
        y0, x0, hh, ww = (v * size // side for v in (top, left, h, w))
        out = np.zeros((size, size) + img.shape[2:], dtype=img.dtype)
        out[y0:y0 + hh, x0:x0 + ww] = cv2.resize(img, (ww, hh), interpolation=interpolation)
        return out, box
    square = np.zeros((side, side) + img.shape[2:], dtype=img.dtype)
    square[top:top + h, left:left + w] = img
    out = cv2.resize(square, (size, size), interpolation=interpolation) if side != size else square
    return out, box


def _aligned(box: Letterbox) -> bool:
    """True when the picture's edges fall on output pixel edges after scaling."""
    return all(v * box.size % box.side == 0 for v in (box.top, box.left, box.height, box.width))


def letterbox_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """A bool mask placed like its image; area-averaged then re-thresholded at half."""
    m, _ = letterbox(mask.astype(np.uint8) * 255, size)
    return m > 127


def unletterbox(prob: np.ndarray, box: Letterbox) -> np.ndarray:
    """Model-size map (float) -> map at the frame's original resolution."""
    if box.side != box.size:
        prob = cv2.resize(prob, (box.side, box.side), interpolation=cv2.INTER_LINEAR)
    return prob[box.top:box.top + box.height, box.left:box.left + box.width]


def apply_clahe(rgb: np.ndarray, clip_limit: float = 2.0, grid: int = 8) -> np.ndarray:
    """Contrast-limited equalisation on lightness only, so colours are kept (seed 000)."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    clahe = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(grid, grid))
    lab[..., 0] = clahe.apply(lab[..., 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def normalise(batch_uint8: np.ndarray | torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """(N, H, W, 3) or (H, W, 3) uint8 -> float (N, 3, H, W) normalised as the encoder expects."""
    t = torch.as_tensor(batch_uint8)
    if t.ndim == 3:
        t = t.unsqueeze(0)
    t = t.permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(config.mean, device=t.device).view(1, 3, 1, 1)
    std = torch.tensor(config.std, device=t.device).view(1, 3, 1, 1)
    return (t - mean) / std


def prepare(rgb: np.ndarray, config: ModelConfig) -> tuple[np.ndarray, Letterbox]:
    """Frame -> model-size uint8 RGB (CLAHE applied if the model wants it) and its letterbox."""
    img, box = letterbox(rgb, config.input_size)
    if config.clahe:
        img = apply_clahe(img)
    return img, box
