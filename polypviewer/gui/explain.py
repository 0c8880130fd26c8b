"""Grad-CAM and feature maps of the shown frame, in workers, on a network of their own.

Both hook the network's layers, so they share one ``jobs.NetCopy`` (serialised by its lock)
and never touch the network the analysis runs. Results for a frame or model that was since
replaced are dropped.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from . import jobs
from .workers import LatestWorker


class Explainer(QObject):
    failed = Signal(str)

    def __init__(self, view, features, feature_dock, parent: QObject | None = None):
        super().__init__(parent)
        self.view, self.features, self.feature_dock = view, features, feature_dock
        self.net: jobs.NetCopy | None = None
        self.target = "segmentation"
        self.shown = -1
        self.cam_worker = LatestWorker(jobs.compute_gradcam, "gradcam", self)
        self.cam_worker.done.connect(self._on_gradcam)
        self.cam_worker.failed.connect(self._on_failed)
        self.feature_worker = LatestWorker(jobs.compute_features, "features", self)
        self.feature_worker.done.connect(self._on_features)
        self.feature_worker.failed.connect(self._on_failed)

    def set_predictor(self, predictor) -> None:
        self.net = jobs.NetCopy(predictor) if predictor is not None else None

    def request(self, index: int, rgb) -> None:
        """Whatever the view shows of frame ``index``: the heatmap, the feature-map dock."""
        self.shown = index
        if self.net is None or rgb is None:
            return
        if self.view.layers["gradcam"].visible:
            self.cam_worker.submit(jobs.CamRequest(index, rgb, self.net, self.target))
        stages = self.features.stages()
        if self.feature_dock.isVisible() and stages:
            self.feature_worker.submit(jobs.FeatureRequest(index, rgb, self.net, stages))

    def idle(self) -> bool:
        return self.cam_worker.idle() and self.feature_worker.idle()

    def _on_gradcam(self, req: jobs.CamRequest, heat) -> None:
        if req.index == self.shown and req.net is self.net:
            self.view.set_heatmap(heat)

    def _on_features(self, req: jobs.FeatureRequest, maps) -> None:
        if req.index == self.shown and req.net is self.net:
            self.features.set_maps(req.stages, maps)

    def _on_failed(self, req, message: str) -> None:
        if req.net is self.net:
            self.failed.emit(message)

    def detach(self) -> None:
        for w in (self.cam_worker, self.feature_worker):
            w.detach()
