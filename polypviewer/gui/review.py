"""The review state machine: which source, model and frame are shown, and who works on them.

It owns the worker threads (decoder, analysis; findings through ``review_findings``, Grad-CAM
and feature maps through ``explain.Explainer``) and updates the widgets from their results on
the UI thread. Every request carries a generation number (sources) or the predictor it was
made for (models), so results for a source or model that was since replaced are dropped. The UI thread never waits
for a worker: replaced work is cancelled and let go, and what it held (the source it read,
the cache it wrote) is closed by ``workers.after`` once it has ended.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from ..engine.analysis.tracking import settings_for
from ..engine.runtime.postprocess import DEFAULT_MIN_AREA_FRACTION
from . import jobs
from .explain import Explainer
from .findings import NOT_ANALYSED
from .playback import Playback
from .review_findings import ReviewFindings
from .workers import LatestWorker, Task, after


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
        self.view, self.transport, self.timeline = win.view, win.transport, win.timeline
        self.generation = 0  # of the source: bumped on every open
        self.model_generation = 0  # of load_model requests: only the latest one is kept
        self.media: jobs.Opened | None = None
        self.path: str | None = None
        self.predictor = None
        self.live_net: jobs.NetCopy | None = None  # live single-frame prediction's network
        self.store = None
        self.model_path: str | None = None
        self.device = "auto"
        self.input_size: int | str = 0  # pixels, 0 = the model's own, or "fast" (profiles.py)
        self.tta = "auto"  # test-time views (engine.runtime.views), settled per source
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
        self.start_frame = 0
        self.playback = Playback(self, win.transport, win.timeline)
        self.findings = ReviewFindings(self, win.findings, win.timeline, win.view)
        self.explainer = Explainer(win.view, win.features, win.feature_dock, self)
        self.explainer.failed.connect(lambda text: self.message.emit(text, True))

    # ------------------------------------------------------------------ tasks
    def _start(self, task: Task) -> Task:
        self.tasks = [t for t in self.tasks if t.running()]
        self.tasks.append(task)
        return task.start()

    # ------------------------------------------------------------------ model
    def load_model(self, model: str | None, device: str | None = None,
                   input_size: int | str | None = None, tta: str | None = None) -> None:
        """Load a model in the background; analysis re-runs with it where it had run.

        The request is a snapshot (model, device, size, source) taken here; when several are
        made in a row, only the latest one's result is used.
        """
        self.stop_analysis()
        if device is not None:
            self.device = device
        if input_size is not None:
            self.input_size = input_size
        if tta is not None:
            self.tta = tta
        self.model_generation += 1
        gen, size, device, media = self.model_generation, self.input_size, self.device, self.media
        views = self.tta
        self.model_path = model

        def work():
            from ..engine.models.registry import resolve_model

            source, n = (media.source, media.n) if media is not None else (None, 0)
            return media, jobs.load_predictor(str(resolve_model(model)), device, source, n, size,
                                              views)

        task = Task.call(work, "model", self)
        task.generation = gen
        task.finished.connect(self._on_model_loaded)
        task.failed.connect(self._on_model_failed)
        self._start(task)

    def _on_model_loaded(self, task, result) -> None:
        if task.generation != self.model_generation:  # a later request replaced this one
            return
        media, loaded = result
        self.predictor = loaded.predictor
        self.findings.set_tracking(settings_for(self.predictor.loaded.metadata))
        self.live_net = jobs.NetCopy(self.predictor)
        self.explainer.set_predictor(self.predictor)
        self.model_ready.emit(self.predictor.name)
        if media is self.media and loaded.store is not None:
            self._set_store(loaded.store)
        else:
            self.store = None
            self._open_store()

    def _open_store(self) -> None:
        """Open the cache of the current model on the current source, in a worker."""
        if self.media is None or self.predictor is None:
            return
        gen, pred, media = self.generation, self.predictor, self.media
        task = Task.call(lambda: jobs.open_store(media.source, pred, media.n), "store", self)
        task.key = (gen, pred)
        task.finished.connect(self._on_store_opened)
        task.failed.connect(self._on_store_failed)
        self._start(task)

    def _on_store_opened(self, task, store) -> None:
        if task.key == (self.generation, self.predictor):
            self._set_store(store)

    def _on_store_failed(self, task, message: str) -> None:
        if task.key == (self.generation, self.predictor):
            self.message.emit(message, True)

    def _set_store(self, store) -> None:
        self.store = store
        self.findings.track = None
        self._after_store_changed()

    def _on_model_failed(self, _task, message: str) -> None:
        """Keep the model in use (if any); otherwise the app works as a plain viewer."""
        if _task.generation != self.model_generation:
            return
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
        task.generation, task.predictor = gen, pred
        task.finished.connect(self._on_opened)
        task.failed.connect(self._on_open_failed)
        self._start(task)

    def _on_opened(self, task, result) -> None:
        gen, media = result
        if gen != self.generation:  # another file was opened meanwhile
            after([], lambda: _close(media.source, media.store), "close-stale")
            return
        self.media = media
        self.loader = LatestWorker(jobs.load_frame, "decoder", self)
        self.loader.done.connect(self._on_frame)
        self.loader.failed.connect(self._on_frame_failed)
        self.transport.set_length(media.n)
        self.timeline.set_length(media.n, stills=media.kind != "video")
        self.timeline.setVisible(media.n > 1)
        self.findings.panel.set_findings([], {}, "")
        if media.kind == "video":
            self.findings.panel.set_note(NOT_ANALYSED)
        self.findings.track = None
        self.view.clear()
        self.view.set_message("")
        self.requested = min(max(0, self.start_frame), media.n - 1)
        self.opened.emit(self.path)
        if media.store is not None and task.predictor is self.predictor:
            self._set_store(media.store)  # shows the requested frame
        else:  # no model yet, or it changed while the source opened
            self.seek(self.requested)
            self._open_store()
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
        self.findings.refresh_timeline()
        auto = self.media.kind != "video" or self.analysis_requested
        if auto and not self.store.complete:
            self.start_analysis()
        elif len(self.store):
            self.findings.schedule()
        if self.requested >= 0:
            self.seek(self.requested)

    def close_media(self) -> None:
        """Let go of the source: its decoder and analysis are cancelled, not waited for; the
        source is closed and the cache flushed once they have ended."""
        self.playback.pause()
        busy = [t for t in (self.stop_analysis(), self.loader.thread if self.loader else None) if t]
        self.analysis_requested = False
        if self.loader is not None:
            self.loader.detach()
            self.loader = None
        if self.media is not None or self.store is not None:
            media, store = self.media, self.store
            after(busy, lambda: _close(media.source if media else None, store), "close-media")
        self.media, self.store, self.frame, self.prediction = None, None, None, None
        self.findings.track = None
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
            self.generation, index, self.media.source, self.store,
            self.live_net, self.threshold, self.min_area,
            predict=self.live_predict and not analysing))

    def step(self, delta: int) -> None:
        base = self.requested if self.requested >= 0 else self.shown
        self.seek(base + delta)

    def play(self) -> None:
        self.playback.play()

    def pause(self) -> None:
        self.playback.pause()

    def step_seconds(self, seconds: float) -> None:
        """By the frames' stored times (variable frame rates), else by the nominal rate."""
        from ..engine.media.frame_times import frame_at_offset

        fps = self.media.fps if self.media else None
        base = self.requested if self.requested >= 0 else self.shown
        times = self.store.frame_times if self.store is not None else None
        self.seek(frame_at_offset(times, base, seconds, fps))

    def seek_last(self) -> None:
        self.seek(self.n - 1)

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
        self.view.set_prediction(pred, self.findings.ids())
        self.view.set_heatmap(None)
        self._update_info()
        self.transport.set_position(self.shown, self.n, result.frame.time_s)
        self.timeline.set_cursor(self.shown)
        self.request_extras()
        self.frame_shown.emit(self.shown)

    def _on_frame_failed(self, req, message: str) -> None:
        if req.generation != self.generation or req.store is not self.store:
            return  # a replaced source, or a cache re-analyse deleted meanwhile
        self.playback.pause()
        self.message.emit(f"Frame {req.index + 1}: {message}", True)

    def _update_info(self) -> None:
        f = self.frame
        if f is None:
            return
        kind = self.media.kind if self.media else ""
        note = "" if self.prediction is not None or self.predictor is None else "  ·  not analysed yet"
        self.view.set_info(f"{f.name}  ·  {kind} frame {f.index + 1}/{self.n}{note}")

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
            self.view.set_prediction(self.prediction, self.findings.ids())
        self.findings.refresh_timeline()
        self.findings.schedule()

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

    def stop_analysis(self):
        """Cancel and let go (before the source or model changes, and on close); returns the
        thread that may still be finishing its last batch, or None."""
        task, self.analysis = self.analysis, None
        if task is not None and task.running():
            task.cancel()
            self.analysis_finished.emit("cancelled")
            return task.thread
        return None

    def reanalyse(self) -> None:
        """Discard the cached results and analyse again; the old cache is deleted in a worker
        once the analysis writing it has stopped."""
        if self.store is None or self.media is None or self.predictor is None:
            return
        running = self.stop_analysis()
        old, media, pred, gen = self.store, self.media, self.predictor, self.generation
        self.store, self.findings.track = None, None
        self.timeline.set_length(media.n, stills=media.kind != "video")
        self.findings.timer.stop()  # no new findings on the old store; the one running ends
        idle = self.findings.worker.idle
        task = Task.call(lambda: jobs.fresh_store(old, media.source, pred, media.n, running, idle),
                         "reanalyse", self)
        task.key = (gen, pred)
        task.finished.connect(self._on_fresh_store)
        task.failed.connect(self._on_store_failed)
        self._start(task)

    def _on_fresh_store(self, task, store) -> None:
        if task.key != (self.generation, self.predictor):
            return
        self.store = store
        self.findings.refresh_timeline()
        self.start_analysis()

    def analysing(self) -> bool:
        return self.analysis is not None and self.analysis.running()

    def _on_progress(self, task, p: jobs.Progress) -> None:
        if task is not self.analysis:
            return
        self.analysis_progress.emit(p)
        if p.problems:
            self.message.emit("; ".join(p.problems), True)
        self.findings.refresh_timeline()
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
        self.findings.refresh_timeline()
        self.findings.schedule()
        self.refresh()

    def _on_analysis_failed(self, task, message: str) -> None:
        if task is not self.analysis:
            return
        self.analysis_finished.emit(message)
        self.message.emit(f"Analysis stopped: {message}", True)

    # ------------------------------------------------------------------ Grad-CAM & features
    def request_extras(self) -> None:
        if self.frame is not None:
            self.explainer.request(self.shown, self.frame.rgb)

    def set_gradcam_target(self, target: str) -> None:
        self.explainer.target = target
        self.request_extras()

    def settled(self) -> bool:
        """Nothing in flight: no model, source or cache opening, no analysis, findings up to
        date, the requested frame shown and its Grad-CAM / feature maps computed."""
        return (not any(t.running() for t in self.tasks) and self.findings.idle()
                and self.explainer.idle()
                and (self.loader is None or self.loader.idle()) and self.requested == self.shown)

    # ------------------------------------------------------------------ shutdown
    def shutdown(self) -> None:
        """Cancel every worker and let go (the window closes once ``workers.running_threads``
        is empty; see MainWindow.closeEvent)."""
        self.playback.pause()
        self.findings.timer.stop()
        for t in self.tasks:
            t.cancel()
        self.close_media()
        self.findings.detach()
        self.explainer.detach()
        self.tasks = []


def _close(source, store) -> None:
    """In a worker: close a source and write what the cache still holds."""
    try:
        if source is not None:
            source.close()
    finally:
        if store is not None:
            store.flush()
