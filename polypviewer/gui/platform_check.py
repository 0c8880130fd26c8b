"""Before Qt starts on a Linux desktop: are the system libraries of its xcb plugin installed?

PySide6 >= 6.5 needs ``libxcb-cursor0`` and, on minimal systems, ``libxcb-icccm4``,
``libxcb-keysyms1`` and others that pip cannot install. Without them Qt aborts with "could not
load the Qt platform plugin xcb" and a list of plugins; this check names the missing
libraries and the apt command instead. No Qt import: it runs before the QApplication exists.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# shared-library name -> Debian/Ubuntu package, where the generic rule below is wrong
PACKAGES = {
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
}
# what README's setup section lists (the usual gaps of a fresh desktop or container)
XCB_PACKAGES = ("libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1", "libxcb-image0",
                "libxcb-render-util0", "libxcb-shape0", "libxcb-xkb1", "libxkbcommon-x11-0")


def package_of(library: str) -> str:
    """``libxcb-icccm.so.4`` -> ``libxcb-icccm4`` (Debian names a library's package so)."""
    if library in PACKAGES:
        return PACKAGES[library]
    m = re.match(r"^(lib[\w.+-]+?)\.so\.(\d+)", library)
    if not m:
        return library
    stem, major = m.groups()
    return f"{stem.lower()}{'-' if stem[-1].isdigit() else ''}{major}"


def missing_libraries(ldd_output: str) -> list[str]:
    """Library names ``ldd`` reports as "not found", each once, in order."""
    out: list[str] = []
    for line in ldd_output.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+not found", line)
        if m and m.group(1) not in out:
            out.append(m.group(1))
    return out


def uses_xcb(environ=os.environ, platform: str = sys.platform) -> bool:
    """Qt will pick its xcb plugin: Linux, an X display, and no other platform asked for."""
    if not platform.startswith("linux"):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(":")[0] == "xcb"
    return bool(environ.get("DISPLAY")) and not environ.get("WAYLAND_DISPLAY")


def xcb_plugin() -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return path if path.is_file() else None


def message(missing: list[str]) -> str:
    packages = sorted({package_of(lib) for lib in missing})
    return (f"PolypViewer cannot open a window: Qt's xcb plugin needs system libraries that are "
            f"missing ({', '.join(missing)}). Install them with: "
            f"sudo apt install {' '.join(packages)}")


def check_xcb(environ=os.environ) -> str | None:
    """The one-line message when the xcb plugin would fail to load, else None."""
    if not uses_xcb(environ):
        return None
    plugin, ldd = xcb_plugin(), shutil.which("ldd")
    if plugin is None or ldd is None:
        return None
    try:
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None  # cannot tell: let Qt try
    missing = missing_libraries(out)
    return message(missing) if missing else None
