"""File > Export: the current frame as shown, and whole-source exports through engine.export.writers.

Whole-source exports read cached results (no model run) and the frames from a Source of
their own, in a worker with a progress dialog that can cancel.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QProgressDialog

from ..engine.export import overlay
from ..engine.media.imageio import write_png
from .workers import Task

KINDS = {  # menu title, engine formats, default folder suffix
    "masks": ("Masks (PNG)…", ["png"], "masks"),
    "coco": ("COCO annotations…", ["coco"], "coco"),
    "table": ("Per-frame table (CSV + JSON)…", ["csv", "json"], "table"),
    "overlays": ("Overlay images (PNG)…", ["overlays"], "overlays"),
    "mp4": ("Annotated video (MP4)…", ["mp4"], "video"),
    "report": ("Procedure report (HTML)…", ["report"], "report"),
}


def frame_style(view) -> overlay.OverlayStyle:
    """The engine overlay style matching the layers switched on in the viewer."""
    on = {n: layer.visible for n, layer in view.layers.items()}
    return replace(overlay.DEFAULT_STYLE, mask=on["mask"], contours=on["contour"], boxes=on["boxes"],
                   labels=on["boxes"], gt=on["gt"], heatmap=on["gradcam"],
                   opacity=view.layers["mask"].opacity,
                   heatmap_opacity=view.layers["gradcam"].opacity)


class Exporter(QObject):
    finished = Signal(str)  # output path, or "" when cancelled/failed

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.task: Task | None = None
        self.dialog: QProgressDialog | None = None

    def _ask(self, title: str, suggestion: Path, file_filter: str | None = None) -> str | None:
        folder = self.win.settings.get("last_export_dir", str(Path.home()))
        target = str(Path(folder) / suggestion.name)
        if file_filter:
            path, _ = QFileDialog.getSaveFileName(self.win, title, target, file_filter)
        else:
            path = QFileDialog.getExistingDirectory(self.win, title, folder)
            path = str(Path(path) / suggestion.name) if path else ""
        if path:
            self.win.settings.set("last_export_dir", str(Path(path).parent))
        return path or None

    # ---------------------------------------------------------------- current frame
    def export_frame_dialog(self) -> None:
        review = self.win.review
        if review.frame is None:
            self.win.show_message("Nothing to export: no frame is shown", True)
            return
        path = self._ask("Export current frame", Path(f"{review.frame.name}_overlay.png"), "PNG (*.png)")
        if path:
            self.export_frame(path)

    def export_frame(self, path: str) -> str:
        """Full-resolution frame with the overlays currently shown (engine.export.overlay renderer)."""
        review, view = self.win.review, self.win.view
        layer = view.layers["gradcam"]
        heat = layer.item.image if layer.visible and layer.has_data else None
        img = overlay.draw_overlay(review.frame.rgb, review.prediction, style=frame_style(view),
                                   gt_mask=review.frame.gt_mask, heatmap=heat,
                                   track_ids=review._ids())
        write_png(path, img)
        self.win.show_message(f"Saved {Path(path).name}", False)
        self.finished.emit(path)
        return path

    # ---------------------------------------------------------------- whole source
    def export_dialog(self, kind: str) -> None:
        review = self.win.review
        if review.store is None or not len(review.store):
            self.win.show_message("Nothing to export yet: analyse the procedure first", True)
            return
        stem = Path(review.path).stem
        path = self._ask(f"Export {KINDS[kind][0].rstrip('…').lower()} into folder",
                         Path(f"{stem}_{KINDS[kind][2]}"))
        if path:
            self.export(kind, path)

    def export(self, kind: str, out_dir: str, show_dialog: bool = True) -> Task | None:
        from ..engine.export.writers import export, source_file_names
        from ..engine.media.sources import open_source

        review = self.win.review
        store, path, thr, frac = review.store, review.path, review.threshold, review.min_area
        if store is None or not len(store):
            self.win.show_message("Nothing to export yet: analyse the procedure first", True)
            return None
        if self.task is not None and self.task.running():
            self.win.show_message("An export is already running", True)
            return None
        formats = KINDS[kind][1]
        indices = [i for i in range(review.n) if store.has(i)]
        style = replace(frame_style(self.win.view), heatmap=False)  # no Grad-CAM per frame
        settings = {"threshold": thr, "min_area_fraction": frac}
        model_name, fps = review.predictor.name if review.predictor else "", review.media.fps

        def gen(cancel):
            src = open_source(path)
            try:
                items = ((f, store.get(f.index, thr, frac)) for f in src.frames(indices))
                return export(items, out_dir, formats, total=len(indices), overwrite=True,
                              cancel=cancel, progress=lambda d, t: task.progress.emit(task, (d, t)),
                              style=style,
                              fps=fps, model_name=model_name, source_name=Path(path).name,
                              settings=settings, file_name=source_file_names(src),
                              input_notes=src.problems)
            finally:
                src.close()
            yield  # noqa: B901

        task = Task(gen, "export", self)
        task.progress.connect(self._on_progress)
        task.finished.connect(self._on_done)
        task.failed.connect(self._on_failed)
        task.out_dir = out_dir
        self.task = task
        if show_dialog:
            self.dialog = QProgressDialog(f"Exporting {KINDS[kind][0].rstrip('…').lower()}…", "Cancel",
                                          0, len(indices), self.win)
            self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
            self.dialog.setMinimumDuration(300)
            self.dialog.canceled.connect(task.cancel)
        return task.start()

    def _on_progress(self, task, value) -> None:
        if self.dialog is not None and task is self.task:
            self.dialog.setValue(value[0])

    def _close_dialog(self) -> None:
        if self.dialog is not None:
            self.dialog.reset()
            self.dialog.deleteLater()
            self.dialog = None

    def _on_done(self, task, result) -> None:
        self._close_dialog()
        notes = f"; skipped: {'; '.join(result.notes)}" if result.notes else ""
        self.win.show_message(f"Exported {result.n_items} frames to {result.folder}{notes}",
                              bool(notes))
        self.finished.emit(str(result.folder))

    def _on_failed(self, task, message: str) -> None:
        self._close_dialog()
        self.win.show_message(f"Export not written: {message}", "cancel" not in message)
        self.finished.emit("")

    def shutdown(self) -> None:
        if self.task is not None:
            self.task.stop()
        self._close_dialog()
