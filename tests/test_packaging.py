"""The wheel carries models/samples/icons, the desktop entry is valid, and samples are usable."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from polypviewer.engine.media.sources import open_source
from polypviewer.engine.media.video import VideoReader
from polypviewer.paths import resources_dir

REPO = Path(__file__).resolve().parent.parent
SAMPLES = ("kvasir/images", "kvasir/masks", "demo.mp4", "README.md")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH: cannot build the wheel")
    out = tmp_path_factory.mktemp("wheel")
    res = subprocess.run([uv, "build", "--wheel", "--out-dir", str(out)], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    wheels = list(out.glob("polypviewer-*.whl"))
    assert len(wheels) == 1
    with zipfile.ZipFile(wheels[0]) as z:
        yield z


def test_wheel_contains_resources(wheel):
    names = set(wheel.namelist())
    assert any(n.startswith("polypviewer/resources/models/") for n in names)
    for sample in SAMPLES:
        assert any(n.startswith(f"polypviewer/resources/samples/{sample}") for n in names), sample
    assert "polypviewer/resources/icons/polypviewer.svg" in names
    assert "polypviewer/resources/icons/polypviewer.png" in names
    assert "polypviewer/engine/media/video.py" in names and "polypviewer/engine/media/sources.py" in names
    assert not any("__pycache__" in n for n in names)


def test_desktop_entry():
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str  # keys are case-sensitive
    cp.read(REPO / "packaging" / "polypviewer.desktop", encoding="utf-8")
    entry = cp["Desktop Entry"]
    for key in ("Type", "Name", "Exec", "Icon", "Categories", "MimeType", "Terminal"):
        assert entry.get(key), key
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "polypviewer" and "%F" in entry["Exec"]
    assert entry["Icon"] == "polypviewer" and (REPO / "packaging" / "polypviewer.svg").is_file()
    cats = entry["Categories"].rstrip(";").split(";")
    assert {"Graphics", "MedicalSoftware", "Science"} <= set(cats)
    assert "video/mp4" in entry["MimeType"].split(";") and entry["MimeType"].endswith(";")


def test_icons_are_valid():
    for svg in (REPO / "packaging" / "polypviewer.svg", REPO / "resources" / "icons" / "polypviewer.svg"):
        root = ET.parse(svg).getroot()
        assert root.tag.endswith("svg") and root.get("viewBox") == "0 0 256 256"
    png = cv2.imread(str(REPO / "resources" / "icons" / "polypviewer.png"), cv2.IMREAD_UNCHANGED)
    assert png.shape == (256, 256, 4)
    assert png[0, 0, 3] == 0 and png[128, 128, 3] == 255  # transparent corner, opaque centre


def test_resources_dir_finds_samples_in_clone():
    res = resources_dir()
    assert res.resolve() == (REPO / "resources").resolve()
    assert (res / "samples" / "demo.mp4").is_file()
    assert (res / "models" / "README.md").is_file()
    assert (res / "icons" / "polypviewer.png").is_file()


def test_samples_open_and_match_their_ground_truth():
    samples = resources_dir() / "samples"
    ds = open_source(samples / "kvasir")
    assert ds.kind == "dataset" and len(ds) == 6
    for f in ds:
        assert f.gt_mask is not None and f.gt_mask.any() and max(f.rgb.shape[:2]) <= 640
    gt = np.load(samples / "demo_masks.npz")
    with VideoReader(samples / "demo.mp4") as r:
        assert (r.width, r.height) == (640, 480) and r.fps == pytest.approx(25)
        assert r.frame_count == len(gt["has_polyp"]) and 10 <= r.duration_s <= 16
    has = gt["has_polyp"]
    assert 0.2 < has.mean() < 0.9  # findings and gaps
    masks = np.unpackbits(gt["masks"][:1], axis=-1)[..., :640]
    assert masks.shape == (1, 480, 640)
    total = sum(p.stat().st_size for p in samples.rglob("*") if p.is_file())
    assert total < 6_000_000
