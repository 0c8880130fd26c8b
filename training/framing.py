"""Negatives that look like whole colonoscopy frames, not crops of mucosa.

Every positive training frame (Kvasir-SEG, BKAI) shows the scope's black surround, text and
often a position box, while the no-polyp crops show none of it: a frame head can learn "black
border and text = polyp". ``scripts/framed_negatives.py`` measures that gap (at 256 px the
frame verdict called 8-29 % of framed holdout crops "polyp", against 0.4 % of the plain
crops); drawing some negatives as frames takes the shortcut away.
"""

from __future__ import annotations

import cv2
import numpy as np

ASPECTS = (4 / 3, 5 / 4, 16 / 9, 1.0)  # width / height of the frame before letterboxing
CHARS = list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:/.- ")


def _inside_mask(side: int, cut: float, rng: np.random.Generator) -> np.ndarray:
    """The scope's field of view: a square with cut corners, or a circle."""
    inside = np.zeros((side, side), np.uint8)
    if rng.random() < 0.25:
        cv2.circle(inside, (side // 2, side // 2), side // 2, 1, -1)
        return inside
    c = int(side * cut)
    pts = np.array([[c, 0], [side - c, 0], [side, c], [side, side - c], [side - c, side],
                    [c, side], [0, side - c], [0, c]], np.int32)
    cv2.fillPoly(inside, [pts], 1)
    return inside


def frame_like(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A square (S, S, 3) uint8 mucosa image -> the same mucosa shown as a letterboxed frame.

    Random per call: the frame's aspect, the field of view's size, shape and place, light
    fall-off, lines of text in the margin and a coloured position box. The result has the
    input's size, so it replaces the image in a batch as it is (its mask stays empty).
    """
    s = img.shape[0]
    aspect = ASPECTS[int(rng.integers(len(ASPECTS)))]
    fw, fh = (s, int(round(s / aspect))) if aspect >= 1 else (int(round(s * aspect)), s)
    frame = np.zeros((fh, fw, 3), np.uint8)
    side = max(8, min(fw, int(fh * rng.uniform(0.8, 1.0))))
    view = cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
    if rng.random() < 0.8:  # light falls off towards the rim
        yy, xx = np.mgrid[0:side, 0:side] / side - 0.5
        k = rng.uniform(0.6, 1.6)
        view *= np.clip(1.1 - k * (xx ** 2 + yy ** 2), 0.25, 1.0)[..., None]
    inside = _inside_mask(side, rng.uniform(0.08, 0.2), rng) > 0
    x0 = int(rng.integers(0, fw - side + 1))
    y0 = (fh - side) // 2
    frame[y0:y0 + side, x0:x0 + side][inside] = np.clip(view, 0, 255).astype(np.uint8)[inside]
    margin = (0, x0) if x0 >= fw - side - x0 else (x0 + side, fw)
    if margin[1] - margin[0] > s // 12 and rng.random() < 0.8:  # text in the wider margin
        scale = s / 640 * rng.uniform(0.35, 0.6)
        grey = int(rng.integers(170, 256))
        for k in range(int(rng.integers(2, 8))):
            text = "".join(rng.choice(CHARS, int(rng.integers(4, 14))))
            y = int(fh * (0.06 + 0.1 * k))
            cv2.putText(frame, text, (margin[0] + 2, y), cv2.FONT_HERSHEY_SIMPLEX, scale,
                        (grey, grey, grey), 1, cv2.LINE_AA)
    if rng.random() < 0.3:  # a position box in a lower corner
        b = int(s * rng.uniform(0.1, 0.2))
        bx = 2 if rng.random() < 0.5 else fw - b - 2
        colour = (int(rng.integers(20, 80)), int(rng.integers(110, 200)), int(rng.integers(40, 110)))
        cv2.rectangle(frame, (bx, fh - b - 2), (bx + b, fh - 2), colour, -1)
    out = np.zeros_like(img)
    top, left = (s - fh) // 2, (s - fw) // 2
    out[top:top + fh, left:left + fw] = frame
    return out
