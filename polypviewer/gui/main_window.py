"""The main window: layout, menus, docks, status bar, settings and drag-and-drop.

Review logic (frames, analysis, findings) lives in review.Review; this class arranges widgets
and forwards user actions. Other tools plug in with add_tool_action / add_dock /
add_central_tab.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..engine.models import profiles
from ..engine.runtime import views
from ..paths import resources_dir, user_log_dir
from . import menus, screen_fit, shortcuts, workers
from .controls import ControlPanel
from .exports_ui import Exporter
from .feature_maps import FeatureMapPanel
from .findings import FindingsPanel
from .review import Review
from .settings import Settings
from .timeline import Timeline
from .transport import TransportBar, format_time
from .viewer import FrameView

FILE_FILTER = ("Images and videos (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.mp4 *.avi *.mov *.mkv "
               "*.webm *.mpg *.mpeg *.m4v *.wmv);;All files (*)")


CLOSE_POLL_MS = 50
CLOSE_GIVE_UP_S = 30.0  # a model call that never returns must not keep the app alive


class MainWindow(QMainWindow):
    """Implements ``host.HostWindow`` for the tools (dataset review, training wizard)."""

    closed = Signal()  # the window has really closed: every worker thread has ended

    def __init__(self, model: str | None = None, device: str | None = None,
                 size: int | str | None = None):
        super().__init__()
        self.setWindowTitle("PolypViewer")
        self.setAcceptDrops(True)
        self.settings = Settings()
        self.last_error = ""
        self._error_box: QMessageBox | None = None
        self.menus: dict = {}
        self.layer_actions: dict = {}
        self._closed = False  # closing began: settings saved, workers cancelled
        self._close_waited = 0.0
        # a moved threshold slider is saved in the user's model settings once it rests
        self._pending_threshold: tuple[str, float] | None = None
        self._threshold_timer = QTimer(self, singleShot=True, interval=500)
        self._threshold_timer.timeout.connect(self._save_threshold)

        self.view = FrameView()
        self.transport = TransportBar()
        self.timeline = Timeline()
        review_page = QWidget()
        lay = QVBoxLayout(review_page)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.view)
        split.addWidget(self.timeline)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 1)
        lay.addWidget(split, 1)
        lay.addWidget(self.transport)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(review_page, "Review")
        self.tabs.tabBar().setVisible(False)
        self.setCentralWidget(self.tabs)
        self.archive_view = None  # the Archive tab, made when a results database is opened

        self.controls = ControlPanel(self.view.layers)
        self.findings = FindingsPanel()
        self.features = FeatureMapPanel()
        self.control_dock = self.add_dock(self.controls, "Display and detection")
        self.findings_dock = self.add_dock(self.findings, "Findings")
        self.feature_dock = self.add_dock(self.features, "Feature maps", Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.findings_dock, self.feature_dock)
        self.findings_dock.raise_()
        self.feature_dock.hide()
        screen_fit.set_dock_minimums(self.control_dock, self.findings_dock, self.feature_dock)

        self.review = Review(self)
        self.exporter = Exporter(self)
        self.menus = menus.build(self)
        for dock in (self.control_dock, self.findings_dock, self.feature_dock):
            self.menus["View"].addAction(dock.toggleViewAction())
        self._build_status_bar()
        self._connect()
        self._restore_settings(device, size)
        self._fill_samples()
        self._fill_recent()
        self._fill_models(model)
        self.review.load_model(model, self.review.device)

    # ------------------------------------------------------------------ building
    def add_dock(self, widget: QWidget, title: str,
                 area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.replace(" ", "_"))
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        if "View" in self.menus:  # docks added by tools after the menus exist
            self.menus["View"].addAction(dock.toggleViewAction())
        return dock

    def add_central_tab(self, widget: QWidget, title: str) -> int:
        index = self.tabs.addTab(widget, title)
        self.tabs.tabBar().setVisible(True)
        return index

    def add_tool_action(self, action_or_title: QAction | str, callback=None, shortcut: str = "") -> QAction:
        act = action_or_title if isinstance(action_or_title, QAction) else QAction(action_or_title, self)
        if callback is not None:
            act.triggered.connect(callback)
        if shortcut:
            act.setShortcut(shortcut)
        self.menus["Tools"].addAction(act)
        self.menus["Tools"].menuAction().setVisible(True)
        return act

    def show_central(self, widget: QWidget) -> None:
        self.tabs.setCurrentWidget(widget)

    def current_model(self) -> str:
        """The model the viewer runs, as a path (or the default model's name)."""
        r = self.review
        if r.predictor is not None and r.predictor.loaded.path is not None:
            return str(r.predictor.loaded.path)
        if r.model_path:
            return r.model_path
        from ..engine.models.registry import DEFAULT_MODEL  # imports torch: not at app start

        return DEFAULT_MODEL

    def current_device(self) -> str:
        return self.review.device

    def set_model(self, path: str) -> None:
        self.review.load_model(path)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.progress_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.review.cancel_analysis)
        for w in (self.progress_label, self.progress, self.cancel_button):
            sb.addPermanentWidget(w)
            w.hide()
        self.model_label = QLabel("Model: loading…")
        self.device_label = QLabel()
        sb.addPermanentWidget(self.model_label)
        sb.addPermanentWidget(self.device_label)

    def _connect(self) -> None:
        r, t, c = self.review, self.transport, self.controls
        t.seek.connect(r.seek)
        t.step.connect(r.step)
        p = r.playback
        t.play_toggled.connect(lambda on: p.play() if on else p.pause())
        t.speed_changed.connect(p.set_speed)
        t.finding_step.connect(p.jump_finding)
        self.timeline.clicked.connect(r.seek)
        self.findings.jump.connect(r.seek)
        r.frame_shown.connect(self.findings.show_frame)
        c.layer_toggled.connect(self.set_layer)
        c.layer_opacity.connect(self.view.set_layer_opacity)
        c.threshold_changed.connect(self._threshold_changed)
        c.min_area_changed.connect(r.set_min_area)
        c.model_chosen.connect(lambda p: r.load_model(p or None))
        c.device_chosen.connect(self._device_changed)
        c.size_chosen.connect(lambda size: r.load_model(r.model_path, None, size))
        c.views_chosen.connect(lambda views: r.load_model(r.model_path, None, None, views))
        c.gradcam_target_changed.connect(r.set_gradcam_target)
        self.features.stages_changed.connect(lambda _s: r.request_extras())
        self.feature_dock.visibilityChanged.connect(lambda on: on and r.request_extras())
        r.message.connect(self.show_message)
        r.model_ready.connect(self._model_ready)
        r.opened.connect(self._opened)
        r.analysis_started.connect(self._analysis_started)
        r.analysis_progress.connect(self._analysis_progress)
        r.analysis_finished.connect(self._analysis_finished)

    # ------------------------------------------------------------------ settings
    def _restore_settings(self, device: str | None, size: int | str | None = None) -> None:
        s = self.settings
        geo = s.get("geometry")
        restored = isinstance(geo, QByteArray) and self.restoreGeometry(geo)
        screen_fit.fit_to_screen(self, restored=restored)
        state = s.get("window_state")
        if not (isinstance(state, QByteArray) and self.restoreState(state)):
            # the dock layout takes sizes once the window is laid out
            QTimer.singleShot(0, self, lambda: screen_fit.give_rest_to(
                self, self.control_dock, self.findings_dock))
        for name, layer in self.view.layers.items():
            on = s.get(f"overlay/{name}", layer.visible, bool)
            opacity = s.get(f"overlay/{name}_opacity", layer.opacity, float)
            self.view.set_layer_opacity(name, opacity)
            self.controls.rows[name].opacity.setValue(int(round(opacity * 100)))
            self.set_layer(name, on)
        self.review.device = device or s.get("device", "auto", str)
        from ..engine.models.device import resolve_device

        _, note = resolve_device(self.review.device if self.review.device in ("auto", "cpu", "cuda", "mps")
                                 else "auto")
        self.controls.set_device(self.review.device, note)
        self.device_label.setText(note)
        self.review.input_size = s.get("analysis_size", 0) if size is None else size
        self.controls.set_size(self.review.input_size)
        self.review.tta = s.get("test_time_views", "auto", str)
        self.controls.set_views(self.review.tta)
        self.review.min_area = s.get("min_area", self.review.min_area, float)
        self.controls.set_min_area(self.review.min_area)
        limit = s.get("max_image_pixels", 0, int)
        if limit > 0:  # the --max-pixels flag, when given, wins (override=False)
            from ..engine.media.imageio import set_max_pixels

            set_max_pixels(limit, override=False)

    def save_settings(self) -> None:
        s = self.settings
        s.set("geometry", self.saveGeometry())
        s.set("window_state", self.saveState())
        for name, layer in self.view.layers.items():
            s.set(f"overlay/{name}", layer.visible)
            s.set(f"overlay/{name}_opacity", layer.opacity)
        s.set("device", self.review.device)
        s.set("analysis_size", self.review.input_size)
        s.set("test_time_views", self.review.tta)
        s.set("min_area", self.review.min_area)
        self._save_threshold()
        s.sync()

    def _save_threshold(self) -> None:
        """The viewer's threshold goes where every tool reads it: the user's model settings."""
        self._threshold_timer.stop()
        pending, self._pending_threshold = self._pending_threshold, None
        if pending is None:
            return
        from ..engine.errors import PolypViewerError
        from ..engine.models.model_settings import save_threshold

        try:
            save_threshold(*pending)
        except PolypViewerError as e:
            self.statusBar().showMessage(f"Threshold not saved: {e}", 8000)

    # ------------------------------------------------------------------ opening
    def open_path(self, path: str, frame: int = 0) -> None:
        self.review.open(str(path), frame)

    def _dialog_folder(self) -> str:
        return self.settings.get("last_folder", str(Path.home()), str)

    def open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image or video", self._dialog_folder(), FILE_FILTER)
        if path:
            self.open_path(path)

    def open_folder_dialog(self, title: str = "Open folder of images") -> None:
        path = QFileDialog.getExistingDirectory(self, title, self._dialog_folder())
        if path:
            self.open_path(path)

    def open_dataset_dialog(self) -> None:
        self.open_folder_dialog("Open dataset folder (with images/ and masks/)")

    def open_archive_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open results database", self._dialog_folder(),
                                              "Results databases (*.sqlite *.db);;All files (*)")
        if path:
            self.open_archive(path)

    def open_archive(self, database: str) -> None:
        """Show a batch's results database in the Archive tab (read in a worker)."""
        from .archive_view import ArchiveView

        if self.archive_view is None:
            self.archive_view = ArchiveView()
            self.archive_view.open_requested.connect(self._open_from_archive)
            self.add_central_tab(self.archive_view, "Archive")
        self.tabs.setCurrentWidget(self.archive_view)
        self.archive_view.load(database)

    def _open_from_archive(self, path: str) -> None:
        self.tabs.setCurrentIndex(0)
        self.open_path(path)

    def _opened(self, path: str) -> None:
        self.settings.set("last_folder", str(Path(path).parent))
        self.settings.add_recent(path)
        self._fill_recent()
        self.setWindowTitle(f"{Path(path).name} — PolypViewer")
        self.statusBar().showMessage(f"Opened {Path(path).name}", 4000)  # the full path is in Recent

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.settings.recent():
            self.recent_menu.addAction(p, lambda p=p: self.open_path(p))
        self.recent_menu.setEnabled(bool(self.settings.recent()))

    def _fill_samples(self) -> None:
        folder = resources_dir() / "samples"
        items = [("Demo procedure clip", folder / "demo.mp4"), ("Kvasir-SEG sample dataset", folder / "kvasir")]
        self.sample_menu.clear()
        for title, p in items:
            act = self.sample_menu.addAction(title, lambda p=p: self.open_path(str(p)))
            act.setEnabled(p.exists())

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.open_path(paths[0])
            event.acceptProposedAction()

    # ------------------------------------------------------------------ model & device
    def _fill_models(self, current: str | None) -> None:
        from ..engine.models.registry import list_models

        try:
            entries = [(f"{e.name} ({e.source})", str(e.path)) for e in list_models()]
        except Exception:  # a broken models folder must not stop the app
            entries = []
        self.controls.set_models(entries, current)

    def _model_ready(self, name: str) -> None:
        r = self.review
        size, own = r.predictor.config.input_size, r.predictor.native_size
        fast = " (fast profile)" if r.input_size == profiles.FAST else ""
        self.model_label.setText(f"Model: {name}" + (f" at {size} px{fast}" if size != own else ""))
        self.controls.set_size_choices(profiles.size_choices(r.predictor.loaded.metadata, own))
        self.controls.set_size(r.input_size)
        self.device_label.setText(r.predictor.device_note)
        self.controls.set_device(r.device, r.predictor.device_note)
        pending = self._pending_threshold
        self._save_threshold()  # a slider move not yet saved belongs to the model it was made for
        # resolved by the Predictor (the user's setting, else the file's), unless just moved
        thr = pending[1] if pending is not None and pending[0] == name else r.predictor.threshold
        self.controls.set_threshold(thr)
        r.threshold = thr
        current = str(r.predictor.loaded.path) if r.predictor.loaded.path else None
        self._fill_models(current)
        if r.media is None:
            self.view.set_message("Open an image, folder, dataset or video (Ctrl+O), or drop it here.")

    def _device_changed(self, device: str) -> None:
        self.review.load_model(self.review.model_path, device)

    def act_choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose model", self._dialog_folder(),
                                              "PolypViewer model (*.safetensors *.json)")
        if path:
            self.review.load_model(path)

    # ------------------------------------------------------------------ view
    def set_layer(self, name: str, on: bool) -> None:
        self.view.set_layer_visible(name, on)
        for widget in (self.controls.rows[name].check, self.layer_actions.get(name)):
            if widget is not None and widget.isChecked() != on:
                widget.blockSignals(True)
                widget.setChecked(on)
                widget.blockSignals(False)
        if name == "gradcam" and on:
            self.review.request_extras()

    def _threshold_changed(self, value: float) -> None:
        self.review.set_threshold(value)
        if self.review.predictor is not None:
            self._pending_threshold = (self.review.predictor.name, float(value))
            self._threshold_timer.start()

    def set_live_predict(self, on: bool) -> None:
        self.review.live_predict = on

    # ------------------------------------------------------------------ analysis
    def _analysis_started(self) -> None:
        self.progress.setRange(0, max(1, self.review.n))
        self.progress.setValue(0)
        self.progress_label.setText("Analysing…")
        for w in (self.progress_label, self.progress, self.cancel_button):
            w.show()

    def _analysis_progress(self, p) -> None:
        self.progress.setMaximum(max(1, p.total))
        self.progress.setValue(p.done)
        eta = f" · {format_time(p.eta_s)[:-3]} left" if p.eta_s is not None else ""
        self.progress_label.setText(f"Analysing {p.done}/{p.total} · {p.fps:.1f} frames/s{eta}"
                                    + self._slower_than_video(p.fps))

    def _slower_than_video(self, fps: float) -> str:
        """A hint when analysis falls behind the video: what would keep up (one view for
        video, else the model's fast profile when it has one)."""
        r = self.review
        video_fps = r.media.fps if r.media is not None else None
        if not video_fps or fps <= 0 or fps >= video_fps or r.predictor is None:
            return ""
        if r.predictor.for_media(r.media.kind).tta != views.OFF:
            return " · slower than the video: Test-time views Auto runs video at one view"
        if r.input_size == profiles.FAST or profiles.fast_size(r.predictor.loaded.metadata) is None:
            return ""
        return " · slower than the video: the Fast size keeps up"

    def _analysis_finished(self, state: str) -> None:
        for w in (self.progress_label, self.progress, self.cancel_button):
            w.hide()
        if state == "done":
            self.statusBar().showMessage("Analysis complete", 5000)
        elif state == "partial":
            store = self.review.store
            if store is not None:
                import numpy as np

                done = int(np.isfinite(store.frame_probs).sum())
                self.statusBar().showMessage(f"Analysed {done} of {self.review.n} frames", 5000)
        elif state == "cancelled":
            self.statusBar().showMessage("Analysis cancelled; results so far are kept", 5000)

    # ------------------------------------------------------------------ messages & help
    def show_message(self, text: str, error: bool = False) -> None:
        """Status bar always; errors also in a non-blocking message box (one at a time)."""
        self.statusBar().showMessage(text, 10000 if error else 5000)
        if not error:
            return
        self.last_error = text
        if self._error_box is None:
            self._error_box = QMessageBox(QMessageBox.Icon.Warning, "PolypViewer", text,
                                          QMessageBox.StandardButton.Ok, self)
            self._error_box.setWindowModality(Qt.WindowModality.NonModal)
        self._error_box.setText(text)
        if not self._closed:
            self._error_box.show()

    def show_shortcuts(self) -> None:
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts", shortcuts.sheet_html(self),
                          QMessageBox.StandardButton.Close, self)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()
        self._shortcuts_box = box

    def open_log_folder(self) -> None:
        folder = user_log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def show_about(self) -> None:
        r = self.review
        model = r.predictor.name if r.predictor else "none loaded"
        device = r.predictor.device_note if r.predictor else self.device_label.text()
        from .. import __version__

        box = QMessageBox(QMessageBox.Icon.Information, "About PolypViewer",
                          f"<b>PolypViewer {__version__}</b><br>Review of colonoscopy images and "
                          f"procedures with polyp segmentation.<br><br>Model: {model}<br>Device: {device}"
                          "<br><br>Decision support only: every finding needs a clinician's review.",
                          QMessageBox.StandardButton.Close, self)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()
        self._about_box = box

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event) -> None:  # noqa: N802
        """Save, cancel every worker, and close once they have all ended (polled, never
        joined: the window stays responsive; it is hidden meanwhile)."""
        if not self._closed:
            self._closed = True
            self.save_settings()
            self.exporter.shutdown()
            self.review.shutdown()
            if self._error_box is not None:
                self._error_box.close()
        alive = workers.running_threads()
        if alive and self._close_waited < CLOSE_GIVE_UP_S:
            event.ignore()
            self.hide()
            self._close_waited += CLOSE_POLL_MS / 1000
            QTimer.singleShot(CLOSE_POLL_MS, self, self.close)
            return
        super().closeEvent(event)
        self.closed.emit()
