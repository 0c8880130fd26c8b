"""The findings of the review's analysis, and the timeline drawn from them.

Findings are tracked in a worker a moment after the analysis, threshold or minimum area
changes (a timer gathers a burst of changes into one request); a result for a cache that was
since replaced is dropped. The track they give is what numbers the viewer's boxes, the
Findings panel, the timeline and the exports, and it carries the reviewer's verdicts.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer

from ..engine.analysis.tracking import DEFAULT_SETTINGS
from . import jobs
from .workers import LatestWorker


class ReviewFindings(QObject):
    def __init__(self, review, panel, timeline, view):
        super().__init__(review)
        self.review, self.panel, self.timeline, self.view = review, panel, timeline, view
        self.track = None  # TrackResult of the current analysis: every view's finding IDs
        self.counts = None  # polyps per frame, as the track counts them
        self.tracking = DEFAULT_SETTINGS
        self.thumbs: dict = {}  # finding ID -> close-up
        self.names: dict = {}  # stills: file name per frame index
        self.timer = QTimer(self, singleShot=True, interval=250)
        self.timer.timeout.connect(self._submit)
        self.worker = LatestWorker(jobs.compute_findings, "findings", self)
        self.worker.done.connect(self._on_findings)
        self.worker.failed.connect(self._on_failed)
        panel.verdict_changed.connect(self.set_verdict)
        self.show_rule()

    def ids(self) -> list[int] | None:
        """Finding IDs of the shown frame's regions, in their order; None where the track
        does not cover that frame's regions."""
        r = self.review
        if self.track is None or r.prediction is None:
            return None
        ids = self.track.ids_per_frame.get(r.shown)
        return ids if ids is not None and len(ids) == r.prediction.count else None

    def schedule(self) -> None:
        self.timer.start()

    def idle(self) -> bool:
        return not self.timer.isActive() and self.worker.idle()

    def refresh_timeline(self) -> None:
        r = self.review
        if r.store is None or r.media is None:
            return
        self.show_rule()
        from ..engine.analysis.tracking import segments

        probs = r.store.frame_probs
        counts = r.store.counts.astype(float)
        counts[counts < 0] = float("nan")
        if self.track is not None and self.counts is not None:
            counts = self.counts
        self.timeline.set_data(probs, counts, r.threshold,
                               segments(probs, r.threshold, min_len=1, gap=2))

    def _submit(self) -> None:
        r = self.review
        if r.store is None or r.media is None or not len(r.store):
            return
        self.worker.submit(jobs.FindingsRequest(
            r.path, r.store, r.threshold, r.min_area, r.media.fps, r.generation, self.tracking))

    def _on_findings(self, req: jobs.FindingsRequest, res: jobs.FindingsResult) -> None:
        r = self.review
        if req.store is not r.store:
            return
        self.track, self.counts = res.track, res.counts
        self.thumbs, self.names = res.thumbs, res.names
        self._show()
        self.timeline.set_data(res.frame_probs, res.counts, r.threshold, res.segments)
        if r.prediction is not None:
            self.view.set_prediction(r.prediction, self.ids())
        r.findings_ready.emit()

    def _on_failed(self, req, message: str) -> None:
        if req.store is self.review.store:  # not a replaced source or model
            self.review.message.emit(message, True)

    def set_tracking(self, settings) -> None:
        """The loaded model's tracking settings (its file may set its own entry confidence)."""
        self.tracking = settings
        self.show_rule()

    def show_rule(self) -> None:
        """How findings are counted: tracked through a video, one per region for stills."""
        from ..engine.analysis.tracking import STILLS_DESCRIBE, STILLS_SHORT

        media = self.review.media
        if media is not None and media.kind != "video":
            self.panel.set_settings(STILLS_SHORT, STILLS_DESCRIBE)
        else:
            self.panel.set_settings(self.tracking.short(), self.tracking.describe())

    def _show(self) -> None:
        t = self.track
        note = "" if t.complete else (f"{t.n_analysed} of {t.n_frames} frames analysed — "
                                      "Analysis → Analyse procedure (Ctrl+R)")
        self.panel.set_findings(t.findings, self.thumbs, note, self.names)

    def set_verdict(self, finding, verdict: str, note: str) -> None:
        """Save the reviewer's verdict beside the analysis; counts and views follow at once."""
        from ..engine.analysis import verdicts
        from ..engine.errors import PolypViewerError

        r = self.review
        if r.store is None or self.track is None:
            return
        try:
            entries = verdicts.set_verdict(r.store.folder, finding, verdict, note)
        except PolypViewerError as e:
            r.message.emit(str(e), True)
            return
        self.track = verdicts.apply(self.track, entries)
        self._show()
        r.findings_ready.emit()

    def detach(self) -> None:
        self.timer.stop()
        self.worker.detach()
