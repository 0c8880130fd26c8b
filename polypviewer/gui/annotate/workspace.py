"""The annotator workspace: review a whole dataset against the model and correct its masks.

Left, the table of images (worst Dice first); right, three tabs for the selected image and the
dataset: Compare, Correct, Summary (built by ``layout``). Analysis, scoring, the threshold
sweep and exports run in worker threads (``gui.workers.Task``), and so does decoding the image
shown (``image_loader``, latest request wins); the UI thread only shows results. Replaced work
is cancelled and let go, never waited for.

Unsaved mask edits are never lost silently: selecting another image, opening another dataset
or closing asks Save / Discard / Cancel through ``ask_unsaved`` (replaceable, e.g. in tests).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from ...engine.analysis.compare import image_row
from ...engine.media import annotations
from ...engine.media.dataset import Pair
from ...engine.models import model_settings
from ..workers import LatestWorker, Task, after
from . import analysis, layout
from .export_dialog import ExportDialog
from .image_loader import ImageRequest, ImageResult, load_image


def ask_with_message_box(parent: QWidget, text: str) -> str:
    box = QMessageBox(QMessageBox.Icon.Question, "Unsaved mask", text,
                      QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                      | QMessageBox.StandardButton.Cancel, parent)
    answer = box.exec()
    return {QMessageBox.StandardButton.Save: "save",
            QMessageBox.StandardButton.Discard: "discard"}.get(QMessageBox.StandardButton(answer), "cancel")


class AnnotateWorkspace(QWidget):
    """Self-contained; :func:`polypviewer.gui.annotate.install` puts it in the main window."""

    message = Signal(str)
    export_progress = Signal(int, int)  # emitted from the export thread (queued to the UI)

    def __init__(self, model=None, device: str = "auto", parent: QWidget | None = None):
        super().__init__(parent)
        self.model, self.device = model, device
        self.ask_unsaved: Callable[[str], str] = lambda text: ask_with_message_box(self, text)
        self.tell: Callable[[str], None] = lambda text: QMessageBox.information(
            self, "Mask saved as PNG", text)  # replaceable, e.g. in tests
        self._told_format = False
        self.opened: analysis.Opened | None = None
        self.threshold = 0.5
        self.current_index: int | None = None  # the image shown (frame, prediction)
        self.requested_index: int | None = None  # the image asked for (decoding in the worker)
        self.frame = None
        self.prediction = None
        self.tasks: list[Task] = []
        self.main_task: Task | None = None
        self.sweep_task: Task | None = None
        self.export_task: Task | None = None
        self.last_export = None
        self._reverting = False
        self._shut_down = False
        self.image_worker = LatestWorker(load_image, "annotate-image", self)
        self.image_worker.done.connect(self._on_image)
        self.image_worker.failed.connect(self._on_image_failed)
        layout.build(self)
        self._connect()

    # ------------------------------------------------------------------ signals
    def _connect(self) -> None:
        self.open_action.triggered.connect(self.open_dataset_dialog)
        self.save_action.triggered.connect(self.save)
        self.export_action.triggered.connect(self.export_dialog)
        self.filter_box.currentIndexChanged.connect(
            lambda _i: self.set_filter(self.filter_box.currentData()))
        self.search.textChanged.connect(self._on_search)
        self.cancel_button.clicked.connect(self.cancel_work)
        self._min_area_timer = QTimer(self, singleShot=True, interval=300)
        self._min_area_timer.timeout.connect(lambda: self.set_min_area(self.min_area.value() / 100))
        self.min_area.valueChanged.connect(lambda _v: self._min_area_timer.start())
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)
        self.editor.save_requested.connect(self.save)
        self.editor.canvas.undo_stack.cleanChanged.connect(self._update_title)
        self.summary.threshold_chosen.connect(self.use_threshold)
        self.summary.image_clicked.connect(self.select_index)
        self.export_progress.connect(self._on_export_progress)

    # ------------------------------------------------------------------ opening
    def open_dataset_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open dataset (folder with images/ and masks/)")
        if path:
            self.open_dataset(path)

    def open_dataset(self, path: str | Path, split: str | Path | None = None) -> bool:
        """Analyse (or load from the cache) and score every image, in the background."""
        if not self.maybe_save():
            return False
        self.cancel_work()
        self._flush_later()
        self.tasks = []
        self.table_model.clear()
        self.summary.set_sweep(None)
        self.opened, self.current_index, self.frame, self.prediction = None, None, None, None
        self.requested_index = None
        model, device = self.model, self.device
        self.status.setText(f"Opening {Path(path).name}…")
        task = Task(lambda cancel: analysis.open_and_score(path, model, split, device, cancel),
                    "annotate-open", self)
        self.main_task = self._start(task, self._on_open_finished)
        return True

    def _start(self, task: Task, on_finished) -> Task:
        self.tasks = [t for t in self.tasks if t.running()]
        self.tasks.append(task)
        task.progress.connect(self._on_task_progress)
        task.finished.connect(on_finished)
        task.failed.connect(self._on_task_failed)
        return task.start()

    def _on_task_progress(self, *args) -> None:
        if args[0] is not self.main_task:
            return
        kind, value = args[-1]
        if kind == "opened":
            self.opened = value
            self.threshold = value.predictor.threshold
            self.min_area.blockSignals(True)
            self.min_area.setValue(value.predictor.min_area_fraction * 100)
            self.min_area.blockSignals(False)
            n = len(value.source)
            self.status.setText(f"{value.source.path.name}: {n} images · model {value.predictor.name} "
                                f"· threshold {self.threshold:.2f}")
        elif kind == "progress":
            self._show_progress(value.done, value.total, value.stage)
        elif kind == "rows":
            self.table_model.add_rows(value)
            if self.current_index is None and self.proxy.rowCount():
                self.table.selectRow(0)

    def _on_open_finished(self, *args) -> None:
        if args[0] is not self.main_task:
            return
        self.progress.hide()
        self.cancel_button.hide()
        if args[-1]:
            self.export_action.setEnabled(True)
            self.proxy.sort(self.proxy.sortColumn(), self.proxy.sortOrder())
            self.summary.set_rows(self.table_model.rows, self.threshold)
            if self.summary.sweep_result is None:
                self.start_sweep()

    def _on_task_failed(self, *args) -> None:
        if args[0] not in self.tasks:  # replaced (another dataset was opened)
            return
        self.progress.hide()
        self.cancel_button.hide()
        self.status.setText(f"Error: {args[-1]}")
        self.message.emit(args[-1])

    def _show_progress(self, done: int, total: int, stage: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{stage} %v/%m")
        self.progress.show()
        self.cancel_button.show()

    @property
    def busy(self) -> bool:
        return any(t.running() for t in self.tasks)

    def cancel_work(self) -> None:
        for t in self.tasks:
            t.cancel()

    def stop_tasks(self) -> None:
        """Cancel and wait for every thread: only where no UI is left to freeze (tests)."""
        for t in self.tasks:
            t.stop()
        self.tasks = []
        self.image_worker.stop()

    def _flush_later(self) -> None:
        """Write the open dataset's cache once the tasks using it have ended, in a worker."""
        if self.opened is not None:
            after([t.thread for t in self.tasks if t.running()], self.opened.store.flush,
                  "annotate-flush")

    # ------------------------------------------------------------------ table
    def set_filter(self, preset: str) -> None:
        self.proxy.set_preset(preset)
        i = self.filter_box.findData(preset)
        if i != self.filter_box.currentIndex():
            self.filter_box.setCurrentIndex(i)

    def _on_search(self, text: str) -> None:
        self.proxy.setFilterFixedString(text)

    def visible_indices(self) -> list[int]:
        """Image indices in the table's current (filtered, sorted) order."""
        return [self.proxy.index(r, 0).data(Qt.ItemDataRole.UserRole) for r in range(self.proxy.rowCount())]

    def _on_current_row(self, current, previous) -> None:
        if self._reverting or not current.isValid():
            return
        index = current.data(Qt.ItemDataRole.UserRole)
        if index == self.requested_index:
            return
        if not self.maybe_save():  # Cancel: stay on the edited image, once the click is done
            QTimer.singleShot(0, self, lambda: self._revert_selection(previous))
            return
        self.show_image(index)

    def _revert_selection(self, previous) -> None:
        self._reverting = True
        try:
            self.table.selectionModel().setCurrentIndex(
                previous, QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows)
        finally:
            self._reverting = False

    def select_index(self, index: int) -> bool:
        """Select image ``index`` in the table (clearing a filter that hides it)."""
        row = self.table_model.row_of(index)
        if row is None:
            return False
        pidx = self.proxy.mapFromSource(self.table_model.index(row, 0))
        if not pidx.isValid():
            self.set_filter("all")
            self.search.clear()
            pidx = self.proxy.mapFromSource(self.table_model.index(row, 0))
        self.table.selectRow(pidx.row())
        return self.requested_index == index

    # ------------------------------------------------------------------ current image
    def show_image(self, index: int) -> None:
        """Ask for image ``index``; it is shown when decoded (``current_index`` then)."""
        if self.opened is None:
            return
        self.requested_index = index
        self.image_worker.submit(ImageRequest(self.opened, index, self.threshold))

    def _on_image(self, req: ImageRequest, res: ImageResult) -> None:
        if req.opened is not self.opened or req.index != self.requested_index:
            return  # another image or dataset was asked for meanwhile
        if req.threshold != self.threshold:
            self.show_image(req.index)
            return
        frame, pred = res.frame, res.prediction
        self.current_index, self.frame, self.prediction = req.index, frame, pred
        self.compare.set_data(frame.rgb, frame.gt_mask, pred)
        note = frame.name if frame.gt_mask is not None else f"{frame.name}: no mask yet, draw one"
        self.editor.set_image(frame.rgb, frame.gt_mask, None if pred is None else pred.mask, note)
        self._update_title()

    def _on_image_failed(self, req: ImageRequest, message: str) -> None:
        if req.opened is self.opened and req.index == self.requested_index:
            self.status.setText(f"Error: {message}")
            self.message.emit(message)

    def _update_title(self, *_args) -> None:
        tab = "Correct *" if self.editor.canvas.is_dirty() else "Correct"
        self.tabs.setTabText(self.tabs.indexOf(self.editor), tab)

    def maybe_save(self) -> bool:
        """True when it is fine to leave the current image (saved, discarded or clean)."""
        if not self.editor.canvas.is_dirty() or self.frame is None:
            return True
        answer = self.ask_unsaved(f"The mask of {self.frame.name} has unsaved changes.")
        if answer == "save":
            return self.save()
        if answer == "discard":
            self.editor.canvas.undo_stack.setClean()  # the next image replaces the canvas
            return True
        return False

    def save(self) -> bool:
        """Write the edited mask (previous one backed up) and re-score this image."""
        o, frame = self.opened, self.frame
        if o is None or frame is None:
            return False
        i = self.current_index
        pair = o.source.pairs[i]
        removed = self.editor.clean_for_saving()
        mask = self.editor.canvas.mask()
        try:
            saved = annotations.save_mask(o.source.path / "masks", pair.stem, mask, frame.rgb.shape)
        except Exception as e:  # disk full, permissions: say so and keep the edits
            self.status.setText(f"Could not save the mask: {e}")
            self.message.emit(str(e))
            return False
        o.source.pairs[i] = Pair(pair.stem, pair.image, saved.path)
        self.editor.canvas.mark_saved()
        frame.gt_mask = mask
        kept = f" (previous kept in {annotations.BACKUP_DIR}/)" if saved.backups else ""
        specks = f" · removed {removed} speck(s)" if removed else ""
        self.status.setText(f"Saved {saved.path.name}{kept}{specks}")
        if pair.mask is not None and pair.mask.suffix.lower() != saved.path.suffix.lower():
            self._format_changed(pair.mask, saved.path)
        if self.prediction is not None:
            self.table_model.add_rows([image_row(i, frame.name, self.prediction, mask)])
            self.summary.set_rows(self.table_model.rows, self.threshold)
            self.start_sweep()
        self.compare.set_data(frame.rgb, mask, self.prediction)
        return True

    def _format_changed(self, old: Path, new: Path) -> None:
        """A lossy (.jpg) mask was replaced by a PNG: the status line says so, a dialog once."""
        text = (f"Saved {new.name} in place of {old.name}: corrected masks are written as PNG "
                f"(lossless), and {old.name} was moved to masks/{annotations.BACKUP_DIR}/. "
                f"Other masks keep their format; every tool reads both.")
        self.status.setText(text)
        if not self._told_format:
            self._told_format = True
            self.tell(text)

    # ------------------------------------------------------------------ threshold
    def start_sweep(self) -> None:
        if self.opened is None:
            return
        if self.sweep_task is not None:
            self.sweep_task.cancel()
        opened = self.opened
        self.sweep_task = self._start(Task(lambda c: analysis.sweep(opened, c), "annotate-sweep", self),
                                      self._on_sweep_done)
        self.sweep_task.progress.connect(self._on_sweep)

    def _on_sweep(self, *args) -> None:
        if args[0] is self.sweep_task:
            self.summary.set_sweep(args[-1])

    def _on_sweep_done(self, *args) -> None:
        pass

    def use_threshold(self, t: float) -> None:
        """Save ``t`` in the user's settings for this model and re-score the table with it."""
        o = self.opened
        if o is None:
            return
        path = model_settings.save_threshold(o.predictor.name, t)
        self.threshold = float(t)
        o.predictor.threshold = float(t)
        self.status.setText(f"Threshold {t:.2f} saved for {o.predictor.name} in {path.name} "
                            "(your settings; the model file is unchanged)")
        self._rescore(o, float(t))

    def set_min_area(self, fraction: float) -> None:
        """One minimum area for predicted and true polyps: re-score, re-sweep, redraw."""
        o = self.opened
        if o is None or abs(o.predictor.min_area_fraction - fraction) < 1e-12:
            return
        if self.main_task is not None and self.main_task.running():
            self._min_area_timer.start()  # applied once the analysis or scoring has finished
            return
        o.predictor.min_area_fraction = float(fraction)
        self.status.setText(f"Regions under {fraction * 100:.2f} % of the image are not counted "
                            "as polyps (prediction and ground truth)")
        self.summary.set_sweep(None)
        self._rescore(o, self.threshold)

    def _rescore(self, opened: analysis.Opened, threshold: float) -> None:
        """Score the table again (the shown image too) at ``threshold``."""
        task = Task(lambda cancel: analysis.rescore(opened, threshold, cancel), "annotate-rescore", self)
        self.main_task = self._start(task, self._on_open_finished)
        if self.requested_index is not None:
            self.show_image(self.requested_index)

    # ------------------------------------------------------------------ export
    def export_dialog(self) -> None:
        if self.opened is None:
            return
        dlg = ExportDialog(self, self.opened.source.path.parent / f"{self.opened.source.path.name}-export")
        if dlg.exec():
            self.export_to(dlg.out_dir(), dlg.formats(), overwrite=dlg.overwrite())

    def export_to(self, out_dir: str | Path, formats: list[str], overwrite: bool = False) -> Task | None:
        o = self.opened
        if o is None or self.busy and self.main_task is not None and self.main_task.running():
            self.status.setText("Wait until the analysis has finished to export.")
            return None
        thr = self.threshold

        def work(cancel):
            return analysis.export(o, out_dir, formats, thr, cancel,
                                   progress=lambda d, t: self.export_progress.emit(d, t or 0),
                                   overwrite=overwrite)
            yield  # noqa: B901 - a generator for Task

        self._show_progress(0, len(o.source), "exporting")
        self.export_task = self._start(Task(work, "annotate-export", self), self._on_export_done)
        return self.export_task

    def _on_export_progress(self, done: int, total: int) -> None:
        self._show_progress(done, total, "exporting")

    def _on_export_done(self, *args) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        self.last_export = args[-1]
        self.status.setText(f"Exported {', '.join(self.last_export.files)} to {self.last_export.folder}")

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event) -> None:
        if not self.shutdown():
            event.ignore()
            return
        super().closeEvent(event)

    def shutdown(self) -> bool:
        """For closing: False when the user cancelled; else every task is cancelled and the
        cache written once they have ended (the host waits for ``workers.running_threads``)."""
        if self._shut_down:  # the host polls its close until the workers have ended
            return True
        if not self.maybe_save():
            return False
        self._shut_down = True
        self.cancel_work()
        self._flush_later()
        self.image_worker.detach()
        return True

