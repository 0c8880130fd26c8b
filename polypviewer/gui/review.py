"""The review state machine: which source, model and frame are shown, and who works on them.

It owns the worker threads (decoder, analysis, tracking, Grad-CAM, feature maps) and updates
the widgets from their results on the UI thread. Every request carries a generation number,
so results for a source or model that was since replaced are dropped.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from ..engine.analysis.tracking import DEFAULT_SETTINGS
from ..engine.runtime.postprocess import DEFAULT_MIN_AREA_FRACTION
from . import jobs
from .findings import NOT_ANALYSED
from .workers import LatestWorker, Task

STILL_FPS = 4.0  # slideshow speed for folders and datasets


class Review(QObject):
    frame_shown = Signal(int)
    opened = Signal(str)
    open_failed = Signal(str)
    model_ready = Signal(str)
    analysis_started = Signal()
    analysis_progress = Signal(object)  # jobs.Progress
    analysis_finished = Signal(str)  # "done", "partial" (up to a frame), "cancelled" or an error
    findings_ready = Signal()
    message = Signal(str, bool)  # text, is_error

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.view, self.transport, self.timeline = win.view, win.transport, win.timeline
        self.generation = 0
        self.media: jobs.Opened | None = None
        self.path: str | None = None
        self.predictor = None
        self.store = None
        self.model_path: str | None = None
        self.device = "auto"
        self.input_size = 0  # analysis size; 0 = the model's own
        self.threshold = 0.5
        self.min_area = DEFAULT_MIN_AREA_FRACTION
        self.gradcam_target = "segmentation"
        self.live_predict = True
        self.loader: LatestWorker | None = None
        self.tasks: list[Task] = []
        self.analysis: Task | None = None
        self.analysis_requested = False
        self.frame = None
        self.prediction = None
        self.shown = -1
        self.requested = -1
        self.track = None  # TrackResult of the current analysis: every view's finding IDs
        self.tracking = DEFAULT_SETTINGS
        self._findings_view: tuple[dict, dict] = ({}, {})  # thumbnails, still names
        self.start_frame = 0
        self.playing = False
        self.speed = 1.0
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self.findings_timer = QTimer(self, singleShot=True, interval=250)
        self.findings_timer.timeout.connect(self._submit_findings)
        self.findings_worker = LatestWorker(jobs.compute_findings, "findings", self)
        self.findings_worker.done.connect(self._on_findings)
        self.findings_worker.failed.connect(self._on_worker_failed)
        self.cam_worker = LatestWorker(jobs.compute_gradcam, "gradcam", self)
        self.cam_worker.done.connect(self._on_gradcam)
        self.cam_worker.failed.connect(self._on_worker_failed)
        self.feature_worker = LatestWorker(jobs.compute_features, "features", self)
        self.feature_worker.done.connect(self._on_features)
        self.feature_worker.failed.connect(self._on_worker_failed)
        win.findings.verdict_changed.connect(self.set_verdict)
        win.findings.set_settings(self.tracking.short(), self.tracking.describe())

    # ------------------------------------------------------------------ tasks
    def _start(self, task: Task) -> Task:
        self.tasks = [t for t in self.tasks if t.running()]
        self.tasks.append(task)
        return task.start()

    # ------------------------------------------------------------------ model
    def load_model(self, model: str | None, device: str | None = None,
                   input_size: int | None = None) -> None:
        """Load a model in the background; analysis re-runs with it where it had run."""
        self.stop_analysis()
        if device is not None:
            self.device = device
        if input_size is not None:
            self.input_size = int(input_size)
        size = self.input_size
        self.model_path = model
        media = self.media

        def work():
            from ..engine.models.registry import resolve_model

            loaded = jobs.load_predictor(str(resolve_model(model)), self.device, None, 0, size)
            if media is not None:
                from ..engine.runtime.results import AnalysisStore

                loaded.store = AnalysisStore.open(media.source, loaded.predictor, n_frames=media.n)
            return media, loaded

        task = Task.call(work, "model", self)
        task.finished.connect(self._on_model_loaded)
        task.failed.connect(self._on_model_failed)
        self._start(task)

    def _on_model_loaded(self, _task, result) -> None:
        media, loaded = result
        self.predictor = loaded.predictor
        self.store = loaded.store if media is self.media else None
        if self.media is not None and self.store is None:
            from ..engine.runtime.results import AnalysisStore

            self.store = AnalysisStore.open(self.media.source, self.predictor, n_frames=self.media.n)
        self.model_ready.emit(self.predictor.name)
        self._after_store_changed()

    def _on_model_failed(self, _task, message: str) -> None:
        """Keep the model in use (if any); otherwise the app works as a plain viewer."""
        text = f"No model could be loaded: {message}"
        if "none installed" in message or "not found" in message:
            text = ("No model installed. Train one or add a .safetensors model "
                    f"(Analysis > Choose model…).\n{message}")
        self.message.emit(text, True)
        if self.media is None:
            self.view.set_message(text)

    # ------------------------------------------------------------------ media
    def open(self, path: str, frame: int = 0) -> None:
        self.close_media()
        self.generation += 1
        gen, pred, self.path, self.start_frame = self.generation, self.predictor, str(path), frame
        self.view.set_message(f"Opening {Path(path).name} …")
        task = Task.call(lambda: (gen, jobs.open_media(str(path), pred)), "open", self)
        task.generation = gen
        task.finished.connect(self._on_opened)
        task.failed.connect(self._on_open_failed)
        self._start(task)

    def _on_opened(self, _task, result) -> None:
        gen, media = result
        if gen != self.generation:  # another file was opened meanwhile
            media.source.close()
            if media.store is not None:
                media.store.flush()
            return
        self.media = media
        if media.store is not None and self.predictor is not None:
            self.store = media.store
        elif self.predictor is not None:
            from ..engine.runtime.results import AnalysisStore

            self.store = AnalysisStore.open(media.source, self.predictor, n_frames=media.n)
        self.loader = LatestWorker(jobs.load_frame, "decoder", self)
        self.loader.done.connect(self._on_frame)
        self.loader.failed.connect(self._on_frame_failed)
        self.transport.set_length(media.n)
        self.timeline.set_length(media.n)
        self.timeline.setVisible(media.n > 1)
        self.win.findings.set_findings([], {}, "")
        if media.kind == "video":
            self.win.findings.set_note(NOT_ANALYSED)
        self.track = None
        self.view.clear()
        self.view.set_message("")
        self.seek(min(max(0, self.start_frame), media.n - 1))
        self.opened.emit(self.path)
        self._after_store_changed()
        if media.source.problems():  # junk in a folder, orphan masks, a short video
            self.message.emit("; ".join(media.source.problems()), True)

    def _on_open_failed(self, task, message: str) -> None:
        if task.generation != self.generation:
            return
        self.view.clear()
        self.view.set_message(f"Cannot open this file.\n{message}")
        self.open_failed.emit(message)
        self.message.emit(message, True)

    def _after_store_changed(self) -> None:
        """New store (new source or model): refresh, then analyse where it is automatic."""
        if self.media is None or self.store is None:
            return
        self.refresh_timeline()
        auto = self.media.kind != "video" or self.analysis_requested
        if auto and not self.store.complete:
            self.start_analysis()
        elif len(self.store):
            self.schedule_findings()
        if self.shown >= 0:
            self.seek(self.shown)

    def close_media(self) -> None:
        self.pause()
        self.stop_analysis()
        self.analysis_requested = False
        if self.loader is not None:
            self.loader.stop()
            self.loader = None
        if self.media is not None:
            self.media.source.close()
        if self.store is not None:
            self.store.flush()
        self.media, self.store, self.frame, self.prediction, self.track = None, None, None, None, None
        self.shown = self.requested = -1

    # ------------------------------------------------------------------ frames
    @property
    def n(self) -> int:
        return self.media.n if self.media is not None else 0

    def seek(self, index: int) -> None:
        """Show exactly frame ``index`` (decoded in the worker; the latest request wins)."""
        if self.media is None or self.loader is None:
            return
        index = max(0, min(int(index), self.n - 1))
        self.requested = index
        analysing = self.analysis is not None and self.analysis.running()
        self.loader.submit(jobs.FrameRequest(
            self.generation, index, self.media.source, self.store, self.predictor,
            self.threshold, self.min_area, predict=self.live_predict and not analysing))

    def step(self, delta: int) -> None:
        base = self.requested if self.requested >= 0 else self.shown
        self.seek(base + delta)

    def refresh(self) -> None:
        if self.shown >= 0:
            self.seek(self.shown)

    def _on_frame(self, req: jobs.FrameRequest, result: jobs.FrameResult) -> None:
        if req.generation != self.generation or self.media is None or req.source is not self.media.source:
            return
        self.frame = result.frame
        pred = result.prediction
        if pred is not None and (pred.threshold != self.threshold or pred.min_area_fraction != self.min_area):
            pred = pred.rethreshold(self.threshold, self.min_area)
        self.prediction = pred
        self.shown = result.frame.index
        self.view.set_frame(result.frame.rgb, result.frame.gt_mask)
        self.view.set_prediction(pred, self._ids())
        self.view.set_heatmap(None)
        self._update_info()
        self.transport.set_position(self.shown, self.n, result.frame.time_s)
        self.timeline.set_cursor(self.shown)
        self._request_extras()
        self.frame_shown.emit(self.shown)

    def _on_frame_failed(self, req, message: str) -> None:
        self.pause()
        self.message.emit(f"Frame {req.index + 1}: {message}", True)

    def _update_info(self) -> None:
        f = self.frame
        if f is None:
            return
        kind = self.media.kind if self.media else ""
        note = "" if self.prediction is not None or self.predictor is None else "  ·  not analysed yet"
        self.view.set_info(f"{f.name}  ·  {kind} frame {f.index + 1}/{self.n}{note}")

    def _ids(self) -> list[int] | None:
        if self.track is None or self.prediction is None:
            return None
        ids = self.track.ids_per_frame.get(self.shown)
        return ids if ids is not None and len(ids) == self.prediction.count else None

    # ------------------------------------------------------------------ playback
    def play(self) -> None:
        if self.media is None or self.n <= 1:
            return
        if self.shown >= self.n - 1:
            self.seek(0)
        self.playing = True
        if self.live_predict and self.store is not None and not self.store.complete and not self.analysing():
            self.message.emit("Each frame is analysed as it is shown, so playback is slower; "
                              "Analysis → Analyse procedure (Ctrl+R) analyses the video once", False)
        fps = (self.media.fps or STILL_FPS) * self.speed
        self.timer.start(max(1, int(1000 / fps)))
        self.transport.set_playing(True)

    def pause(self) -> None:
        self.playing = False
        self.timer.stop()
        self.transport.set_playing(False)

    def toggle_play(self) -> None:
        self.pause() if self.playing else self.play()

    def set_speed(self, speed: float) -> None:
        self.speed = speed
        if self.playing:
            self.play()

    def _tick(self) -> None:
        """Ask for the next frame only once the last one is shown: playback never skips."""
        if self.requested != self.shown:
            return
        if self.shown >= self.n - 1:
            self.pause()
            return
        self.seek(self.shown + 1)

    def jump_finding(self, direction: int) -> None:
        targets = sorted(f.best_index for f in self.track.findings) if self.track else []
        if not targets:
            targets = [a for a, _ in self.timeline.segments]
        cur = self.shown
        after = [t for t in targets if t > cur] if direction > 0 else [t for t in targets if t < cur]
        if after:
            self.seek(after[0] if direction > 0 else after[-1])
        else:
            self.message.emit("No further finding in that direction", False)

    # ------------------------------------------------------------------ threshold
    def set_threshold(self, value: float) -> None:
        """Re-threshold the cached probabilities of the shown frame: no model run."""
        self.threshold = float(value)
        self._rethreshold()

    def set_min_area(self, fraction: float) -> None:
        self.min_area = float(fraction)
        self._rethreshold()

    def _rethreshold(self) -> None:
        if self.prediction is not None:
            self.prediction = self.prediction.rethreshold(self.threshold, self.min_area)
            self.view.set_prediction(self.prediction, self._ids())
        self.refresh_timeline()
        self.schedule_findings()

    # ------------------------------------------------------------------ analysis
    def start_analysis(self, stop: int | None = None) -> bool:
        if self.media is None:
            self.message.emit("Open a video, folder or dataset first", True)
            return False
        if self.predictor is None or self.store is None:
            self.message.emit("No model is loaded, so nothing can be analysed", True)
            return False
        if self.analysis is not None and self.analysis.running():
            return True
        self.analysis_requested = stop is None or self.analysis_requested
        path, pred, store, n, whole = self.path, self.predictor, self.store, self.n, stop is None
        task = Task(lambda cancel: jobs.analyse_source(path, pred, store, n, cancel, stop=stop),
                    "analysis", self)
        task.whole = whole
        task.progress.connect(self._on_progress)
        task.finished.connect(self._on_analysis_done)
        task.failed.connect(self._on_analysis_failed)
        self.analysis = self._start(task)
        self.analysis_started.emit()
        return True

    def cancel_analysis(self) -> None:
        if self.analysis is not None:
            self.analysis.cancel()

    def stop_analysis(self) -> None:
        """Cancel and wait (used before the source or model changes, and on close)."""
        task, self.analysis = self.analysis, None
        if task is not None and task.running():
            task.stop()
            self.analysis_finished.emit("cancelled")

    def analysing(self) -> bool:
        return self.analysis is not None and self.analysis.running()

    def _on_progress(self, task, p: jobs.Progress) -> None:
        if task is not self.analysis:
            return
        self.analysis_progress.emit(p)
        if p.problems:
            self.message.emit("; ".join(p.problems), True)
        self.refresh_timeline()
        if self.prediction is None and self.store is not None and self.store.has(self.shown):
            self.refresh()

    def _on_analysis_done(self, task, ok) -> None:
        if task is not self.analysis:
            return
        store = self.store
        # a run "up to a frame" that reached the last frame is complete as well
        whole = ok and store is not None and (getattr(task, "whole", False)
                                              or len(store) >= store.n_frames > 0)
        if whole:
            store.complete = True
        # a partial run (up to a frame) must not read as "Analysis complete"
        self.analysis_finished.emit(("done" if whole else "partial") if ok else "cancelled")
        self.refresh_timeline()
        self.schedule_findings()
        self.refresh()

    def _on_analysis_failed(self, task, message: str) -> None:
        if task is not self.analysis:
            return
        self.analysis_finished.emit(message)
        self.message.emit(f"Analysis stopped: {message}", True)

    # ------------------------------------------------------------------ timeline & findings
    def refresh_timeline(self) -> None:
        if self.store is None or self.media is None:
            return
        from ..engine.analysis.tracking import segments

        probs = self.store.frame_probs
        counts = self.store.counts.astype(float)
        counts[counts < 0] = float("nan")
        if self.track is not None and getattr(self, "_track_counts", None) is not None:
            counts = self._track_counts
        self.timeline.set_data(probs, counts, self.threshold,
                               segments(probs, self.threshold, min_len=1, gap=2))

    def schedule_findings(self) -> None:
        self.findings_timer.start()

    def _submit_findings(self) -> None:
        if self.store is None or self.media is None or not len(self.store):
            return
        self.findings_worker.submit(jobs.FindingsRequest(
            self.path, self.store, self.threshold, self.min_area, self.media.fps, self.generation,
            self.tracking))

    def _on_findings(self, req: jobs.FindingsRequest, res: jobs.FindingsResult) -> None:
        if req.store is not self.store:
            return
        self.track = res.track
        self._track_counts = res.counts
        self._findings_view = (res.thumbs, res.names)
        self._show_findings()
        self.timeline.set_data(res.frame_probs, res.counts, self.threshold, res.segments)
        if self.prediction is not None:
            self.view.set_prediction(self.prediction, self._ids())
        self.findings_ready.emit()

    def _show_findings(self) -> None:
        t = self.track
        note = "" if t.complete else (f"{t.n_analysed} of {t.n_frames} frames analysed — "
                                      "Analysis → Analyse procedure (Ctrl+R)")
        self.win.findings.set_findings(t.findings, *self._findings_view[:1], note,
                                       self._findings_view[1])

    def set_verdict(self, finding, verdict: str, note: str) -> None:
        """Save the reviewer's verdict beside the analysis; counts and views follow at once."""
        from ..engine.analysis import verdicts
        from ..engine.errors import PolypViewerError

        if self.store is None or self.track is None:
            return
        try:
            entries = verdicts.set_verdict(self.store.folder, finding, verdict, note)
        except PolypViewerError as e:
            self.message.emit(str(e), True)
            return
        self.track = verdicts.apply(self.track, entries)
        self._show_findings()
        self.findings_ready.emit()

    # ------------------------------------------------------------------ Grad-CAM & features
    def _request_extras(self) -> None:
        if self.frame is None or self.predictor is None:
            return
        if self.view.layers["gradcam"].visible:
            self.cam_worker.submit(jobs.CamRequest(self.shown, self.frame.rgb, self.predictor,
                                                   self.gradcam_target))
        panel = self.win.features
        if self.win.feature_dock.isVisible() and panel.stages():
            self.feature_worker.submit(jobs.FeatureRequest(self.shown, self.frame.rgb, self.predictor,
                                                           panel.stages()))

    def request_extras(self) -> None:
        self._request_extras()

    def set_gradcam_target(self, target: str) -> None:
        self.gradcam_target = target
        self._request_extras()

    def _on_gradcam(self, req: jobs.CamRequest, heat) -> None:
        if req.index == self.shown and req.predictor is self.predictor:
            self.view.set_heatmap(heat)

    def _on_features(self, req: jobs.FeatureRequest, maps) -> None:
        if req.index == self.shown:
            self.win.features.set_maps(req.stages, maps)

    def _on_worker_failed(self, _req, message: str) -> None:
        self.message.emit(message, True)

    # ------------------------------------------------------------------ shutdown
    def shutdown(self) -> None:
        """Stop every worker and wait for it: called from the window's closeEvent."""
        self.timer.stop()
        self.findings_timer.stop()
        for t in self.tasks:
            t.cancel()
        self.close_media()
        for w in (self.findings_worker, self.cam_worker, self.feature_worker):
            w.stop()
        for t in self.tasks:
            t.stop()
        self.tasks = []
