"""Shared fixtures: small synthetic images, datasets and a tiny model; never real data."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from polypviewer.engine.config import ModelConfig  # noqa: E402
from polypviewer.engine.factory import create_model  # noqa: E402
from polypviewer.engine.modelfile import save_model  # noqa: E402

TINY = ModelConfig(input_size=64, decoder_channels=(16, 16, 8, 8, 8))


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Tests never touch the real user folders."""
    base = tmp_path_factory.mktemp("userdirs")
    for kind in ("DATA", "CACHE", "CONFIG"):
        monkeypatch.setenv(f"POLYPVIEWER_{kind}_DIR", str(base / kind.lower()))


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


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def dataset(tmp_path) -> Path:
    return write_dataset(tmp_path / "ds")


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """A tiny (random-weight) model saved in the real model-file format."""
    torch.manual_seed(0)
    model = create_model(TINY, pretrained=False).eval()
    return save_model(tmp_path_factory.mktemp("models") / "tiny", model, TINY, threshold=0.5,
                      name="tiny")
