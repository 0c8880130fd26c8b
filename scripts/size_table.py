"""Holdout accuracy per dataset and CPU speed at several analysis sizes: the table behind the
choice of a model's default size.

    uv run python scripts/size_table.py --model RUN/model.safetensors \
        --holdout DATA/kvasir-seg:RUN/holdouts/kvasir-seg.txt \
        --holdout DATA/bkai-neopolyp:RUN/holdouts/bkai-neopolyp.txt \
        --holdout DATA/cpchild-nopolyp:RUN/holdouts/cpchild-nopolyp.txt \
        --sizes 256,320,384,448 --tta off --json size_table.json

Each size is one ``polypviewer evaluate DATASET... --split ... --size N`` (the app's own
analysis and metrics, with the test-time views ``--tta`` names: ``auto`` scores the holdout
stills as the app does, ``off`` as it analyses video) and one ``polypviewer bench --size N``
(pipeline frames/s on the bench input), each a separate process so it is timed like a
user's run; ``--no-bench`` skips speed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from polypviewer.engine import fsutil
from polypviewer.engine.runtime import views


def parse_holdout(spec: str) -> tuple[Path, Path | None]:
    """``DATASET[:SPLIT]``; the split is the last ``:``-part when it names a file."""
    head, sep, tail = spec.rpartition(":")
    if sep and head and Path(tail).suffix == ".txt":
        return Path(head), Path(tail)
    return Path(spec), None


def _run_json(args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        done = subprocess.run([sys.executable, "-m", "polypviewer", *args, "--json", str(out)],
                              capture_output=True, text=True)
        if done.returncode != 0 or not out.is_file():
            return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:]}
        return json.loads(out.read_text(encoding="utf-8"))


def evaluate_at(model: str, holdouts: list[tuple[Path, Path | None]], size: int,
                tta: str = views.AUTO) -> dict:
    args = ["evaluate", *[str(r) for r, _ in holdouts], "--model", model, "--size", str(size),
            "--device", "cpu", "--tta", tta]
    for _, split in holdouts:
        args += ["--split", str(split) if split else "-"]
    rep = _run_json(args)
    if "error" in rep:
        return {"datasets": rep}
    return {"datasets": {row["name"]: row for row in rep["table"]["datasets"]},
            "tta": rep.get("tta")}  # the views evaluate used, as it reports them


def bench_fps(model: str, size: int, frames: int, extra: list[str]) -> dict:
    rep = _run_json(["bench", "--model", model, "--size", str(size), "--device", "cpu",
                     "--frames", str(frames), "--rounds", "1", "--model-only-batches", "", *extra])
    if "error" in rep:
        return rep
    return {"pipeline_fps": rep["pipeline_fps"], "cpu": rep.get("cpu"),
            "backend": rep.get("backend")}


def _cell(d: dict) -> str:
    if d.get("n_polyp"):
        s = f"Dice {d['dice']:.3f}"
        if d.get("cadx_accuracy") is not None:
            s += f", CADx acc {d['cadx_accuracy']:.3f} / AUC {d['cadx_auc']:.3f}"
        return s
    return (f"any region {d['no_polyp_with_region']:.1%}, "
            f"frame spec {d['frame_specificity']:.1%}")


def format_table(table: dict) -> str:
    rows = [r for r in table["sizes"].values() if "error" not in r["datasets"]]
    names = list(rows[0]["datasets"]) if rows else []
    head = ["size"] + names + ["frames/s"]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for size, row in table["sizes"].items():
        if "error" in row["datasets"]:
            lines.append(f"{size} | error: {row['datasets']['error']}")
            continue
        fps = row.get("bench", {}).get("pipeline_fps")
        cells = [size, *(_cell(row["datasets"][n]) for n in names),
                 "" if fps is None else f"{fps:.1f}"]
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model name or .safetensors path")
    p.add_argument("--holdout", action="append", required=True, metavar="DATASET[:SPLIT]",
                   help="a dataset and the stems to score (repeatable)")
    p.add_argument("--sizes", default="256,320,384,448")
    p.add_argument("--tta", choices=views.CHOICES, default=views.AUTO,
                   help="test-time views for the holdout scores (default auto: as for stills)")
    p.add_argument("--no-bench", action="store_true", help="skip the frames/s measurement")
    p.add_argument("--bench-frames", type=int, default=100)
    p.add_argument("--bench-input", help="video or folder for bench (default: the demo clip)")
    p.add_argument("--json", help="write the table as JSON here")
    a = p.parse_args(argv)
    holdouts = [parse_holdout(s) for s in a.holdout]
    table = {"model": a.model, "holdouts": a.holdout, "tta": a.tta, "sizes": {}}
    for size in (int(s) for s in a.sizes.split(",")):
        row = evaluate_at(a.model, holdouts, size, a.tta)
        if not a.no_bench:
            row["bench"] = bench_fps(a.model, size, a.bench_frames,
                                     [a.bench_input] if a.bench_input else [])
        table["sizes"][str(size)] = row
        print(f"{size}: done", flush=True)
    table["load_average"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    print(format_table(table))
    if a.json:
        fsutil.write_json(a.json, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
