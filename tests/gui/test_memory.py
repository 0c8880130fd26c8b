"""The app freezes the libraries' objects once, and what it makes later is still collected."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref

from polypviewer.gui import memory


class _Node:
    pass


def test_freeze_happens_once_and_later_cycles_are_still_collected():
    memory.freeze_libraries()  # here or by an earlier test's create_window
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # the imported modules, classes and functions
    assert memory.freeze_libraries() is False  # once per process
    assert gc.get_freeze_count() == frozen

    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a reference cycle, only the collector frees it
    alive = weakref.ref(a)
    del a, b
    gc.collect()
    assert alive() is None


CHECK = """
import gc, sys, torch
from polypviewer.gui.app import create_window
win = create_window(None, "cpu")
tracked = {id(o) for o in gc.get_objects()}  # the frozen objects are not walked, not listed
print(gc.get_freeze_count() > 10_000, id(torch.nn.Module) in tracked, id(win.review) in tracked)
"""


def test_create_window_freezes_the_libraries_but_not_the_window(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path),
           "XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_DATA_HOME": str(tmp_path / "data")}
    out = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.stdout.split()[:3] == ["True", "False", "True"], out.stderr[-2000:]
    # handed back at exit: extensions that count their objects at shutdown find none left
    assert "leaked" not in out.stderr, out.stderr[-2000:]
