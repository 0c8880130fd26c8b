"""metrics.findings_scores: found / missed polyps, false findings, ID switches, latency."""

from __future__ import annotations

import pytest

from polypviewer.engine.metrics import findings_scores


def test_scores_of_a_small_constructed_sequence():
    fps = 10.0
    # polyp 1 on screen frames 0-29, polyp 2 frames 40-44 (0.5 s), nothing on 45-99
    truth = [1] * 30 + [0] * 10 + [2] * 5 + [0] * 55
    pairs = [[] for _ in truth]
    for i in range(2, 15):
        pairs[i] = [(1, 1)]  # finding 1 on polyp 1 ...
    for i in range(15, 30):
        pairs[i] = [(3, 1)]  # ... then finding 3 on it: one ID switch, two findings
    for i in range(60, 80):
        pairs[i] = [(2, 0)]  # finding 2 on mucosa: a false finding
    pairs[70] = [(2, 0), (0, 0)]  # a region in no finding changes nothing
    s = findings_scores(truth, pairs, fps, confirm_hits=3)
    assert (s["polyps"], s["findings"], s["true_findings"], s["false_findings"]) == (2, 3, 2, 1)
    assert s["found"] == 1 and s["sensitivity"] == 0.5
    assert s["missed_long"] == 0  # polyp 2 was on screen only 0.5 s
    assert s["id_switches"] == 1
    assert s["per_polyp"][1]["findings"] == 2
    assert s["per_polyp"][1]["latency_s"] == pytest.approx(0.4)  # third hit at frame 4
    assert s["per_polyp"][2]["latency_s"] is None
    assert s["polyp_free_min"] == pytest.approx(65 / fps / 60)
    assert s["false_per_min"] == pytest.approx(1 / (65 / fps / 60))
    assert findings_scores(truth, pairs, fps, long_s=0.5)["missed_long"] == 1
