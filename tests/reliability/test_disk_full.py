"""A full disk (a patched writer raising ENOSPC, or a real tiny tmpfs where one can be mounted).

Whatever fails: one line naming the file, nothing half-written left, no file the CSV does not
list, the previous mask and its backup intact.
"""

from __future__ import annotations

import csv
import errno
import pathlib
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from synthetic import synthetic_frame, write_dataset

from polypviewer.cli.main import main
from polypviewer.engine.errors import PolypViewerError
from polypviewer.engine.media import annotations

ENOSPC = "No space left on device"


def _images(folder: Path, n: int, h: int = 96, w: int = 128) -> Path:
    rng = np.random.default_rng(5)
    folder.mkdir(parents=True)
    for i in range(n):
        img, _ = synthetic_frame(rng, h=h, w=w)
        cv2.imwrite(str(folder / f"f{i:02d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return folder


def _predict(images: Path, out: Path, model: Path) -> int:
    return main(["predict", str(images), "--out", str(out), "--model", str(model),
                 "--device", "cpu", "--batch-size", "1"])


def _full_after(monkeypatch, n_ok: int, under: Path) -> None:
    """Path.write_bytes below ``under`` succeeds ``n_ok`` times, then writes half and fails like
    a full disk. Writes elsewhere (the model's ONNX graph in the cache, written only by the
    first test to use the model) are not counted, so the count does not depend on test order."""
    real = pathlib.Path.write_bytes
    calls = []

    def write_bytes(self, data):
        if not Path(self).resolve().is_relative_to(under.resolve()):
            return real(self, data)
        calls.append(self)
        if len(calls) > n_ok:
            real(self, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, ENOSPC)
        return real(self, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", write_bytes)


def _one_error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines()
           if line.strip() and "%|" not in line]  # tqdm's bar is not an error line
    assert len(err) == 1, err
    return err[0]


def _assert_consistent(out: Path) -> list[dict]:
    """Every mask/overlay file has a CSV row and every row's files exist; no temporaries."""
    with (out / "predictions.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    listed = {r["name"] for r in rows}
    assert {p.stem for p in (out / "masks").glob("*")} == listed
    assert {p.stem for p in (out / "overlays").glob("*")} == listed
    assert not [p for p in out.rglob(".*")]
    return rows


def test_predict_full_disk_on_an_overlay_removes_its_mask(tmp_path, tiny_model_path, monkeypatch,
                                                          capsys):
    images = _images(tmp_path / "in", 4)
    out = tmp_path / "out"
    # frame 0: pending note, mask, overlay; frame 1: note, mask, then its overlay fails
    _full_after(monkeypatch, 5, out)
    assert _predict(images, out, tiny_model_path) == 1
    line = _one_error_line(capsys)
    assert ENOSPC in line and str(out / "overlays" / "f01.jpg") in line
    assert len(_assert_consistent(out)) == 1


def test_predict_full_disk_on_the_csv_removes_the_frame(tmp_path, tiny_model_path, monkeypatch,
                                                        capsys):
    images = _images(tmp_path / "in", 4)
    out = tmp_path / "out"
    real, rows = csv.DictWriter.writerow, []

    def writerow(self, row):
        rows.append(row)
        if len(rows) == 4:  # the header, f00, f01, then f02's row fails
            raise OSError(errno.ENOSPC, ENOSPC)
        return real(self, row)

    monkeypatch.setattr(csv.DictWriter, "writerow", writerow)
    assert _predict(images, out, tiny_model_path) == 1
    line = _one_error_line(capsys)
    assert ENOSPC in line and str(out / "predictions.csv") in line
    assert [r["name"] for r in _assert_consistent(out)] == ["f00", "f01"]


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 320 kB tmpfs (needs root and mount); skipped where it cannot be mounted."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=320k", "tmpfs", str(mnt)],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip("a tmpfs cannot be mounted here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_predict_on_a_real_full_disk(tmp_path, tiny_disk, tiny_model_path, capsys):
    images = _images(tmp_path / "in", 40, h=240, w=320)  # ~25 kB per overlay: fills 320 kB
    rc = _predict(images, tiny_disk / "out", tiny_model_path)
    assert rc == 1
    line = _one_error_line(capsys)
    assert ENOSPC in line and str(tiny_disk / "out") in line
    assert 0 < len(_assert_consistent(tiny_disk / "out")) < 40


def test_export_out_under_a_file_is_refused_before_the_model_loads(tmp_path, capsys):
    images = _images(tmp_path / "in", 1)
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    rc = main(["export", str(images), "--format", "png", "--out", str(blocker / "x"),
               "--model", str(tmp_path / "no-such-model.safetensors")])
    assert rc == 1
    line = _one_error_line(capsys)
    assert f"{blocker} is a file, not a folder" in line  # not the missing model's message


def test_export_full_disk_names_the_file_and_leaves_nothing(tmp_path, tiny_model_path,
                                                            monkeypatch, capsys):
    images = _images(tmp_path / "in", 3)
    _full_after(monkeypatch, 1, tmp_path / "exports")
    out = tmp_path / "exports" / "run"
    assert main(["export", str(images), "--format", "png", "--out", str(out),
                 "--model", str(tiny_model_path), "--device", "cpu"]) == 1
    line = _one_error_line(capsys)
    assert ENOSPC in line and re.search(r"/masks/f0\d\.png", line)
    assert list((tmp_path / "exports").iterdir()) == []


def _half_copy(src, dst, *a, **kw):
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: len(data) // 2])
    raise OSError(errno.ENOSPC, ENOSPC)


def _short_copy(src, dst, *a, **kw):  # a copy that silently comes out short
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: len(data) // 2])
    return dst


@pytest.mark.parametrize("copy", [_half_copy, _short_copy], ids=["enospc", "short"])
def test_annotator_backup_on_a_full_disk_leaves_no_broken_backup(tmp_path, monkeypatch, copy):
    ds = write_dataset(tmp_path / "ds", n=1)
    masks = ds / "masks"
    original = (masks / "img00.png").read_bytes()
    monkeypatch.setattr(shutil, "copyfile", copy)
    monkeypatch.setattr(shutil, "copy2", copy)
    new = np.zeros((96, 128), np.uint8)
    with pytest.raises(PolypViewerError, match="img00") as e:
        annotations.save_mask(masks, "img00", new, (96, 128))
    assert "back up" in str(e.value)
    assert (masks / "img00.png").read_bytes() == original  # the mask itself is untouched
    backups = masks / annotations.BACKUP_DIR
    assert not backups.exists() or list(backups.iterdir()) == []
