"""The xcb check names missing system libraries and the apt command, only when xcb is used."""

from __future__ import annotations

from polypviewer.gui import platform_check as pc

LDD = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /x/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x7f)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxkbcommon-x11.so.0 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x7f)
"""


def test_missing_libraries_and_their_packages():
    missing = pc.missing_libraries(LDD)
    assert missing == ["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1",
                       "libxkbcommon-x11.so.0"]
    assert [pc.package_of(m) for m in missing] == ["libxcb-cursor0", "libxcb-icccm4",
                                                   "libxcb-keysyms1", "libxkbcommon-x11-0"]
    assert pc.package_of("libxcb-render-util.so.0") == "libxcb-render-util0"
    text = pc.message(missing)
    assert "\n" not in text and "sudo apt install libxcb-cursor0 libxcb-icccm4" in text
    assert pc.missing_libraries("\tlibc.so.6 => /lib/libc.so.6 (0x7f)\n") == []


def test_only_checked_when_qt_would_use_xcb():
    linux = "linux"
    assert pc.uses_xcb({"DISPLAY": ":0"}, linux)
    assert pc.uses_xcb({"QT_QPA_PLATFORM": "xcb"}, linux)
    assert not pc.uses_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, linux)
    assert not pc.uses_xcb({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, linux)
    assert not pc.uses_xcb({}, linux)
    assert not pc.uses_xcb({"DISPLAY": ":0"}, "darwin")
    assert pc.check_xcb({"QT_QPA_PLATFORM": "offscreen"}) is None


def test_readme_lists_the_packages():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for pkg in pc.XCB_PACKAGES:
        assert pkg in readme
