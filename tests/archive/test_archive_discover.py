from __future__ import annotations

import shutil

from archive_helpers import write_archive
from synthetic import write_video

from polypviewer.archive.discover import content_hash, discover


def test_finds_videos_and_leaf_image_folders(tmp_path):
    root = write_archive(tmp_path / "arch")
    (root / ".cache").mkdir()
    write_video(root / ".cache" / "hidden.mp4", n=3)
    ds = root / "dataset"
    (ds / "images").mkdir(parents=True)
    (ds / "masks").mkdir()
    shutil.copy(next((root / "stills" / "case7").iterdir()), ds / "images" / "a.png")
    shutil.copy(next((root / "stills" / "case7").iterdir()), ds / "masks" / "a.png")
    found = {(c.kind, c.path.removeprefix(str(root.resolve()) + "/")) for c in discover([root])}
    assert found == {("video", "room0/proc0.mp4"), ("video", "room1/proc1.mp4"),
                     ("video", "room0/proc2.mp4"), ("folder", "stills/case7"),
                     ("folder", "dataset/images")}


def test_a_video_file_as_root_and_duplicates_listed_once(tmp_path):
    v = write_video(tmp_path / "a.mp4", n=3)
    cands = discover([v, tmp_path, v])
    assert [c.path for c in cands] == [str(v.resolve())]


def test_content_hash_follows_content_not_name(tmp_path):
    a = write_video(tmp_path / "a.mp4", n=5, seed=1)
    b = tmp_path / "sub" / "renamed.mp4"
    b.parent.mkdir()
    shutil.copy(a, b)
    c = write_video(tmp_path / "c.mp4", n=5, seed=2)
    ca, cb, cc = (next(x for x in discover([p])) for p in (a, b, c))
    assert content_hash(ca) == content_hash(cb)
    assert content_hash(ca) != content_hash(cc)
