"""Holdout accuracy per dataset and CPU speed at several analysis sizes: the table behind the
choice of a model's default size.

    uv run python scripts/size_table.py --model RUN/model.safetensors \
        --holdout DATA/kvasir-seg:RUN/holdouts/kvasir-seg.txt \
        --holdout DATA/bkai-neopolyp:RUN/holdouts/bkai-neopolyp.txt \
        --holdout DATA/cpchild-nopolyp:RUN/holdouts/cpchild-nopolyp.txt \
        --sizes 256,320,384,448 --json size_table.json

Positive datasets get mean per-image Dice and IoU (the engine's metrics, at the image's own
resolution, after the model's threshold and speck filter); datasets without masks get the
share of images with any polyp region and the share the frame verdict calls "polyp". Speed is
``polypviewer bench --size N`` (pipeline frames/s on the bench input), run as a separate
process so it is timed like a user's run; ``--no-bench`` skips it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from polypviewer.engine import fsutil
from polypviewer.engine.media.dataset import Pair, _by_stem, read_split
from polypviewer.engine.media.imageio import read_image, read_mask
from polypviewer.engine.metrics import segmentation_metrics
from polypviewer.engine.runtime.inference import Predictor


def parse_holdout(spec: str) -> tuple[Path, Path | None]:
    """``DATASET[:SPLIT]``; the split is the last ``:``-part when it names a file."""
    head, sep, tail = spec.rpartition(":")
    if sep and head and Path(tail).suffix == ".txt":
        return Path(head), Path(tail)
    return Path(spec), None


def holdout_pairs(root: Path, split: Path | None) -> list[Pair]:
    images_dir = root / "images" if (root / "images").is_dir() else root
    images, masks = _by_stem(images_dir), _by_stem(root / "masks")
    stems = read_split(split) if split is not None else sorted(images)
    missing = [s for s in stems if s not in images]
    if missing:
        raise SystemExit(f"error: {split} lists {len(missing)} image(s) not in {images_dir}, "
                         f"e.g. {missing[0]}")
    return [Pair(s, images[s], masks.get(s)) for s in stems]


def score(predictor: Predictor, pairs: list[Pair], batch: int = 4) -> dict:
    dice, iou, any_region, verdict = [], [], [], []
    positive = any(p.mask is not None for p in pairs)
    for i in range(0, len(pairs), batch):
        chunk = pairs[i:i + batch]
        preds = predictor.predict_batch([read_image(p.image) for p in chunk])
        for p, pred in zip(chunk, preds):
            any_region.append(pred.count > 0)
            verdict.append(pred.frame_positive)
            if p.mask is not None:
                m = segmentation_metrics(pred.mask, read_mask(p.mask))
                dice.append(m["dice"])
                iou.append(m["iou"])
    row = {"n": len(pairs), "frame_positive_rate": float(np.mean(verdict))}
    if positive:
        row.update(dice=float(np.mean(dice)), iou=float(np.mean(iou)))
    else:
        row["any_region_rate"] = float(np.mean(any_region))
    return row


def bench_fps(model: str, size: int, frames: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        cmd = [sys.executable, "-m", "polypviewer", "bench", "--model", model, "--size", str(size),
               "--device", "cpu", "--frames", str(frames), "--rounds", "1",
               "--model-only-batches", "", "--json", str(out), *extra]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:]}
        rep = json.loads(out.read_text(encoding="utf-8"))
    return {"pipeline_fps": rep["pipeline_fps"], "cpu": rep.get("cpu"),
            "backend": rep.get("backend")}


def format_table(table: dict) -> str:
    names = list(next(iter(table["sizes"].values()))["datasets"])
    head = ["size"] + names + ["frames/s"]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for size, row in table["sizes"].items():
        cells = [size]
        for n in names:
            d = row["datasets"][n]
            cells.append(f"Dice {d['dice']:.3f}" if "dice" in d
                         else f"any region {d['any_region_rate']:.1%}, verdict {d['frame_positive_rate']:.1%}")
        fps = row.get("bench", {}).get("pipeline_fps")
        cells.append("" if fps is None else f"{fps:.1f}")
        lines.append(" | ".join(str(c) for c in cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model name or .safetensors path")
    p.add_argument("--holdout", action="append", required=True, metavar="DATASET[:SPLIT]",
                   help="a dataset and the stems to score (repeatable)")
    p.add_argument("--sizes", default="256,320,384,448")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    p.add_argument("--no-bench", action="store_true", help="skip the frames/s measurement")
    p.add_argument("--bench-frames", type=int, default=100)
    p.add_argument("--bench-input", help="video or folder for bench (default: the demo clip)")
    p.add_argument("--json", help="write the table as JSON here")
    a = p.parse_args(argv)
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    sizes = [int(s) for s in a.sizes.split(",")]
    sets = []
    for spec in a.holdout:
        root, split = parse_holdout(spec)
        sets.append((root.name, holdout_pairs(root, split)))
    table = {"model": a.model, "holdouts": a.holdout, "sizes": {}}
    for size in sizes:
        pred = Predictor(a.model, device="cpu", input_size=size)
        row = {"datasets": {name: score(pred, pairs) for name, pairs in sets}}
        if not a.no_bench:
            row["bench"] = bench_fps(a.model, size, a.bench_frames,
                                     [a.bench_input] if a.bench_input else [])
        table["sizes"][str(size)] = row
        print(f"{size}: {json.dumps(row)}", flush=True)
    table["load_average"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    print(format_table(table))
    if a.json:
        fsutil.write_json(a.json, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
