"""File > Export: the current frame as shown, and whole-source exports through engine.export.writers.

Whole-source exports read cached results (no model run) and the frames from a Source of
their own, in a worker with a progress dialog that can cancel. Exports that are one file
(video, report, tables, COCO) are saved under the name the user picks in a save dialog,
suggested as ``<video stem>_annotated.mp4`` and so on; masks and overlay images, many files,
go into a folder.
"""

from __future__ import annotations

import re
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
    "table": ("Per-frame table (CSV)…", ["csv"], "table"),
    "json": ("Per-frame regions (JSON)…", ["json"], "regions"),
    "overlays": ("Overlay images (PNG)…", ["overlays"], "overlays"),
    "mp4": ("Annotated video (MP4)…", ["mp4"], "video"),
    "report": ("Procedure report (HTML or PDF)…", ["report"], "report"),
}
# one-file kinds: suggested name after the source's stem, save-dialog filters (first: default)
FILES = {
    "table": ("_frames.csv", "CSV table (*.csv)"),
    "json": ("_frames.json", "JSON (*.json)"),
    "coco": ("_coco.json", "COCO annotations (*.json)"),
    "mp4": ("_annotated.mp4", "MP4 video (*.mp4)"),
    "report": ("_report.html", "HTML report (*.html);;PDF report (*.pdf)"),
}
_PATTERN = re.compile(r"\*(\.[A-Za-z0-9]+)")


def with_suffix(path: str, file_filter: str, chosen: str = "") -> str:
    """``path`` with an extension its filter allows: the chosen filter's when it has none."""
    allowed = [s.lower() for s in _PATTERN.findall(file_filter)]
    if Path(path).suffix.lower() in allowed or not allowed:
        return path
    own = _PATTERN.findall(chosen)
    return path + (own[0] if own else allowed[0])


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
        self.busy = False  # from start until its finished/failed slot ran (the thread may linger)
        self.dialog: QProgressDialog | None = None

    def _ask(self, title: str, suggestion: Path, file_filter: str | None = None) -> str | None:
        folder = self.win.settings.get("last_export_dir", str(Path.home()))
        target = str(Path(folder) / suggestion.name)
        if file_filter:
            path, chosen = QFileDialog.getSaveFileName(self.win, title, target, file_filter)
            path = with_suffix(path, file_filter, chosen) if path else ""
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
                                   track_ids=review.findings.ids())
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
        if not review.store.complete and not self._partial_ok(kind):
            return
        stem = Path(review.path).stem
        what = KINDS[kind][0].rstrip("…").lower()
        if kind not in FILES:
            path = self._ask(f"Export {what} into folder", Path(f"{stem}_{KINDS[kind][2]}"))
            if path:
                self.export(kind, path)
            return
        suffix, filters = FILES[kind]
        path = self._ask(f"Save {what}", Path(f"{stem}{suffix}"), filters)
        if not path:
            return
        procedure, paper = None, None
        if kind == "report":
            from . import procedure_details

            answer = procedure_details.ask(self.win, review, pdf=path.lower().endswith(".pdf"))
            if answer is None:
                return
            procedure, paper = answer
        self.export(kind, path, procedure=procedure, paper=paper)

    def _partial_ok(self, kind: str) -> bool:
        """Only part analysed: offer to analyse first; a partial export says so on its first line."""
        from PySide6.QtWidgets import QMessageBox

        review = self.win.review
        done, n = len(review.store), review.n
        box = QMessageBox(QMessageBox.Icon.Warning, "Only part of the source is analysed",
                          f"Only {done} of {n} frames are analysed, so the "
                          f"{KINDS[kind][0].rstrip('…').lower()} would cover those frames only.",
                          parent=self.win)
        analyse = box.addButton("Analyse first", QMessageBox.ButtonRole.AcceptRole)
        partial = box.addButton("Export the analysed part", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(analyse)
        box.exec()
        if box.clickedButton() is analyse:
            review.start_analysis()
            self.win.show_message("Analysing the whole source; export again when it is done", False)
        return box.clickedButton() is partial

    def export(self, kind: str, target: str, show_dialog: bool = True, *,
               procedure: dict | None = None, paper: str | None = None) -> Task | None:
        """Write ``kind`` to ``target``: the file itself for FILES kinds, else a folder.

        A report whose name ends in ``.pdf`` is printed to PDF (``paper``: a4 or letter).
        """
        from ..engine.analysis.findings_cache import findings_for_store
        from ..engine.export.single_file import export_file
        from ..engine.export.writers import ExportOptions, export, source_file_names
        from ..engine.media.sources import open_source

        review = self.win.review
        store, path, thr, frac = review.store, review.path, review.threshold, review.min_area
        if store is None or not len(store):
            self.win.show_message("Nothing to export yet: analyse the procedure first", True)
            return None
        if self.busy:
            self.win.show_message("An export is already running", True)
            return None
        formats = KINDS[kind][1]
        indices = [i for i in range(review.n) if store.has(i)]
        style = replace(frame_style(self.win.view), heatmap=False)  # no Grad-CAM per frame
        # the views the cached analysis was made with (its key: False one view, True one flip)
        views_used = store.meta.get("preprocessing", {}).get("tta", False)
        settings = {"threshold": thr, "min_area_fraction": frac, "tta": views_used}
        model_name, fps = review.predictor.name if review.predictor else "", review.media.fps
        tracking, n_frames = review.findings.tracking, review.n
        convert = None
        if kind == "report" and target.lower().endswith(".pdf"):
            from .report_pdf import default_paper, write_pdf

            sheet = paper or default_paper()

            def convert(html_file: Path, dest: Path) -> None:
                write_pdf(html_file.read_text(encoding="utf-8"), dest, sheet)

        def gen(cancel):
            # the findings the viewer shows (same cache, verdicts included), never recounted
            track = findings_for_store(store, path, thr, frac, fps, tracking) if fps else None
            src = open_source(path)
            try:
                items = ((f, store.get(f.index, thr, frac)) for f in src.frames(indices))
                options = ExportOptions(tuple(formats), overwrite=True, style=style, fps=fps,
                                        model_name=model_name, source_name=Path(path).name,
                                        settings=settings, file_name=source_file_names(src),
                                        procedure=procedure)
                run = dict(total=len(indices), cancel=cancel,
                           progress=lambda d, t: task.progress.emit(task, (d, t)),
                           input_notes=src.problems, track=track, n_frames=n_frames)
                if kind in FILES:
                    return export_file(items, target, options, convert=convert, **run)
                return export(items, target, options, **run)
            finally:
                src.close()
            yield  # noqa: B901

        task = Task(gen, "export", self)
        task.progress.connect(self._on_progress)
        task.finished.connect(self._on_done)
        task.failed.connect(self._on_failed)
        task.out_dir = target
        self.task, self.busy = task, True
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
        self.busy = False
        self._close_dialog()
        notes = f"; skipped: {'; '.join(result.notes)}" if result.notes else ""
        self.win.show_message(f"Exported {result.n_items} frames to {task.out_dir}{notes}",
                              bool(notes))
        self.finished.emit(str(task.out_dir))

    def _on_failed(self, task, message: str) -> None:
        self.busy = False
        self._close_dialog()
        self.win.show_message(f"Export not written: {message}", "cancel" not in message)
        self.finished.emit("")

    def shutdown(self) -> None:
        if self.task is not None:
            self.task.stop()
        self._close_dialog()
