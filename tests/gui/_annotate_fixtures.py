"""Shared by tests/gui/test_annotate_*.py: a generated dataset opened in the workspace."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


def add_review_cases(root: Path) -> Path:
    """To the root conftest's ``dataset`` (6 images with polyps): 1 image with an empty mask
    (no polyp) and 1 without a mask file."""
    rng = np.random.default_rng(7)
    for stem in ("empty", "nomask"):
        img = rng.integers(60, 140, (96, 128, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "images" / f"{stem}.png"), img)
    cv2.imwrite(str(root / "masks" / "empty.png"), np.zeros((96, 128), np.uint8))
    return root


def wait_idle(qtbot, ws, timeout: int = 60_000) -> None:
    qtbot.waitUntil(lambda: not ws.busy, timeout=timeout)
    qtbot.wait(20)  # deliver the last queued signals


def shown(qtbot, ws, index: int, timeout: int = 60_000) -> None:
    """Wait until image ``index`` is shown (it is decoded in a worker)."""
    qtbot.waitUntil(lambda: ws.current_index == index and ws.frame is not None, timeout=timeout)


@pytest.fixture
def review_dataset(dataset) -> Path:
    return add_review_cases(dataset)


@pytest.fixture
def workspace(qtbot, review_dataset, tiny_model_path):
    from polypviewer.gui.annotate import AnnotateWorkspace

    ws = AnnotateWorkspace(model=str(tiny_model_path), device="cpu")
    ws.answers = []
    ws.ask_unsaved = lambda text: ws.answers.pop(0) if ws.answers else "cancel"
    qtbot.addWidget(ws)
    ws.resize(1200, 800)
    ws.show()
    ws.open_dataset(review_dataset)
    wait_idle(qtbot, ws)
    yield ws
    ws.stop_tasks()
