"""Run outputs people look at: curves, sample grids, the threshold sweep (seed 004)."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a GUI backend in the training package
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from polypviewer.engine import fsutil  # noqa: E402
from polypviewer.engine.metrics import mean_metrics_at  # noqa: E402

THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)


def save_figure(fig, path: Path, dpi: int = 110) -> Path:
    """PNG written atomically; the figure is closed (Agg keeps every open figure alive)."""
    with fsutil.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def write_metrics_csv(out: Path, history: list[dict]) -> None:
    """One row per epoch, written atomically; shared by segmentation and classification runs."""
    if history:
        with fsutil.atomic_path(out / "metrics.csv") as tmp:
            with open(tmp, "w", newline="") as fh:
                w = csv.DictWriter(fh, list(history[0]))
                w.writeheader()
                w.writerows(history)


SEGMENTATION_CURVES = (("val_dice", "Dice"), ("val_iou", "IoU"))


def write_curves(out: Path, history: list[dict], metrics=SEGMENTATION_CURVES,
                 title: str = "Validation (threshold 0.5)") -> Path:
    """metrics.csv plus curves.png: loss, and the validation ``metrics`` (key, label) per epoch."""
    write_metrics_csv(out, history)
    ep = [h["epoch"] + 1 for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ax[0].plot(ep, [h["train_loss"] for h in history], "o-", label="train")
    ax[0].plot(ep, [h["val_loss"] for h in history], "o-", label="validation")
    ax[0].set(title="Loss", xlabel="epoch")
    ax[0].legend()
    for key, label in metrics:
        ax[1].plot(ep, [h[key] for h in history], "o-", label=label)
    ax[1].set(title=title, xlabel="epoch", ylim=(0, 1.01))
    ax[1].legend()
    for a in ax:
        a.grid(alpha=0.3)
        a.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs only
    return save_figure(fig, out / "curves.png")


def threshold_sweep(probs: np.ndarray, gt: np.ndarray, thresholds=THRESHOLDS,
                    groups: np.ndarray | None = None) -> dict:
    """Mean per-image Dice, pixel precision and recall at each threshold; picks best Dice.

    With ``groups`` (a source index per image) each figure is the mean of the sources' means.
    """
    rows = mean_metrics_at(probs, gt, thresholds, keys=("dice", "precision", "recall"),
                           groups=groups)
    best = max(rows, key=lambda r: r["dice"])
    return {"rows": rows, "best_threshold": best["threshold"], "best_dice": best["dice"]}


def write_sweep(out: Path, sweep: dict) -> Path:
    fsutil.write_json(out / "threshold_sweep.json", sweep)
    rows = sweep["rows"]
    t = [r["threshold"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for k in ("dice", "precision", "recall"):
        ax.plot(t, [r[k] for r in rows], "o-", ms=3, label=k.capitalize())
    ax.axvline(sweep["best_threshold"], color="grey", ls="--",
               label=f"best {sweep['best_threshold']:.2f}")
    ax.set(xlabel="threshold", ylim=(0, 1), title="Validation threshold sweep")
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, out / "threshold_sweep.png")


def write_sample_grid(out: Path, images: np.ndarray, masks: np.ndarray, probs: np.ndarray,
                      thr: float, n: int = 6) -> Path:
    """Image / ground truth / prediction rows for a fixed set of validation images (seed 001)."""
    n = min(n, len(images))
    idx = np.linspace(0, len(images) - 1, n).astype(int) if n else []
    fig, ax = plt.subplots(max(n, 1), 3, figsize=(7.5, 2.5 * max(n, 1)), squeeze=False)
    for r, i in enumerate(idx):
        for c, (im, title) in enumerate(((images[i], "image"), (masks[i], "ground truth"),
                                         (probs[i] >= thr, f"prediction @ {thr:.2f}"))):
            ax[r, c].imshow(im, cmap=None if im.ndim == 3 else "gray")
            ax[r, c].set_axis_off()
            if r == 0:
                ax[r, c].set_title(title)
    return save_figure(fig, out / "samples.png")
