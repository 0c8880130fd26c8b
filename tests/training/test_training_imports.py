"""The training package has no import cycle between the loop and cross-validation."""

from __future__ import annotations

import grimp


def test_cv_does_not_import_the_loop():
    graph = grimp.build_graph("training", "polypviewer")
    assert graph.find_shortest_chain(importer="training.cv", imported="training.loop") is None
    assert graph.find_shortest_chain(importer="training.loop", imported="training.cv") is not None
