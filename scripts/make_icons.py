"""Write the app icon: an SVG (packaging/ and resources/icons/) and a 256 px PNG drawn with OpenCV.

    uv run python scripts/make_icons.py

Why OpenCV and not Qt: the icon must be reproducible in a headless build. The PNG is drawn at
4x and downsampled, which anti-aliases it, and follows the SVG's geometry.
Design: a scope view (ring) onto pink mucosa with a dark lumen and a polyp circled in green.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

# geometry on a 256 grid: (cx, cy, r)
BG_RADIUS = 48
FIELD = (128, 128, 90)
LUMEN = (108, 106, 30)
POLYP = (160, 160, 25)
OUTLINE_R, OUTLINE_W = 35, 8
RING_W = 12
COLOURS = {"bg": "#13343b", "ring": "#e6eef0", "mucosa_in": "#f2a48f", "mucosa_out": "#b8474a",
           "lumen": "#4a1519", "polyp": "#f7c9b0", "outline": "#37d98b"}

SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">
  <title>PolypViewer</title>
  <defs>
    <radialGradient id="mucosa" cx="0.45" cy="0.42" r="0.6">
      <stop offset="0" stop-color="{mucosa_in}"/>
      <stop offset="1" stop-color="{mucosa_out}"/>
    </radialGradient>
    <radialGradient id="lumen" cx="0.5" cy="0.5" r="0.5">
      <stop offset="0" stop-color="{lumen}"/>
      <stop offset="1" stop-color="{lumen}" stop-opacity="0"/>
    </radialGradient>
  </defs>
  <rect x="8" y="8" width="240" height="240" rx="{bg_r}" fill="{bg}"/>
  <circle cx="{fx}" cy="{fy}" r="{fr}" fill="url(#mucosa)"/>
  <circle cx="{lx}" cy="{ly}" r="{lr2}" fill="url(#lumen)"/>
  <circle cx="{px}" cy="{py}" r="{pr}" fill="{polyp}"/>
  <circle cx="{px}" cy="{py}" r="{or_}" fill="none" stroke="{outline}" stroke-width="{ow}"/>
  <circle cx="{fx}" cy="{fy}" r="{fr}" fill="none" stroke="{ring}" stroke-width="{rw}"/>
</svg>
"""


def svg() -> str:
    return SVG.format(bg_r=BG_RADIUS, fx=FIELD[0], fy=FIELD[1], fr=FIELD[2], lx=LUMEN[0], ly=LUMEN[1],
                      lr2=LUMEN[2] * 2, px=POLYP[0], py=POLYP[1], pr=POLYP[2], or_=OUTLINE_R,
                      ow=OUTLINE_W, rw=RING_W, **COLOURS)


def _bgr(hex_colour: str) -> np.ndarray:
    h = hex_colour.lstrip("#")
    return np.array([int(h[4:6], 16), int(h[2:4], 16), int(h[0:2], 16)], np.float32)


def png(size: int = 256) -> np.ndarray:
    """BGRA icon following the SVG above."""
    k = 4 * size / 256  # supersampling factor in grid units
    n = 4 * size
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / k  # pixel centres in 256-grid units
    img = np.zeros((n, n, 3), np.float32)
    alpha = np.zeros((n, n), np.float32)

    def paint(where: np.ndarray, colour, a: np.ndarray | float = 1.0):
        w = where.astype(np.float32) * a
        img[:] = img * (1 - w[..., None]) + np.asarray(colour, np.float32) * w[..., None]
        alpha[:] = np.maximum(alpha, where.astype(np.float32))

    # rounded square
    qx = np.clip(np.abs(xx - 128) - (120 - BG_RADIUS), 0, None)
    qy = np.clip(np.abs(yy - 128) - (120 - BG_RADIUS), 0, None)
    paint(np.hypot(qx, qy) <= BG_RADIUS, _bgr(COLOURS["bg"]))
    # mucosa with a radial gradient
    fx, fy, fr = FIELD
    d = np.hypot(xx - fx, yy - fy)
    gx, gy = fx - fr + 2 * fr * 0.45, fy - fr + 2 * fr * 0.42  # the SVG gradient's centre
    g = np.clip(np.hypot(xx - gx, yy - gy) / (1.2 * fr), 0, 1)[..., None]
    mucosa = _bgr(COLOURS["mucosa_in"]) * (1 - g) + _bgr(COLOURS["mucosa_out"]) * g
    inside = d <= fr
    img[inside] = mucosa[inside]
    # lumen: soft dark blob
    lx, ly, lr = LUMEN
    soft = np.clip(1 - np.hypot(xx - lx, yy - ly) / (2 * lr), 0, 1)
    paint(inside, _bgr(COLOURS["lumen"]), soft)
    # polyp and its segmentation outline
    px, py, pr = POLYP
    dp = np.hypot(xx - px, yy - py)
    paint(dp <= pr, _bgr(COLOURS["polyp"]))
    paint(np.abs(dp - OUTLINE_R) <= OUTLINE_W / 2, _bgr(COLOURS["outline"]))
    # scope ring
    paint(np.abs(d - fr) <= RING_W / 2, _bgr(COLOURS["ring"]))
    bgra = np.dstack([img, alpha * 255])
    small = cv2.resize(bgra, (size, size), interpolation=cv2.INTER_AREA)
    # outside the shape colour is 0, so edge pixels are premultiplied: divide by alpha
    a = small[..., 3:4] / 255.0
    small[..., :3] = np.where(a > 0, small[..., :3] / np.maximum(a, 1e-6), 0)
    return np.clip(small + 0.5, 0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = ap.parse_args(argv)
    text = svg()
    for folder in (args.root / "packaging", args.root / "resources" / "icons"):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "polypviewer.svg").write_text(text, encoding="utf-8")
    cv2.imwrite(str(args.root / "resources" / "icons" / "polypviewer.png"), png(256),
                [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print("icons written")


if __name__ == "__main__":
    main()
