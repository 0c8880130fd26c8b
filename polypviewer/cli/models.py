"""``polypviewer models``: what can be passed to ``--model``, and how good each one is."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the list as JSON")


def describe(entry) -> dict:
    """The facts a user picks a model by, from its metadata (weights are not loaded)."""
    meta = entry.metadata
    cfg = meta.get("config", {}) if isinstance(meta.get("config"), dict) else {}
    training = meta.get("training") if isinstance(meta.get("training"), dict) else {}
    val = {k: v for k, v in training.items()
           if k.startswith("val_") and isinstance(v, (int, float)) and not isinstance(v, bool)}
    return {
        "name": entry.name,
        "source": entry.source,
        "path": str(entry.path),
        "arch": cfg.get("arch"),
        "encoder": cfg.get("encoder"),
        "input_size": cfg.get("input_size"),
        "fast_size": meta.get("fast_size"),
        "threshold": meta.get("threshold"),
        "params": meta.get("n_parameters"),
        "description": meta.get("description", ""),
        "val_metrics": val,
        "weights_present": entry.path.is_file(),
        "problem": entry.problem,
    }


def _fmt_size(r: dict) -> str:
    """The accurate size, and the fast profile's after a slash when the model has one."""
    return str(r["input_size"]) + (f"/{r['fast_size']} fast" if r.get("fast_size") else "")


def _fmt_params(n) -> str:
    return f"{n / 1e6:.2f}M" if isinstance(n, (int, float)) else "?"


def _fmt_val(val: dict) -> str:
    short = {"val_dice_model_res": "Dice", "val_iou_model_res": "IoU", "val_dice": "Dice",
             "val_iou": "IoU"}
    parts, seen = [], set()
    for k, v in val.items():
        label = short.get(k, k.removeprefix("val_"))
        if label in seen:
            continue
        seen.add(label)
        parts.append(f"{label} {v:.3f}")
    return ", ".join(parts) or "-"


def run(args: argparse.Namespace) -> int:
    from ..engine.models.registry import DEFAULT_MODEL, list_models
    from ..paths import user_models_dir

    everything = [describe(e) for e in list_models(include_unusable=True)]
    if args.json:
        print(json.dumps(everything, indent=2))
        return 0
    rows = [r for r in everything if r["problem"] is None]
    unusable = [r for r in everything if r["problem"] is not None]
    if not rows and not unusable:
        print(f"no models installed (user models go in {user_models_dir()})")
        return 0
    header = ("name", "source", "arch", "encoder", "size", "thr", "params", "validation")
    table = [header]
    for r in rows:
        name = r["name"] + (" (default)" if r["name"] == DEFAULT_MODEL else "")
        name += "" if r["weights_present"] else " [weights missing]"
        thr = f"{r['threshold']:.2f}" if isinstance(r["threshold"], (int, float)) else "?"
        table.append((name, r["source"], str(r["arch"]), str(r["encoder"]), _fmt_size(r),
                      thr, _fmt_params(r["params"]), _fmt_val(r["val_metrics"])))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    if rows:
        for row in table:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    else:
        print("no usable models installed")
    if unusable:
        print(f"\n{len(unusable)} unusable model file(s):")
        for r in unusable:
            print(f"  {' '.join(r['problem'].split())}")
    print(f"\nuser models folder: {user_models_dir()}")
    return 0
