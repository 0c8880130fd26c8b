"""Do no-polyp crops understate false alarms on whole frames? Measure it on a holdout.

    uv run python scripts/framed_negatives.py DATA/cpchild-nopolyp RUN/holdouts/cpchild-nopolyp.txt \
        [--model NAME|PATH] [--size PX] [--json OUT] [--save-example PNG]

Each crop is scored as it is, then placed in a 640x480 frame the way a colonoscope shows it:
black surround with cut corners, light fall-off towards the rim, white text in the margin and
a green position box in a corner. The model counts as having a crop-vs-frame gap when the
framed versions get more polyp regions or positive frame verdicts than the plain crops; then
training negatives should be framed too.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from polypviewer.engine.media.imageio import read_image
from polypviewer.engine.runtime.inference import Predictor

FRAME_H, FRAME_W = 480, 640
TEXT = list("ABCDEFGH0123456789:/ ")
# name -> (text in the margin, green position box, light fall-off); None = the plain crop
VARIANTS = {"plain crop": None, "framed": (False, False, False),
            "framed + fall-off": (False, False, True), "framed + fall-off + text": (True, False, True),
            "framed + fall-off + text + green box": (True, True, True)}


def framed(rgb: np.ndarray, text: bool, green: bool, falloff: bool,
           rng: np.random.Generator) -> np.ndarray:
    out = np.zeros((FRAME_H, FRAME_W, 3), np.uint8)
    side = int(FRAME_H * 0.92)
    x0, y0 = FRAME_W - side - 20, (FRAME_H - side) // 2
    img = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    if falloff:
        yy, xx = np.mgrid[0:side, 0:side] / side - 0.5
        img *= np.clip(1.15 - 1.2 * (xx ** 2 + yy ** 2), 0.3, 1.0)[..., None]
    c = side // 7
    corners = np.array([[c, 0], [side - c, 0], [side, c], [side, side - c], [side - c, side],
                        [c, side], [0, side - c], [0, c]])
    inside = np.zeros((side, side), np.uint8)
    cv2.fillPoly(inside, [corners], 1)
    region = out[y0:y0 + side, x0:x0 + side]
    region[inside > 0] = np.clip(img, 0, 255).astype(np.uint8)[inside > 0]
    if text:
        for k in range(5):
            cv2.putText(out, "".join(rng.choice(TEXT, 10)), (6, 30 + 28 * k),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.5, (230, 230, 230), 1)
    if green:
        cv2.rectangle(out, (8, FRAME_H - 110), (120, FRAME_H - 8), (40, 140, 60), -1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("negatives", type=Path, help="a negatives dataset (images/ without masks)")
    ap.add_argument("holdout", type=Path, help="file with one image stem per line")
    ap.add_argument("--model")
    ap.add_argument("--size", help="analysis size in pixels or a profile (default: the model's own)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--save-example", type=Path, help="write the first framed image here")
    args = ap.parse_args(argv)
    pred = Predictor(args.model, device="cpu", input_size=args.size)
    stems = args.holdout.read_text().split()
    images = {p.stem: p for p in (args.negatives / "images").iterdir()}
    rows = {}
    last = list(VARIANTS)[-1]  # the fullest framing: the one worth looking at
    for name, spec in VARIANTS.items():
        rng = np.random.default_rng(0)
        regions = positives = 0
        for k, stem in enumerate(stems):
            rgb = read_image(images[stem])
            frame = rgb if spec is None else framed(rgb, *spec, rng)
            if args.save_example and name == last and k == 0:
                cv2.imwrite(str(args.save_example), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            out = pred.predict(frame)
            regions += out.count > 0
            positives += out.frame_positive
        rows[name] = {"images": len(stems), "with_region": regions / len(stems),
                      "frame_positive": positives / len(stems)}
        print(f"{name:38s} with a region {100 * rows[name]['with_region']:5.1f} %   "
              f"frame verdict polyp {100 * rows[name]['frame_positive']:5.1f} %", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"model": pred.name, "size": pred.config.input_size,
                                         "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
