"""Training runs as child processes: a crash or out-of-memory there can never take the app down.

The child is ``python -m polypviewer train|tune ... --events jsonl``; every stdout line is one
JSON event (``training.events``), stderr is log text. Cancel sends SIGTERM, which the CLI turns
into a clean stop between batches (the last finished epoch stays in ``checkpoint.pt``); a child
that has not exited after ``grace_s`` is killed. Events are appended to ``RUN/events.jsonl`` so
the Runs panel can tell later how a run ended.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from training.events import Event

from .runs import EVENTS_FILE, resume_args, write_command
from .spec import child_argv

GRACE_S = 2.0
TERMINAL = ("finished", "cancelled", "failed")


class RunProcess(QObject):
    """One child run. ``events`` keeps everything received, so a new monitor can replay it."""

    event = Signal(object)  # training.events.Event
    log = Signal(str)
    ended = Signal(str, str)  # status (finished | cancelled | failed), message

    def __init__(self, run_dir: Path, command: str, args: list[str], parent: QObject | None = None,
                 grace_s: float = GRACE_S, record: bool = True):
        super().__init__(parent)
        self.run_dir = Path(run_dir)
        self.command, self.args = command, list(args)
        self.argv = child_argv(command, self.args)
        self.events: list[Event] = []
        self.log_lines: list[str] = []
        self.status = "starting"
        self.message = ""
        self.cancel_requested = False
        self.grace_s = grace_s
        self.record = record  # write command.json (not for a resume: it keeps the original)
        self._buf = b""
        self._err_buf = b""
        self.started_at = time.time()
        self.proc = QProcess(self)
        self.proc.setProgram(self.argv[0])
        self.proc.setArguments(self.argv[1:])
        self.proc.readyReadStandardOutput.connect(self._read_stdout)
        self.proc.readyReadStandardError.connect(self._read_stderr)
        self.proc.finished.connect(self._finished)
        self.proc.errorOccurred.connect(self._error)
        self._kill_timer = QTimer(self, singleShot=True, timeout=self._kill)

    # ---- control -----------------------------------------------------------------------
    def start(self) -> "RunProcess":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.record:
            write_command(self.run_dir, self.command, self.args)
        self.status = "running"
        self.proc.start()
        return self

    @property
    def running(self) -> bool:
        return self.status in ("starting", "running")

    def cancel(self) -> None:
        """Ask the child to stop between batches; kill it if it has not gone after the grace."""
        if not self.running or self.cancel_requested:
            return
        self.cancel_requested = True
        self._emit_log("cancelling ...")
        if sys.platform == "win32":  # no SIGTERM for console children: kill (checkpoint is atomic)
            self.proc.kill()
            return
        self.proc.terminate()
        self._kill_timer.start(int(self.grace_s * 1000))

    def _kill(self) -> None:
        if self.proc.state() != QProcess.ProcessState.NotRunning:
            self._emit_log(f"the run did not stop within {self.grace_s:g} s: killed")
            self.proc.kill()

    def wait(self, ms: int = 5000) -> bool:
        return self.proc.state() == QProcess.ProcessState.NotRunning or self.proc.waitForFinished(ms)

    # ---- input -------------------------------------------------------------------------
    def _append_event_line(self, line: str) -> None:
        try:
            with open(self.run_dir / EVENTS_FILE, "a", encoding="utf-8") as fh:
                fh.write(line.rstrip("\n") + "\n")
        except OSError:
            pass  # the folder was deleted under us; the run will fail and say so

    def _emit_log(self, text: str) -> None:
        self.log_lines.append(text)
        self.log.emit(text)

    def _read_stdout(self) -> None:
        self._buf += bytes(self.proc.readAllStandardOutput())
        *lines, self._buf = self._buf.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                ev = Event.from_json(line)
            except (ValueError, KeyError, TypeError):
                self._emit_log(line)  # plain output (e.g. tune's final summary)
                continue
            self._append_event_line(line)
            self.events.append(ev)
            if ev.kind == "log":
                self._emit_log(ev.data.get("message", ""))
            elif ev.kind == "failed":
                self.message = ev.data.get("error", "")
            self.event.emit(ev)

    def _read_stderr(self) -> None:
        self._err_buf += bytes(self.proc.readAllStandardError())
        *lines, self._err_buf = self._err_buf.split(b"\n")
        for raw in lines:
            text = raw.decode("utf-8", "replace").rstrip()
            if text:
                self._emit_log(text)

    # ---- endings -----------------------------------------------------------------------
    def _seen(self, kind: str) -> Event | None:
        return next((e for e in reversed(self.events) if e.kind == kind), None)

    def _end(self, status: str, message: str) -> None:
        if not self.running:
            return
        self._kill_timer.stop()
        self.status, self.message = status, message
        if status != "finished" and not self._seen(status):
            # record the ending the child could not report, for the Runs panel
            key = "error" if status == "failed" else "message"
            self._append_event_line(Event(status, {key: message, "source": "app"}).to_json())
        self.ended.emit(status, message)

    def _finished(self, code: int, exit_status) -> None:
        self._read_stdout()
        self._read_stderr()
        tail = (self._buf + b"\n" + self._err_buf).decode("utf-8", "replace").strip()
        if tail:
            self._emit_log(tail)
        if self.cancel_requested or self._seen("cancelled"):
            said = self._seen("cancelled")  # the child's own words (a fit keeps nothing)
            self._end("cancelled", str(said.data.get("message", "")) if said is not None else
                      "cancelled; the last finished epoch is kept for resume")
        elif code == 0 and exit_status == QProcess.ExitStatus.NormalExit and self._seen("finished"):
            self._end("finished", "")
        elif code == 0 and exit_status == QProcess.ExitStatus.NormalExit and self.command == "tune":
            self._end("finished", "")
        else:
            self._end("failed", self._failure_message(code, exit_status))

    def _failure_message(self, code: int, exit_status) -> str:
        failed = self._seen("failed")
        if failed is not None:
            return str(failed.data.get("error", "training failed"))
        errors = [ln for ln in self.log_lines if ln.lower().startswith(("error", "usage"))
                  or "error:" in ln.lower()]
        if errors:
            return errors[-1]
        if exit_status == QProcess.ExitStatus.CrashExit:
            return "the training process crashed"
        last = self.log_lines[-1] if self.log_lines else ""
        return f"the training process exited with code {code}" + (f": {last}" if last else "")

    def _error(self, err) -> None:
        if err == QProcess.ProcessError.FailedToStart:
            self._end("failed", f"could not start the training process: {self.proc.errorString()}")


class RunManager(QObject):
    """All child runs of this app; survives the wizard so closing it never stops a run."""

    started = Signal(object)  # RunProcess
    changed = Signal()

    def __init__(self, parent: QObject | None = None, grace_s: float = GRACE_S):
        super().__init__(parent)
        self.runs: list[RunProcess] = []
        self.grace_s = grace_s

    def start(self, run_dir: Path, command: str, args: list[str], record: bool = True) -> RunProcess:
        proc = RunProcess(run_dir, command, args, self, grace_s=self.grace_s, record=record)
        proc.ended.connect(lambda *_: self.changed.emit())
        self.runs.append(proc)
        proc.start()
        self.started.emit(proc)
        self.changed.emit()
        return proc

    def resume(self, run_dir: Path) -> RunProcess:
        if self.live(run_dir):
            raise ValueError(f"{Path(run_dir).name} is already running")
        return self.start(run_dir, "train", resume_args(Path(run_dir)), record=False)

    def live(self, run_dir: Path) -> RunProcess | None:
        key = Path(run_dir).resolve()
        return next((r for r in self.runs if r.running and r.run_dir.resolve() == key), None)

    def live_dirs(self) -> set[str]:
        return {str(r.run_dir) for r in self.runs if r.running}

    def latest(self, run_dir: Path) -> RunProcess | None:
        key = Path(run_dir).resolve()
        return next((r for r in reversed(self.runs) if r.run_dir.resolve() == key), None)

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Cancel every live run and wait for it (the app is closing)."""
        for r in self.runs:
            r.cancel()
        deadline = time.monotonic() + timeout_ms / 1000
        for r in self.runs:
            left = max(1, int((deadline - time.monotonic()) * 1000))
            if not r.wait(left):
                r.proc.kill()
                r.wait(1000)
