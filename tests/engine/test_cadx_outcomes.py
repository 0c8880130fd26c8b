"""Per-polyp CADx scoring against a class map, with and without a model class channel."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from polypviewer.engine.analysis.cadx import polyp_classes, read_class_map
from polypviewer.engine.errors import MediaError
from polypviewer.engine.runtime.inference import from_probability


@dataclass(frozen=True)
class _WithClass:
    """An instance as a model with a class channel reports it (extra field only)."""

    bbox: tuple
    area: int
    centroid: tuple
    confidence: float
    neoplastic_probability: float | None


def _scene():
    gt = np.zeros((60, 80), bool)
    classes = np.zeros((60, 80), np.uint8)
    cv2.circle(classes, (20, 20), 8, 1, -1)  # neoplastic
    cv2.circle(classes, (60, 40), 8, 2, -1)  # non-neoplastic
    cv2.circle(classes, (60, 10), 5, 1, -1)  # neoplastic, will be missed
    gt[classes > 0] = True
    prob = np.zeros((60, 80), np.float32)
    prob[(classes == 1) | (classes == 2)] = 0.9
    prob[:16, 50:70] = 0.0  # miss the small polyp
    return gt, classes, from_probability(prob, 0.9, 0.5, 0.0)


def test_found_polyps_carry_the_regions_probability():
    gt, classes, pred = _scene()
    neo = {inst.bbox: (0.8 if inst.centroid[0] < 40 else 0.3) for inst in pred.instances}
    pred.instances = [_WithClass(i.bbox, i.area, i.centroid, i.confidence, neo[i.bbox])
                      for i in pred.instances]
    out = sorted(polyp_classes(gt, classes, pred), key=lambda c: (c["found"], c["neoplastic"]))
    assert out == [{"neoplastic": True, "found": False, "probability": None},
                   {"neoplastic": False, "found": True, "probability": 0.3},
                   {"neoplastic": True, "found": True, "probability": 0.8}]


def test_a_model_without_the_channel_gives_no_probability():
    gt, classes, pred = _scene()
    out = polyp_classes(gt, classes, pred)
    assert len(out) == 3 and all(c["probability"] is None for c in out)


def test_class_map_errors_name_the_file(tmp_path):
    path = tmp_path / "c.png"
    cv2.imwrite(str(path), np.full((10, 12), 3, np.uint8))
    with pytest.raises(MediaError, match="c.png.*above 2"):
        read_class_map(path, (10, 12))
    with pytest.raises(MediaError, match="c.png is 12x10 but its image is 8x8"):
        read_class_map(path, (8, 8))
