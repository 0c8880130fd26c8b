"""Analysis profiles: the accurate size a model is made for and the fast one its file names."""

from __future__ import annotations

import argparse
import json
import shutil

import numpy as np
import pytest
from synthetic import synthetic_frame

from polypviewer.engine.models import profiles
from polypviewer.engine.runtime.inference import Predictor


def with_fast_size(model_path, folder, fast):
    """A copy of a model file whose metadata names ``fast`` as its fast size (weights unchanged)."""
    folder.mkdir(parents=True, exist_ok=True)
    w = shutil.copy(model_path, folder / model_path.name)
    meta = json.loads(model_path.with_suffix(".json").read_text())
    meta["fast_size"] = fast
    (folder / model_path.name).with_suffix(".json").write_text(json.dumps(meta))
    return w


def test_resolve_size_reads_pixels_and_profile_names():
    meta = {"fast_size": 256}
    assert profiles.resolve_size(None, meta, 384) == 384
    assert profiles.resolve_size("accurate", meta, 384) == 384
    assert profiles.resolve_size("Fast", meta, 384) == 256
    assert profiles.resolve_size(320, meta, 384) == 320
    assert profiles.resolve_size("448", meta, 384) == 448
    with pytest.raises(ValueError, match="no fast profile"):
        profiles.resolve_size("fast", {}, 384)
    with pytest.raises(ValueError, match="neither a size"):
        profiles.resolve_size("quick", meta, 384)
    for bad in (300, 0):
        with pytest.raises(ValueError, match="multiple of 32"):
            profiles.resolve_size(bad, meta, 384)


def test_size_menu_lists_the_profiles_first_and_each_size_once():
    choices = profiles.size_choices({"fast_size": 256}, 384)
    assert choices[0] == ("Accurate: 384 px", 0)
    assert choices[1][1] == "fast" and choices[1][0].startswith("Fast: 256 px")
    assert profiles.resolve_size(choices[1][1], {"fast_size": 256}, 384) == 256
    sizes = [v for _, v in choices[2:]]
    assert 256 not in sizes and 384 not in sizes and sizes == sorted(sizes)
    # a model without a fast profile: accurate, then plain sizes
    plain = profiles.size_choices({}, 256)
    assert [v for _, v in plain][:2] == [0, 192] and not any(t.startswith("Fast") for t, _ in plain)


@pytest.mark.parametrize("bad", [100, 16, 2048, "256", True])
def test_model_file_with_a_bad_fast_size_is_refused(refuses, bad):
    refuses("fast_size", bad)


def test_predictor_runs_the_fast_profile_of_the_file(tiny_model_path, tmp_path):
    fast_model = with_fast_size(tiny_model_path, tmp_path / "fast", 96)
    fast = Predictor(fast_model, device="cpu", input_size="fast")
    own = Predictor(fast_model, device="cpu", input_size="accurate")
    assert (fast.config.input_size, fast.native_size) == (96, 64)
    assert own.config.input_size == 64
    rgb, _ = synthetic_frame(np.random.default_rng(1), 80, 100)
    assert fast.predict(rgb).prob.shape == (80, 100)
    with pytest.raises(ValueError, match="no fast profile"):
        Predictor(tiny_model_path, device="cpu", input_size="fast")


def test_cli_size_takes_pixels_or_a_profile():
    from polypviewer.cli.common import analysis_size

    assert analysis_size("fast") == "fast" and analysis_size(" Accurate ") == "accurate"
    assert analysis_size("320") == 320
    for bad in ("quick", "100"):
        with pytest.raises(argparse.ArgumentTypeError):
            analysis_size(bad)
