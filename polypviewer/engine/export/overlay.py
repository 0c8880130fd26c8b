"""Draw what the model says on a frame: the one renderer behind the viewer, exports and videos.

Colours come from the Okabe-Ito palette, chosen to stay distinguishable with the common
colour-vision deficiencies and against reddish mucosa:

* prediction: orange fill, yellow contour/boxes (warm = "the model says");
* ground truth: sky-blue contour (cool = "the reference says");
* comparison: TP bluish green, FP vermillion (prediction only), FN blue (reference only).

Every function returns a new array and never touches its input. Per-frame cost stays small
(it runs at video rate): cv2 primitives, one copy of the frame, blends restricted to the
bounding box of the mask.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

RGB = tuple[int, int, int]

ORANGE: RGB = (230, 159, 0)
YELLOW: RGB = (240, 228, 66)
SKY_BLUE: RGB = (86, 180, 233)
BLUISH_GREEN: RGB = (0, 158, 115)
VERMILLION: RGB = (213, 94, 0)
BLUE: RGB = (0, 114, 178)
GREY: RGB = (200, 200, 200)

COLORMAPS = {"jet": cv2.COLORMAP_JET, "turbo": cv2.COLORMAP_TURBO}


@dataclass(frozen=True)
class OverlayStyle:
    """Which layers to draw and how; sizes are relative so 4K and 320p look alike."""

    mask: bool = True
    contours: bool = True
    boxes: bool = True
    labels: bool = True  # confidence (and track ID) above each box
    gt: bool = True  # ground-truth contour when a GT mask is given
    heatmap: bool = True  # Grad-CAM blend when a heatmap is given
    badge: bool = True  # frame verdict in the top-left corner
    mask_colour: RGB = ORANGE
    contour_colour: RGB = YELLOW
    box_colour: RGB = YELLOW
    gt_colour: RGB = SKY_BLUE
    tp_colour: RGB = BLUISH_GREEN
    fp_colour: RGB = VERMILLION
    fn_colour: RGB = BLUE
    opacity: float = 0.35  # mask fill
    heatmap_opacity: float = 0.45
    colormap: str = "turbo"  # or "jet"
    line_width: float = 2.0  # pixels on a 480-pixel-high frame, scaled with the frame
    font_scale: float = 1.0

    def thickness(self, shape: tuple[int, ...]) -> int:
        return max(1, int(round(self.line_width * min(shape[:2]) / 480)))

    def text_scale(self, shape: tuple[int, ...]) -> float:
        return max(0.35, self.font_scale * min(shape[:2]) / 900)

    def only(self, *layers: str) -> "OverlayStyle":
        """A copy with just the named layers on, e.g. ``style.only("mask", "contours")``."""
        names = ("mask", "contours", "boxes", "labels", "gt", "heatmap", "badge")
        unknown = set(layers) - set(names)
        if unknown:
            raise ValueError(f"unknown overlay layers: {sorted(unknown)}")
        return replace(self, **{n: n in layers for n in names})


DEFAULT_STYLE = OverlayStyle()


def _bbox_of(mask: np.ndarray, hint: tuple[int, int, int, int] | None = None
             ) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1) of the set pixels, searched inside ``hint`` if given."""
    hx, hy = (hint[0], hint[1]) if hint else (0, 0)
    sub = mask[hint[1]:hint[3], hint[0]:hint[2]] if hint else mask
    pts = cv2.findNonZero(sub.view(np.uint8) if sub.dtype == np.bool_ else sub)
    if pts is None:
        return None
    x, y, w, h = cv2.boundingRect(pts)
    return hx + x, hy + y, hx + x + w, hy + y + h


def _union(boxes) -> tuple[int, int, int, int] | None:
    boxes = list(boxes)
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes))


def _masked_copy(src: np.ndarray, mask_u8: np.ndarray, dst: np.ndarray) -> None:
    """dst[mask] = src[mask] in place; cv2.copyTo is ~100x faster than np.copyto(where=)."""
    res = cv2.copyTo(src, np.ascontiguousarray(mask_u8), dst)
    if res.ctypes.data != dst.ctypes.data:  # OpenCV had to reallocate: copy back
        dst[...] = res


def _fill_into(out: np.ndarray, mask: np.ndarray, colour: RGB, alpha: float,
               box: tuple[int, int, int, int] | None) -> None:
    """Blend ``colour`` into ``out`` where ``mask`` is set (in place, only inside ``box``)."""
    if box is None or alpha <= 0:
        return
    x0, y0, x1, y1 = box
    roi = out[y0:y1, x0:x1]
    tint = np.empty_like(roi)
    tint[:] = colour
    blended = cv2.addWeighted(roi, 1.0 - alpha, tint, alpha, 0.0)
    m = mask[y0:y1, x0:x1]
    _masked_copy(blended, m.view(np.uint8) if m.dtype == np.bool_ else (m > 0).view(np.uint8), roi)


def _contours_into(out: np.ndarray, mask: np.ndarray, colour: RGB, thickness: int,
                   box: tuple[int, int, int, int] | None) -> None:
    if box is None:
        return
    x0, y0, x1, y1 = box
    sub = mask[y0:y1, x0:x1]
    m = np.ascontiguousarray(sub.view(np.uint8) if sub.dtype == np.bool_ else (sub > 0).astype(np.uint8))
    contours, _ = cv2.findContours(m, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE, offset=(x0, y0))
    if contours:
        # anti-aliasing a 1-pixel line only washes its colour out
        cv2.drawContours(out, contours, -1, colour, thickness,
                         cv2.LINE_AA if thickness >= 2 else cv2.LINE_8)


def _text_into(out: np.ndarray, text: str, org: tuple[int, int], scale: float, colour: RGB,
               background: RGB | None = (0, 0, 0)) -> None:
    """Text on a solid background box, clamped inside the frame, readable on any tissue."""
    thick = max(1, int(round(scale * 2)))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    h, w = out.shape[:2]
    pad = max(2, thick * 2)
    x = min(max(0, org[0]), max(0, w - tw - 2 * pad))
    y = min(max(th + 2 * pad, org[1]), h)  # org is the bottom-left of the label box
    if background is not None:
        cv2.rectangle(out, (x, y - th - base - 2 * pad), (x + tw + 2 * pad, y), background, -1)
    cv2.putText(out, text, (x + pad, y - base - pad), cv2.FONT_HERSHEY_SIMPLEX, scale, colour,
                thick, cv2.LINE_AA)


def verdict_text(pred) -> str:
    """"Polyp 0.97 | 2 polyps" or "No polyp": the viewer's badge in ASCII (one vocabulary)."""
    if pred.count:
        polyps = f"{pred.count} polyp" + ("s" if pred.count > 1 else "")
        return f"Polyp {pred.frame_prob:.2f} | {polyps}"
    return "No polyp"


_LUTS: dict[str, np.ndarray] = {}


def _lut(colormap: str) -> np.ndarray:
    """(256, 1, 3) RGB lookup table of an OpenCV colormap, built once."""
    if colormap not in COLORMAPS:
        raise ValueError(f"unknown colormap {colormap!r} (use {', '.join(COLORMAPS)})")
    if colormap not in _LUTS:
        ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
        _LUTS[colormap] = cv2.cvtColor(cv2.applyColorMap(ramp, COLORMAPS[colormap]), cv2.COLOR_BGR2RGB)
    return _LUTS[colormap]


def heatmap_colours(heatmap: np.ndarray, shape: tuple[int, int], colormap: str = "turbo") -> np.ndarray:
    """A [0, 1] heatmap (any size) -> RGB uint8 colour image of ``shape`` (H, W).

    Colours are looked up at the heatmap's own (small) size, then resized as uint8: the
    expensive part never runs at full frame size in float.
    """
    lut = _lut(colormap)
    u8 = np.clip(np.nan_to_num(heatmap.astype(np.float32)) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    colours = lut[u8.reshape(-1)].reshape(u8.shape[0], u8.shape[1], 3)
    if colours.shape[:2] != tuple(shape[:2]):
        colours = cv2.resize(colours, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return colours


def blend_heatmap(rgb: np.ndarray, heatmap: np.ndarray, opacity: float = 0.45,
                  colormap: str = "turbo") -> np.ndarray:
    """Grad-CAM style blend of the whole frame with a colour-mapped heatmap."""
    colours = heatmap_colours(heatmap, rgb.shape[:2], colormap)
    return cv2.addWeighted(rgb, 1.0 - opacity, colours, opacity, 0.0)


def draw_overlay(rgb: np.ndarray, pred=None, *, style: OverlayStyle = DEFAULT_STYLE,
                 gt_mask: np.ndarray | None = None, heatmap: np.ndarray | None = None,
                 track_ids: list[int] | None = None) -> np.ndarray:
    """The frame with the chosen layers: heatmap, mask fill, contours, GT, boxes, badge.

    ``pred`` is a FramePrediction (or None to draw only GT/heatmap); ``track_ids`` aligns with
    ``pred.instances`` (0 = no ID shown).
    """
    if style.heatmap and heatmap is not None:
        out = blend_heatmap(rgb, heatmap, style.heatmap_opacity, style.colormap)
    else:
        out = rgb.copy()
    t = style.thickness(out.shape)
    scale = style.text_scale(out.shape)
    if pred is not None and (style.mask or style.contours):
        mask = pred.mask if pred.mask.dtype == np.bool_ else pred.mask > 0
        # a prediction's mask is cleaned of specks, so its regions' boxes bound it: search
        # only there; a bare mask (no instances) is searched whole
        hint = _union(i.bbox for i in pred.instances) if pred.instances else None
        box = _bbox_of(mask, hint)
        if style.mask:
            _fill_into(out, mask, style.mask_colour, style.opacity, box)
        if style.contours:
            _contours_into(out, mask, style.contour_colour, t, box)
    if style.gt and gt_mask is not None:
        _contours_into(out, gt_mask, style.gt_colour, t, _bbox_of(gt_mask))
    if pred is not None and (style.boxes or style.labels):
        for k, inst in enumerate(pred.instances):
            x0, y0, x1, y1 = inst.bbox
            if style.boxes:
                cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), style.box_colour, t, cv2.LINE_8)
            if style.labels:
                tid = track_ids[k] if track_ids is not None and k < len(track_ids) else 0
                label = f"#{tid} {inst.confidence:.2f}" if tid else f"{inst.confidence:.2f}"
                _text_into(out, label, (x0, y0 - t), scale * 0.8, style.box_colour)
    if style.badge and pred is not None:
        colour = style.box_colour if pred.instances else GREY
        _text_into(out, verdict_text(pred), (0, 0), scale, colour)
    return out


def compare_overlay(rgb: np.ndarray, pred_mask: np.ndarray, gt_mask: np.ndarray, *,
                    style: OverlayStyle = DEFAULT_STYLE, opacity: float = 0.5) -> np.ndarray:
    """Pixel agreement: TP bluish green, FP vermillion, FN blue (colours from ``style``)."""
    pred = pred_mask.astype(bool, copy=False)
    gt = gt_mask.astype(bool, copy=False)
    if pred.shape != gt.shape or pred.shape != rgb.shape[:2]:
        raise ValueError(f"shapes differ: frame {rgb.shape[:2]}, prediction {pred.shape}, "
                         f"ground truth {gt.shape}")
    out = rgb.copy()
    box = _bbox_of(pred | gt)
    if box is None:
        return out
    x0, y0, x1, y1 = box
    code = pred[y0:y1, x0:x1].view(np.uint8) + 2 * gt[y0:y1, x0:x1].view(np.uint8)
    palette = np.array([(0, 0, 0), style.fp_colour, style.fn_colour, style.tp_colour], np.uint8)
    roi = out[y0:y1, x0:x1]
    blended = cv2.addWeighted(roi, 1.0 - opacity, palette[code], opacity, 0.0)
    _masked_copy(blended, code, roi)
    return out
