"""Choose a model's frame-verdict operating point on holdout images and store it in the model.

    uv run python scripts/operating_point.py RUN/model.safetensors --size 384 --size 256 \
        --holdout DATA/kvasir-seg:RUN/holdouts/kvasir-seg.txt \
        --holdout DATA/bkai-neopolyp:RUN/holdouts/bkai-neopolyp.txt \
        --holdout DATA/cpchild-nopolyp:RUN/holdouts/cpchild-nopolyp.txt --write

The frame probabilities come from ``polypviewer evaluate`` (the app's analysis); images whose
dataset has masks are positives, the others negatives. The rule is
``engine.models.operating_point.choose_frame_threshold`` (specificity >= 97 % on negatives,
then the logit midpoint to sensitivity >= 98 % on positives); with several ``--size`` (a
model's accurate and fast profiles share the threshold) the floors hold at each
(``choose_frame_threshold_over``).
``--write`` rewrites the model's JSON with ``frame_threshold`` and the figures (the weights,
fast size and tracking values are kept); without it the choice is only printed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from polypviewer.engine.models.modelfile import load_model, save_model
from polypviewer.engine.models.operating_point import choose_frame_threshold_over


def frame_scores(model: str, holdouts: list[str], size: int | None) -> tuple[list, list]:
    roots, splits = [], []
    for spec in holdouts:
        head, sep, tail = spec.rpartition(":")
        root, split = (head, tail) if sep and head and tail.endswith(".txt") else (spec, "-")
        roots.append(root)
        splits += ["--split", split]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "e.json"
        cmd = [sys.executable, "-m", "polypviewer", "evaluate", *roots, *splits, "--model", model,
               "--device", "cpu", "--json", str(out)] + (["--size", str(size)] if size else [])
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"error: evaluate failed: {done.stderr.strip().splitlines()[-1:]}")
        rep = json.loads(out.read_text(encoding="utf-8"))
    rows = rep["per_image"]
    neg = [r["frame_prob"] for r in rows if not r["gt_positive"]]
    pos = [r["frame_prob"] for r in rows if r["gt_positive"]]
    return neg, pos


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="the model's .safetensors path")
    p.add_argument("--holdout", action="append", required=True, metavar="DATASET[:SPLIT]")
    p.add_argument("--size", type=int, action="append",
                   help="analysis size (default: the model's own); repeat for each profile")
    p.add_argument("--write", action="store_true", help="store the choice in the model's JSON")
    a = p.parse_args(argv)
    sizes = a.size or [None]
    op = choose_frame_threshold_over({size: frame_scores(a.model, a.holdout, size)
                                      for size in sizes})
    op["size"] = sizes[0] if len(sizes) == 1 else sizes
    print(json.dumps(op, indent=2))
    if a.write:
        m = load_model(a.model)
        training = dict(m.metadata.get("training") or {})
        training["frame_operating_point"] = op
        save_model(a.model, m.model, m.config, threshold=m.threshold, name=m.name,
                   description=m.metadata.get("description", ""), training=training,
                   frame_threshold=op["frame_threshold"],
                   fast_size=m.metadata.get("fast_size"), tracking=m.metadata.get("tracking"))
        print(f"wrote frame_threshold {op['frame_threshold']:.4f} into {Path(a.model).with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
