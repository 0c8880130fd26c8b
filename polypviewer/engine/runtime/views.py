"""Test-time views: the frame analysed as it is and flipped, the logits averaged.

A flip is exact on the pixel grid, so each view's maps flip straight back onto the frame.
On the holdouts the four flips lift the second centre's Dice at every size and leave
Kvasir-SEG within 0.005 (the bundled model's card has the table), at four times the work.
Stills get them by default; video stays one view so that the analysis keeps up with the
recording.
"""

from __future__ import annotations

import numpy as np

OFF, HFLIP, FLIPS, AUTO = "off", "hflip", "flips", "auto"
VIEWS: dict[str, tuple[tuple[str, ...], ...]] = {
    OFF: ((),),
    HFLIP: ((), ("w",)),
    FLIPS: ((), ("w",), ("h",), ("h", "w")),
}
LABELS = {OFF: "one view", HFLIP: "2 views (flipped left-right)",
          FLIPS: "4 views (flipped both ways)"}
CHOICES = (AUTO, OFF, HFLIP, FLIPS)  # what a user may ask for; AUTO = by the kind of media
STILLS_DEFAULT = FLIPS


def resolve(requested: str | bool | None, kind: str | None = None) -> str:
    """The views to use: a mode, True (the one-flip option of old), or auto/None by media
    ``kind`` ("video" gets one view; images, folders and datasets get ``STILLS_DEFAULT``)."""
    if requested is True:
        return HFLIP
    if requested is False:
        return OFF
    if requested in (None, AUTO):
        return OFF if kind in (None, "video") else STILLS_DEFAULT
    if requested not in VIEWS:
        raise ValueError(f"unknown test-time views {requested!r}; choose from {', '.join(CHOICES)}")
    return str(requested)


def _flip(a, axes: tuple[int, ...]):
    if isinstance(a, np.ndarray):
        return np.flip(a, axis=axes)
    import torch  # here, so that the settings can name the choices without loading torch

    return torch.flip(a, dims=list(axes))


def flipped(a, view: tuple[str, ...], input_axes: dict[str, int]):
    """``a`` in one view: flipped along the axes ``view`` names ("h", "w"), found in ``a`` at
    ``input_axes`` ({"h": 2, "w": 3} for NCHW)."""
    return _flip(a, tuple(input_axes[k] for k in view)) if view else a


def averaged(run, x, mode: str, input_axes: dict[str, int]) -> tuple:
    """``run(x)`` -> a tuple of outputs (maps with height, width last; per-frame vectors of
    at most two dimensions; or None), averaged over the views of ``mode``.

    ``input_axes`` names where height and width sit in ``x`` ({"h": 2, "w": 3} for NCHW).
    """
    views = VIEWS[mode]
    total = None
    for view in views:
        out = run(flipped(x, view, input_axes))
        if view:
            back = tuple(-2 if a == "h" else -1 for a in view)
            out = tuple(o if o is None or o.ndim < 3 else _flip(o, back) for o in out)
        total = out if total is None else tuple(
            None if t is None else t + o for t, o in zip(total, out))
    if len(views) == 1:
        return total
    return tuple(None if t is None else t / len(views) for t in total)
