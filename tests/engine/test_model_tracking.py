"""A model file may set its own tracking entry rule; every path that tracks reads it."""

from __future__ import annotations

import json
import shutil

import pytest

from polypviewer.engine.analysis.tracking import DEFAULT_SETTINGS, settings_for
from polypviewer.engine.models.modelfile import load_model
from polypviewer.engine.models.registry import resolve_model


def test_the_file_sets_the_entry_confidence_and_the_rest_stays_default():
    s = settings_for({"tracking": {"enter_confidence": 0.7}})
    assert s.enter_confidence == 0.7 and s.enter_hits == DEFAULT_SETTINGS.enter_hits
    assert settings_for({}) == settings_for(None) == DEFAULT_SETTINGS
    hits = settings_for({"tracking": {"enter_hits": 3}})
    assert hits.enter_hits == 3 and isinstance(hits.enter_hits, int)
    assert hits.enter_confidence == DEFAULT_SETTINGS.enter_confidence


def test_the_bundled_models_each_track_with_their_own_confidence():
    v2 = load_model(resolve_model("polyp-unet-lite0-v2")).metadata
    old = load_model(resolve_model("polyp-unet-lite0")).metadata
    assert settings_for(v2).enter_confidence == 0.8  # its pixel threshold is 0.65
    assert settings_for(old).enter_confidence == DEFAULT_SETTINGS.enter_confidence == 0.9
    lite1 = settings_for(load_model(resolve_model("polyp-unet-lite1")).metadata)
    assert (lite1.enter_confidence, lite1.enter_hits) == (0.8, 3)  # its threshold is 0.35
    assert lite1.enter_window == DEFAULT_SETTINGS.enter_window


@pytest.mark.parametrize("bad", [{"enter_confidence": 1.5}, {"reid_similarity": 0.5}, [0.8],
                                 {"enter_confidence": "high"}, {"enter_hits": 0},
                                 {"enter_hits": 2.5}, {"enter_hits": 9}])
def test_a_bad_tracking_entry_is_refused_naming_it(refuses, bad):
    refuses("tracking", bad)


def test_the_archive_records_and_hashes_the_models_tracking(tiny_model_path, tmp_path):
    from polypviewer.archive.procedure import settings_for as batch_settings
    from polypviewer.engine.runtime.inference import Predictor

    w = shutil.copy(tiny_model_path, tmp_path / tiny_model_path.name)
    meta = json.loads(tiny_model_path.with_suffix(".json").read_text())
    meta["tracking"] = {"enter_confidence": 0.55}
    (tmp_path / tiny_model_path.name).with_suffix(".json").write_text(json.dumps(meta))
    own, plain = (batch_settings(Predictor(p, device="cpu")) for p in (w, tiny_model_path))
    assert own.tracking["enter_confidence"] == 0.55 and plain.tracking == DEFAULT_SETTINGS.to_dict()
    assert own.digest() != plain.digest()
