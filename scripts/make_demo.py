"""Build the bundled samples from a Kvasir-SEG copy: a 6-image dataset and a short demo clip.

    uv run python scripts/make_demo.py --kvasir PATH_TO_KVASIR_SEG --out resources/samples

Why a synthetic clip: we may not redistribute procedure videos, but Kvasir-SEG images may be
shared for research and education. Slow virtual pans, zooms and small rotations over the images,
with stretches over polyp-free mucosa in between, give the viewer's timeline real findings and
real gaps. The exact per-frame ground truth of the clip is saved beside it (``demo_masks.npz``).
Only validation-split images are used, so no sample was ever seen in training.
Deterministic: same input, same output.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# Varied validation images (ordered by polyp size, one with two polyps and darker lighting).
DEFAULT_STEMS = (
    "cjyzkpsbjdsjq07211dfi4sru",  # small, far
    "cju33jon3ygbj0993pu22a4k6",  # small, at the lower edge
    "cju33w4sdcivk0855x879zht7",  # medium, pedunculated
    "cju8czvnztbf40871b4m7t78w",  # medium, flat
    "cju32zhbnc1oy0801iyv1ix6p",  # large
    "cju884985nlmx0817vzpax3y4",  # two small polyps, orange light
)
OUT_W, OUT_H, FPS = 640, 480, 25
LONGEST = 640
JPEG_QUALITY = 90

README = """\
# Bundled samples

`kvasir/` is a tiny dataset in PolypViewer's layout (`images/` + `masks/`, masks PNG 0/255):
six images of the Kvasir-SEG validation split, resized to at most 640 px, with their masks.

`demo.mp4` ({seconds:.1f} s, {w}x{h}, {fps} fps, {frames} frames) is a synthetic "procedure":
slow virtual pans, zooms and small rotations across those images, with stretches over polyp-free
mucosa in between, so that the findings timeline shows findings and gaps. It is not a real video.
`demo_masks.npz` holds its exact per-frame ground truth: `masks` (bit-packed with
`numpy.packbits` along the last axis, unpack with `np.unpackbits(masks, axis=-1)[..., :{w}]`),
`has_polyp` (bool per frame) and `source` (the image stem shown in each frame).

Made by `scripts/make_demo.py` from Kvasir-SEG.

## Attribution and terms

Kvasir-SEG: Debesh Jha, Pia H. Smedsrud, Michael A. Riegler, Pål Halvorsen, Thomas de Lange,
Dag Johansen and Håvard D. Johansen. "Kvasir-SEG: A Segmented Polyp Dataset".
In: MultiMedia Modeling (MMM 2020), LNCS 11962, Springer, pp. 451-462.
https://doi.org/10.1007/978-3-030-37734-2_37 - dataset by Simula Research Laboratory,
https://datasets.simula.no/kvasir-seg/

The images and masks (and the clip derived from them) are used under the dataset's terms:
research and educational use only; commercial use needs permission from the authors.
If you use them, cite the paper above. These terms, not PolypViewer's licence, apply to the
files in this folder.
"""


def read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        sys.exit(f"cannot read {path}")
    return img  # BGR: only OpenCV sees these pixels


def find_file(folder: Path, stem: str) -> Path:
    for ext in (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"):
        if (folder / f"{stem}{ext}").is_file():
            return folder / f"{stem}{ext}"
    sys.exit(f"{stem} not found in {folder}")


def check_validation(kvasir: Path, stems: list[str]) -> None:
    """Refuse any image from the training split: samples must be unseen by the models."""
    split = kvasir / "splits" / "val.txt"
    if not split.is_file():
        sys.exit(f"{split} not found: samples are chosen from the validation split only")
    val = {s.strip() for s in split.read_text().split()}
    bad = [s for s in stems if s not in val]
    if bad:
        sys.exit(f"not in the validation split: {', '.join(bad)}")


def save_samples(kvasir: Path, stems: list[str], out: Path) -> None:
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    for stem in stems:
        img = read_rgb(find_file(kvasir / "images", stem))
        mask = cv2.imread(str(find_file(kvasir / "masks", stem)), cv2.IMREAD_GRAYSCALE)
        scale = LONGEST / max(img.shape[:2])
        if scale < 1:
            size = (round(img.shape[1] * scale), round(img.shape[0] * scale))
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            mask = cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR)
        mask = np.where(mask > 127, 255, 0).astype(np.uint8)
        cv2.imwrite(str(out / "images" / f"{stem}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        cv2.imwrite(str(out / "masks" / f"{stem}.png"), mask, [cv2.IMWRITE_PNG_COMPRESSION, 9])


# -- the clip ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class View:
    """Virtual scope pose over a source image: centre (px), zoom (1 = whole image), angle (deg)."""

    cx: float
    cy: float
    zoom: float
    angle: float


def ease(t: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * min(max(t, 0.0), 1.0))


def lerp(a: View, b: View, t: float) -> View:
    e = ease(t)
    return View(*(x + (y - x) * e for x, y in zip((a.cx, a.cy, a.zoom, a.angle),
                                                     (b.cx, b.cy, b.zoom, b.angle))))


def view_matrix(v: View, shape: tuple[int, int]) -> np.ndarray:
    """Affine source -> output for view ``v`` on an image of ``shape`` (h, w)."""
    base = max(shape[1] / OUT_W, shape[0] / OUT_H)  # zoom 1: the whole image fits
    s = v.zoom / base
    m = cv2.getRotationMatrix2D((v.cx, v.cy), v.angle, s)
    m[:, 2] += (OUT_W / 2 - v.cx, OUT_H / 2 - v.cy)
    return m


def polyp_view(mask: np.ndarray) -> View:
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    bw, bh = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    base = max(w / OUT_W, h / OUT_H)
    zoom = min(OUT_W * base / (bw * 2.2), OUT_H * base / (bh * 2.2))
    return View(float(xs.min() + bw / 2), float(ys.min() + bh / 2), float(np.clip(zoom, 1.2, 3.0)), 0.0)


def clear_view(img: np.ndarray, mask: np.ndarray) -> View:
    """A polyp-free window showing mostly mucosa (no overlays), far from the polyp."""
    h, w = mask.shape
    base = max(w / OUT_W, h / OUT_H)
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    # not mucosa: dark borders, black boxes, the green scope-position inset, white overlay text
    bad = ((val < 50) | ((hue > 25) & (hue < 150)) | ((sat < 50) & (val > 170))).astype(np.float32)
    ys, xs = np.nonzero(mask)
    pc = np.array([xs.mean(), ys.mean()])
    best, best_key = None, None
    for zoom in (2.2, 2.9, 3.8, 5.0):
        hw, hh = OUT_W * base / zoom / 2, OUT_H * base / zoom / 2
        for cy in np.linspace(hh, h - hh, 15):
            for cx in np.linspace(hw, w - hw, 15):
                y0, y1, x0, x1 = int(cy - hh), int(cy + hh), int(cx - hw), int(cx + hw)
                if mask[y0:y1, x0:x1].any():
                    continue
                frac = float(bad[y0:y1, x0:x1].mean())
                # prefer clean windows, then low zoom, then distance from the polyp
                key = (frac > 0.05, round(frac, 2) if frac > 0.05 else 0, zoom,
                       -float(np.hypot(cx - pc[0], cy - pc[1])))
                if best_key is None or key < best_key:
                    best, best_key = View(float(cx), float(cy), zoom, 0.0), key
    if best is None:
        sys.exit("no polyp-free window in an image: choose another stem")
    return best


def render(img, mask, v: View, blur: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    m = view_matrix(v, mask.shape)
    frame = cv2.warpAffine(img, m, (OUT_W, OUT_H), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    gt = cv2.warpAffine(mask, m, (OUT_W, OUT_H), flags=cv2.INTER_NEAREST, borderValue=0) > 127
    if blur > 0.3:
        frame = cv2.GaussianBlur(frame, (0, 0), blur)
    return frame, gt


def make_clip(kvasir: Path, stems: list[str], out: Path) -> dict:
    """Write demo.mp4 and demo_masks.npz; return a summary."""
    items = []
    for stem in stems:
        img = read_rgb(find_file(kvasir / "images", stem))
        mask = cv2.imread(str(find_file(kvasir / "masks", stem)), cv2.IMREAD_GRAYSCALE)
        mask = np.where(mask > 127, 255, 0).astype(np.uint8)
        items.append((stem, img, mask, clear_view(img, mask), polyp_view(mask)))

    frames: list[tuple[np.ndarray, np.ndarray, str]] = []

    def seg(k: int, a: View, b: View, n: int, blur=lambda t: 0.0):
        stem, img, mask = items[k][:3]
        for i in range(n):
            t = i / max(n - 1, 1)
            f, g = render(img, mask, lerp(a, b, t), blur(t))
            frames.append((f, g, stem))

    def drift(v: View, dx: float, dy: float, dz: float = 0.0, da: float = 0.0) -> View:
        return View(v.cx + dx, v.cy + dy, v.zoom * (1 + dz), v.angle + da)

    for k, (_stem, img, mask, clear, polyp) in enumerate(items):
        if k == 0:  # the scope comes into focus on mucosa
            seg(0, drift(clear, -30, 10, -0.1), clear, 15, lambda t: 6 * (1 - t))
        approach = View(polyp.cx, polyp.cy, polyp.zoom * 0.8, polyp.angle - 6)
        seg(k, clear, approach, 16)
        seg(k, approach, drift(polyp, 8, -6, 0.15, 5), 16)
        seg(k, drift(polyp, 8, -6, 0.15, 5), clear, 10)
        if k == 2:  # a longer stretch without findings: slow wander with motion blur
            away = np.array([clear.cx - polyp.cx, clear.cy - polyp.cy])
            dx, dy = 25 * away / max(float(np.hypot(*away)), 1.0)
            wander = drift(clear, dx, dy, 0.35, -4)  # closer in and away: the polyp stays out
            seg(k, clear, wander, 20, lambda t: 2.5 * math.sin(math.pi * t))
            seg(k, wander, clear, 20, lambda t: 2.5 * math.sin(math.pi * t))
        if k + 1 < len(items):  # blurred dissolve to the next image's mucosa
            nxt = items[k + 1]
            for i in range(8):
                t = ease((i + 1) / 9)
                f1, _ = render(img, mask, clear, 4 * t)
                f2, _ = render(nxt[1], nxt[2], nxt[3], 4 * (1 - t))
                stem_shown = items[k][0] if t < 0.5 else nxt[0]
                frames.append((cv2.addWeighted(f1, 1 - t, f2, t, 0), np.zeros((OUT_H, OUT_W), bool),
                               stem_shown))

    path = out / "demo.mp4"
    writer = None
    for fourcc in ("avc1", "mp4v"):
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, (OUT_W, OUT_H))
        if writer.isOpened():
            break
        writer.release()
    if writer is None or not writer.isOpened():
        sys.exit("OpenCV cannot write mp4 here")
    for f, _, _ in frames:
        writer.write(f)
    writer.release()
    masks = np.stack([g for _, g, _ in frames])
    np.savez_compressed(out / "demo_masks.npz", masks=np.packbits(masks, axis=-1),
                        has_polyp=masks.any(axis=(1, 2)), source=np.array([s for *_, s in frames]),
                        fps=np.float32(FPS), width=np.int32(OUT_W))
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    if n != len(frames):
        sys.exit(f"demo.mp4 reads back {n} frames, wrote {len(frames)}")
    return {"frames": len(frames), "fourcc": fourcc, "with_polyp": int(masks.any(axis=(1, 2)).sum())}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kvasir", type=Path, required=True, help="Kvasir-SEG root (images/, masks/, splits/)")
    ap.add_argument("--out", type=Path, default=Path("resources/samples"))
    ap.add_argument("--stems", nargs="+", default=list(DEFAULT_STEMS), help="validation images to use")
    args = ap.parse_args(argv)
    check_validation(args.kvasir, args.stems)
    args.out.mkdir(parents=True, exist_ok=True)
    save_samples(args.kvasir, args.stems, args.out / "kvasir")
    info = make_clip(args.kvasir, args.stems, args.out)
    (args.out / "README.md").write_text(README.format(seconds=info["frames"] / FPS, w=OUT_W, h=OUT_H,
                                                      fps=FPS, frames=info["frames"]), encoding="utf-8")
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{info['frames']} frames ({info['with_polyp']} with a polyp), codec {info['fourcc']}, "
          f"{total / 1e6:.2f} MB in {args.out}")


if __name__ == "__main__":
    main()
