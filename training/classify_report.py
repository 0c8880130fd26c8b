"""Frame-classification metrics and plots (accuracy, precision, recall, ROC/AUC, confusion).

Plain numpy so the training package does not need scikit-learn; binary problems use the last
class as positive, more classes are averaged one-vs-rest (macro).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a GUI backend in the training package
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from polypviewer.engine import fsutil  # noqa: E402

from .report import save_figure, write_curves  # noqa: E402


def roc_curve(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False/true positive rates at every distinct score (descending), starting at (0, 0)."""
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, float)
    order = np.argsort(-score, kind="mergesort")
    s, t = score[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1] if len(s) else np.array([], int)
    tp = np.cumsum(t)[last]
    fp = np.cumsum(~t)[last]
    tpr = np.r_[0.0, tp / max(int(y.sum()), 1)]
    fpr = np.r_[0.0, fp / max(int((~y).sum()), 1)]
    return fpr, tpr, np.r_[np.inf, s[last]]


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    y = np.asarray(y).astype(bool)
    if y.all() or not y.any():
        return float("nan")
    fpr, tpr, _ = roc_curve(y, score)
    return float(np.trapezoid(tpr, fpr))


def confusion(y: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    cm = np.zeros((n, n), np.int64)
    np.add.at(cm, (np.asarray(y, int), np.asarray(pred, int)), 1)
    return cm


def classification_metrics(y: np.ndarray, probs: np.ndarray, class_names: list[str],
                           threshold: float = 0.5) -> dict:
    """``probs``: (N, C) class probabilities. Binary: positive = last class at ``threshold``."""
    y = np.asarray(y, int)
    n = len(class_names)
    if n == 2:
        pred = (probs[:, 1] >= threshold).astype(int)
    else:
        pred = probs.argmax(1)
    cm = confusion(y, pred, n)
    tp = np.diag(cm).astype(float)
    prec_c = np.divide(tp, cm.sum(0), out=np.zeros(n), where=cm.sum(0) > 0)
    rec_c = np.divide(tp, cm.sum(1), out=np.zeros(n), where=cm.sum(1) > 0)
    auc_c = [auc(y == c, probs[:, c]) for c in range(n)]
    if n == 2:
        precision, recall, roc_auc = prec_c[1], rec_c[1], auc_c[1]
    else:
        precision, recall = prec_c.mean(), rec_c.mean()
        roc_auc = float(np.nanmean(auc_c)) if not np.all(np.isnan(auc_c)) else float("nan")
    return {
        "n": int(len(y)), "accuracy": float((pred == y).mean()) if len(y) else float("nan"),
        "precision": float(precision), "recall": float(recall), "auc": float(roc_auc),
        "threshold": threshold if n == 2 else None,
        "positive_class": class_names[1] if n == 2 else None,
        "per_class": {c: {"precision": float(prec_c[i]), "recall": float(rec_c[i]),
                          "auc": float(auc_c[i]), "support": int(cm[i].sum())}
                      for i, c in enumerate(class_names)},
        "confusion_matrix": cm.tolist(), "class_names": list(class_names),
    }


def write_roc(out: Path, y: np.ndarray, probs: np.ndarray, class_names: list[str]) -> Path:
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    classes = [1] if len(class_names) == 2 else range(len(class_names))
    for c in classes:
        fpr, tpr, _ = roc_curve(np.asarray(y) == c, probs[:, c])
        ax.plot(fpr, tpr, label=f"{class_names[c]} (AUC {auc(np.asarray(y) == c, probs[:, c]):.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="Validation ROC",
           xlim=(0, 1), ylim=(0, 1.01))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return save_figure(fig, out / "roc.png")


def write_confusion(out: Path, metrics: dict) -> Path:
    cm = np.array(metrics["confusion_matrix"])
    names = metrics["class_names"]
    fsutil.write_json(out / "confusion_matrix.json", {"class_names": names, "rows_true_cols_pred": cm.tolist()})
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2.5, 1.2 * len(names) + 2))
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center",
                color="white" if v > cm.max() / 2 else "black")
    ax.set(xticks=range(len(names)), yticks=range(len(names)), xticklabels=names, yticklabels=names,
           xlabel="predicted", ylabel="true", title="Validation confusion matrix")
    return save_figure(fig, out / "confusion_matrix.png")


def write_history(out: Path, history: list[dict]) -> Path:
    """metrics.csv plus curves.png (loss, accuracy, AUC per epoch)."""
    return write_curves(out, history, (("val_accuracy", "accuracy"), ("val_auc", "AUC")),
                        title="Validation")
