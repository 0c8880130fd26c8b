"""Outputs get the modes a plain ``open()``/``mkdir()`` would give (umask), or keep the mode of
the file they replace: a colleague on a shared dataset can still read what was saved."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic import TINY

from polypviewer.engine import fsutil
from polypviewer.engine.export.atomic_folder import atomic_dir
from polypviewer.engine.media.annotations import save_mask
from polypviewer.engine.models.factory import create_model
from polypviewer.engine.models.modelfile import save_model

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")


@pytest.fixture
def umask():
    """Set the process umask for one test (restored after)."""
    old = os.umask(0o022)
    yield lambda value: os.umask(value)
    os.umask(old)


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)],
                         ids=["022", "027", "002"])
def test_new_file_follows_umask(tmp_path, umask, mask, expected):
    umask(mask)
    target = tmp_path / "out.json"
    fsutil.write_json(target, {"a": 1})
    assert mode(target) == expected
    with fsutil.atomic_path(tmp_path / "other.bin") as tmp:
        tmp.write_bytes(b"x")
    assert mode(tmp_path / "other.bin") == expected


def test_replaced_file_keeps_its_mode(tmp_path, umask):
    target = tmp_path / "shared.csv"
    target.write_text("old")
    target.chmod(0o664)
    fsutil.write_text(target, "new")
    assert target.read_text() == "new" and mode(target) == 0o664
    target.chmod(0o600)  # a private file stays private
    fsutil.write_text(target, "newer")
    assert mode(target) == 0o600


def test_read_only_replaced_file_is_still_written(tmp_path, umask):
    target = tmp_path / "ro.txt"
    target.write_text("old")
    target.chmod(0o444)
    fsutil.write_text(target, "new")  # the folder is writable: replacing is allowed
    assert target.read_text() == "new" and mode(target) == 0o444


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o755), (0o027, 0o750)],
                         ids=["022", "027"])
def test_new_folder_follows_umask(tmp_path, umask, mask, expected):
    umask(mask)
    with atomic_dir(tmp_path / "export") as tmp:
        (tmp / "a.txt").write_text("x")
    assert mode(tmp_path / "export") == expected


def test_replaced_folder_keeps_its_mode(tmp_path, umask):
    out = tmp_path / "export"
    out.mkdir()
    out.chmod(0o775)
    with atomic_dir(out, overwrite=True) as tmp:
        (tmp / "a.txt").write_text("x")
    assert (out / "a.txt").is_file() and mode(out) == 0o775


def test_model_files_are_readable_by_others(tmp_path, umask):
    torch.manual_seed(0)
    w = save_model(tmp_path / "m", create_model(TINY).eval(), TINY, name="m")
    assert mode(w) == 0o644 and mode(w.with_suffix(".json")) == 0o644


def test_corrected_mask_keeps_the_original_mode(tmp_path, umask):
    masks = tmp_path / "masks"
    masks.mkdir()
    original = masks / "img.png"
    fsutil.write_bytes(original, b"placeholder")
    original.chmod(0o664)  # group-writable shared dataset
    saved = save_mask(masks, "img", np.eye(8, dtype=bool))
    assert saved.path == original and mode(original) == 0o664
    assert [mode(b) for b in saved.backups] == [0o664]


def test_failed_write_leaves_nothing(tmp_path, umask):
    target = tmp_path / "x.txt"
    with pytest.raises(RuntimeError), fsutil.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
