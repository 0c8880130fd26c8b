"""What ``polypviewer evaluate`` computes from per-image rows: summaries and the table.

Counting itself is ``engine.metrics``; here is only which images each figure is taken over.
Dice, IoU, recall and precision of a dataset row are means over images *with* a polyp, so a
set of no-polyp frames does not inflate them; those frames give the specificity and the share
of them that get a polyp region (a false alarm the user sees).
"""

from __future__ import annotations

import math

from .common import has_finding

ROW_KEYS = ("stem", "dice", "iou", "precision", "recall", "f2", "accuracy", "specificity",
            "gt_count", "pred_count", "frame_prob", "gt_positive", "pred_positive", "dataset")
SEGMENTATION = ("dice", "iou", "recall", "precision")


def score(stem: str, pred, gt, dataset: str = "") -> dict:
    """Per-image row: pixel metrics at mask resolution plus counts and the frame verdict."""
    from ..engine.metrics import segmentation_metrics
    from ..engine.runtime.postprocess import find_instances, min_area_pixels

    m = segmentation_metrics(pred.mask, gt)
    gt_insts, _ = find_instances(gt, None, min_area_pixels(gt.shape, pred.min_area_fraction))
    row = {"stem": stem, **{k: m[k] for k in ROW_KEYS[1:8]}, "gt_count": len(gt_insts),
           "pred_count": pred.count, "frame_prob": round(float(pred.frame_prob), 6),
           "gt_positive": bool(gt.any()), "pred_positive": has_finding(pred), "dataset": dataset}
    row.update({k: m[k] for k in ("tp", "fp", "fn", "tn")})
    return row


def summarise(rows: list[dict]) -> dict:
    """Means over every scored image, pooled pixels and the frame verdict (``--json``)."""
    from ..engine.metrics import aggregate, confusion_matrix, frame_auc

    agg = aggregate(rows)
    mean = agg["mean"]
    out = {"n_images": agg["n"]}
    for k in ("dice", "iou"):
        out[f"mean_{k}"] = mean.get(k)
    for k in ("precision", "recall", "f2", "accuracy", "specificity"):
        out[k] = mean.get(k)
    out["std"] = agg["std"]
    out["pooled"] = agg["micro"]
    if rows:
        labels = [int(r["gt_positive"]) for r in rows]
        verdicts = [int(r["pred_positive"]) for r in rows]
        cm = confusion_matrix(labels, verdicts, threshold=0.5)
        auc = frame_auc(labels, [r["frame_prob"] for r in rows])
        out["frame_accuracy"] = cm["accuracy"]
        out["frame_confusion"] = cm
        out["frame_auc"] = None if math.isnan(auc) else auc
    return out


def table_row(rows: list[dict], frame_threshold: float) -> dict:
    """One line of the table: segmentation on polyp images, frame verdict, false alarms, CADx."""
    from ..engine.metrics import aggregate, confusion_matrix, frame_auc

    pos = [r for r in rows if r["gt_positive"]]
    n_neg = len(rows) - len(pos)
    out: dict = {"n_images": len(rows), "n_polyp": len(pos), "n_no_polyp": n_neg}
    mean = aggregate(pos)["mean"]
    out.update({k: mean.get(k) for k in SEGMENTATION})
    labels = [int(r["gt_positive"]) for r in rows]
    frame = confusion_matrix(labels, [r["frame_prob"] for r in rows], frame_threshold) if rows else {}
    region = confusion_matrix(labels, [float(r["pred_positive"]) for r in rows], 0.5) if rows else {}
    out["frame_threshold"] = frame_threshold
    out["frame_sensitivity"] = frame["sensitivity"] if pos else None
    out["frame_specificity"] = frame["specificity"] if n_neg else None
    out["no_polyp_with_region"] = 1.0 - region["specificity"] if n_neg else None
    auc = frame_auc(labels, [r["frame_prob"] for r in rows]) if rows else math.nan
    out["frame_auc"] = None if math.isnan(auc) else auc
    polyps = [c for r in rows for c in r.get("polyp_classes", ()) if c["probability"] is not None]
    out["cadx_polyps"] = len(polyps)
    out["cadx_accuracy"] = out["cadx_sensitivity"] = out["cadx_auc"] = None
    if polyps:
        truth = [int(c["neoplastic"]) for c in polyps]
        probs = [c["probability"] for c in polyps]
        cm = confusion_matrix(truth, probs, 0.5)
        out["cadx_accuracy"] = cm["accuracy"]
        out["cadx_sensitivity"] = cm["sensitivity"] if any(truth) else None
        cadx_auc = frame_auc(truth, probs)
        out["cadx_auc"] = None if math.isnan(cadx_auc) else cadx_auc
    return out


COLUMNS = (("images", "n_images", "d"), ("Dice", "dice", "f"), ("IoU", "iou", "f"),
           ("recall", "recall", "f"), ("precision", "precision", "f"),
           ("sens", "frame_sensitivity", "f"), ("spec", "frame_specificity", "f"),
           ("no-polyp w/ region", "no_polyp_with_region", "%"), ("CADx acc", "cadx_accuracy", "f"))


def format_table(named_rows: list[tuple[str, str, dict]]) -> str:
    """``(dataset, split, row)`` lines as an aligned text table ('-' where not defined)."""
    def cell(row, key, kind):
        v = row.get(key)
        if v is None:
            return "-"
        return str(v) if kind == "d" else f"{100 * v:.1f} %" if kind == "%" else f"{v:.4f}"

    header = ["dataset", "split", *(c[0] for c in COLUMNS)]
    body = [[name, split, *(cell(row, k, kind) for _, k, kind in COLUMNS)]
            for name, split, row in named_rows]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells):
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(header), *(line(b) for b in body)])


def format_details(summary: dict, ms_per_image: float) -> str:
    """The single-dataset detail block (means over every scored image)."""
    def f(v):
        return "-" if v is None else f"{v:.4f}"

    lines = [("images", str(summary["n_images"])), ("mean Dice", f(summary["mean_dice"])),
             ("mean IoU", f(summary["mean_iou"])), ("precision", f(summary["precision"])),
             ("recall", f(summary["recall"])), ("F2", f(summary["f2"])),
             ("pixel accuracy", f(summary["accuracy"])),
             ("frame accuracy", f(summary.get("frame_accuracy"))),
             ("frame AUC", f(summary.get("frame_auc"))),
             ("time per image", f"{ms_per_image:.1f} ms")]
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in lines)
