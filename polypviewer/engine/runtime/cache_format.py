"""What an analysis cache folder holds on disk, and the checks every entry read from it passes.

``results.AnalysisStore`` trusts nothing it reads back: a ``meta.json`` or frame entry that does
not pass these checks is treated as damage (discarded and analysed again), never as data.
"""

from __future__ import annotations

import math

from .postprocess import Instance
from .preprocess import Letterbox

FORMAT = "polypviewer-analysis"
VERSION = 2  # 2: each frame entry has its presentation time (``time_s``)
CHUNK = 256
# why a cache of an older version is not read: its frames have no times, and index / fps is
# wrong for variable-frame-rate videos, so its findings would not match the video's clock
OLDER = "made by an older version, without frame times"


def inst_from_dict(d: dict) -> Instance:
    neo = d.get("neoplastic_probability")
    return Instance(tuple(d["bbox"]), int(d["area"]), tuple(d["centroid"]), float(d["confidence"]),
                    None if neo is None else float(neo))


def cadx_name(index: int) -> str:
    """The neoplastic map beside a frame's probability map (models with that channel)."""
    return f"{index}.cadx.png"


def box_list(box: Letterbox) -> list[int]:
    return [box.height, box.width, box.side, box.top, box.left, box.size]


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def meta_problem(meta) -> str | None:
    """Why ``meta`` is not a usable ``meta.json`` of this version (None when it is)."""
    if not isinstance(meta, dict):
        return f"meta.json holds a {type(meta).__name__}, not an object"
    version = meta.get("version")
    if meta.get("format") == FORMAT and _is_int(version) and 1 <= version < VERSION:
        return OLDER
    if meta.get("format") != FORMAT or version != VERSION:
        return f"meta.json is not {FORMAT} version {VERSION}"
    for key, ok in (("size", _is_int), ("threshold", _is_number),
                    ("min_area_fraction", _is_number)):
        if key not in meta:
            return f"meta.json lacks '{key}'"
        if not ok(meta[key]):
            return f"meta.json has {key} = {meta[key]!r}"
    if meta["size"] < 1:
        return f"meta.json has size = {meta['size']!r}"
    for key in ("n_frames", "chunk_size"):
        v = meta.get(key)
        if v is not None and not (_is_int(v) and v >= (key == "chunk_size")):
            return f"meta.json has {key} = {v!r}"
    return None


def check_entry(e, lo: int, hi: int) -> dict:
    """A chunk's frame entry, checked field by field (raises ValueError/KeyError/TypeError)."""
    index = e["index"]
    if not _is_int(index) or not lo <= index < hi:
        raise ValueError(f"frame index {index!r} does not belong to this chunk")
    if not _is_number(e["frame_prob"]):
        raise ValueError(f"frame {index} has frame_prob {e['frame_prob']!r}")
    t = e.get("time_s")
    if t is not None and not (_is_number(t) and t >= 0):
        raise ValueError(f"frame {index} has time_s {t!r}")
    box = e["letterbox"]
    if not isinstance(box, list) or len(box) != 6 or not all(_is_int(v) for v in box):
        raise ValueError(f"frame {index} has letterbox {box!r}")
    if not isinstance(e.get("cadx", False), bool):
        raise ValueError(f"frame {index} has cadx {e['cadx']!r}")
    for d in e["instances"]:
        inst = inst_from_dict(d)
        if len(inst.bbox) != 4 or len(inst.centroid) != 2:
            raise ValueError(f"frame {index} has a malformed instance")
        neo = inst.neoplastic_probability
        if neo is not None and not _is_number(neo):
            raise ValueError(f"frame {index} has neoplastic_probability {neo!r}")
    return e
