"""A model's analysis profiles: the size it is accurate at and, optionally, a faster one.

An accurate size that cannot keep up with video on a small CPU is still the right default for
review (small polyps need the pixels); the model file names a ``fast_size`` measured to keep
real time there (its card gives the figures). The GUI's size choice and the CLI's ``--size``
read the profiles from here, so a profile means the same size everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import check_input_size

ACCURATE, FAST = "accurate", "fast"
PROFILE_NAMES = (ACCURATE, FAST)
OTHER_SIZES = (192, 224, 256, 320, 384, 448, 512)  # offered besides the profiles


@dataclass(frozen=True)
class Profile:
    name: str  # ACCURATE or FAST
    size: int
    title: str  # what a menu shows


def fast_size(metadata: dict) -> int | None:
    """The model file's fast analysis size, None when it names none."""
    v = metadata.get("fast_size")
    return None if v is None else check_input_size(v)


def profiles(metadata: dict, native: int) -> list[Profile]:
    """The accurate profile (the model's own size), then the fast one if the file names it."""
    out = [Profile(ACCURATE, native, f"Accurate: {native} px")]
    fast = fast_size(metadata)
    if fast is not None and fast != native:
        out.append(Profile(FAST, fast, f"Fast: {fast} px, real time"))
    return out


def size_choices(metadata: dict, native: int) -> list[tuple[str, int | str]]:
    """(title, value) for a size menu: the profiles, then other sizes. The values are what
    ``resolve_size`` takes: 0 (the model's own), FAST (whatever the model names) or pixels."""
    prof = profiles(metadata, native)
    taken = {p.size for p in prof}
    return ([(p.title, 0 if p.name == ACCURATE else FAST) for p in prof]
            + [(f"{s} px", s) for s in OTHER_SIZES if s not in taken])


def resolve_size(value: int | str | None, metadata: dict, native: int) -> int:
    """An analysis size from a number of pixels, a profile name or None (the model's own).

    Menus use 0 for "the model's own"; they pass None here, so a 0 reaching this is an error.
    """
    if value is None:
        return native
    if isinstance(value, str) and not value.strip().isdigit():
        name = value.strip().lower()
        if name == ACCURATE:
            return native
        if name == FAST:
            fast = fast_size(metadata)
            if fast is None:
                raise ValueError(f"this model has no fast profile; give a size in pixels "
                                 f"(its own is {native})")
            return fast
        raise ValueError(f"'{value}' is neither a size in pixels nor a profile "
                         f"({', '.join(PROFILE_NAMES)})")
    return check_input_size(int(value))
