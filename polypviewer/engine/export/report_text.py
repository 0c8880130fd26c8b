"""Words for the procedure report: settings and procedure details as a clinician reads them.

The export records settings under their programme names (``min_area_fraction``); a reader of
the report needs what each one means, in units they use (a share of the frame, not pixels).
"""

from __future__ import annotations

from collections.abc import Callable

from ..runtime import views

# the optional procedure details, in the order the report's header shows them
PROCEDURE_FIELDS: dict[str, str] = {
    "procedure_id": "Procedure ID",
    "date": "Procedure date",
    "operator": "Operator",
    "note": "Note",
}

_SOURCE_KINDS = {"video": "recorded video", "folder": "folder of images",
                 "dataset": "image set with reference masks", "image": "single image"}


def percent(fraction: float) -> str:
    """0.001 -> '0.1%', 0.0041 -> '0.41%', 0.25 -> '25%': two significant digits below 10 %."""
    p = float(fraction) * 100.0
    if p <= 0:
        return "0%"
    return f"{p:.0f}%" if p >= 10 else f"{p:.2g}%"


def _threshold(v) -> str:
    t = float(v)
    return f"{t:.2f}: a pixel is marked as polyp when the model rates it at least {percent(t)} likely"


def _min_area(v) -> str:
    return f"{percent(float(v))} of the frame; smaller marked spots are ignored"


def _views(v) -> str:
    """Test-time views as every view names them (a bool from older exports: the one flip)."""
    try:
        return views.LABELS[views.resolve(v if isinstance(v, bool) else str(v).lower())]
    except ValueError:
        return str(v)


def _source_kind(v) -> str:
    return _SOURCE_KINDS.get(str(v), str(v))


# settings key -> (what a reader calls it, how its value reads)
SETTINGS: dict[str, tuple[str, Callable[[object], str]]] = {
    "threshold": ("Detection threshold", _threshold),
    "min_area_fraction": ("Smallest region counted", _min_area),
    "tta": ("Test-time views", _views),
    "device": ("Computed on", str),
    "input": ("Source type", _source_kind),
    "split": ("Images listed in", str),
}


def setting_rows(settings: dict) -> list[tuple[str, str]]:
    """(label, value) per setting; unknown keys keep a readable form of their own name."""
    rows = []
    for key, value in settings.items():
        label, fmt = SETTINGS.get(key, (str(key).replace("_", " ").capitalize(), str))
        if isinstance(value, (list, tuple)):  # e.g. the input problems of a damaged source
            fmt = lambda v: "; ".join(map(str, v))  # noqa: E731
        try:
            text = fmt(value)
        except (TypeError, ValueError):
            text = str(value)
        rows.append((label, text))
    return rows


def procedure_rows(procedure: dict | None) -> list[tuple[str, str]]:
    """The filled-in procedure details only: none is required."""
    procedure = procedure or {}
    return [(label, str(procedure[key]).strip()) for key, label in PROCEDURE_FIELDS.items()
            if str(procedure.get(key) or "").strip()]


def clean_procedure(procedure: dict | None) -> dict:
    """The known, non-empty fields as stripped strings (what the JSON header and memory keep)."""
    return {k: str((procedure or {}).get(k) or "").strip() for k in PROCEDURE_FIELDS
            if str((procedure or {}).get(k) or "").strip()}
