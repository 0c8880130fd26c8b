"""Training run folders read from disk: status, settings, best metrics, reproducing command.

Status comes from files so the Runs panel is right after a restart too: ``summary.json`` (or
``cv_summary.json`` / ``best.json`` for studies, ``cadx_fit.json`` for a neoplastic head
fit) means finished; the last line of the event log
the app keeps (``events.jsonl``) tells cancelled or failed; a ``checkpoint.pt`` left without any
of those and no live process means the run was interrupted.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from training.sources import parse_source

from .spec import display_command, quote

EVENTS_FILE = "events.jsonl"  # the child's JSON events, as the app received them
COMMAND_FILE = "command.json"  # {"command": "train"|"tune", "args": [...]}: what the app ran
CADX_FILE = "cadx_fit.json"  # the neoplastic head fit's report (training.cadx)
DONE_FILES = ("summary.json", "cv_summary.json", CADX_FILE, "best.json")
STATUSES = ("running", "finished", "cancelled", "failed", "interrupted", "empty")


@dataclass
class RunInfo:
    path: Path
    status: str
    datasets: list[str] = field(default_factory=list)
    settings: str = ""
    best: str = ""
    message: str = ""
    mtime: float = 0.0

    @property
    def name(self) -> str:
        return self.path.name


def _json(path: Path) -> dict | list | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def last_event(run: Path) -> dict | None:
    """The last parseable event of the app's log of this run."""
    try:
        lines = (run / EVENTS_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def _is_study_result(path: Path) -> bool:
    """A tuning study's best.json, not the loop's best-checkpoint model metadata of the same name."""
    data = _json(path)
    return isinstance(data, dict) and "best_value" in data


def run_status(run: Path, live: bool = False) -> tuple[str, str]:
    """(status, message) of a run folder; ``live``: a child process of this app runs it."""
    if live:
        return "running", ""
    if any((run / f).is_file() for f in DONE_FILES[:3]) or _is_study_result(run / "best.json"):
        return "finished", ""
    ev = last_event(run)
    if ev and ev.get("kind") in ("cancelled", "failed"):
        data = ev.get("data", {})
        return ev["kind"], str(data.get("error") or data.get("message") or "")
    if (run / "checkpoint.pt").is_file() or ev is not None:
        return "interrupted", ""
    return "empty", ""


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and any((path / f).exists() for f in (
        "config.json", EVENTS_FILE, COMMAND_FILE, "checkpoint.pt", *DONE_FILES))


def _settings(cfg: dict) -> str:
    if not cfg:
        return ""
    model = cfg.get("model", {})
    if isinstance(model, dict):
        net = f"{model.get('arch', '?')}/{model.get('encoder', '?')} {model.get('input_size', '?')} px"
    else:  # classification config: model is the encoder name
        net = f"classify {model} {cfg.get('input_size', '?')} px"
    return (f"{net}, {cfg.get('epochs', '?')} epochs, batch {cfg.get('batch_size', '?')}, "
            f"lr {cfg.get('lr', '?')}, {cfg.get('augment', '?')} augmentation")


def _arg(args: list[str], flag: str, default: str = "?") -> str:
    return args[args.index(flag) + 1] if flag in args[:-1] else default


def _cadx_settings(fit: dict, args: list[str]) -> str:
    """The fit's model, sizes and views: from its report, or the command while it runs."""
    model = fit.get("init_from") or _arg(args, "--init-from")
    sizes = ", ".join(str(v) for v in fit["sizes"]) if "sizes" in fit else _arg(args, "--scales")
    views = fit.get("views") or _arg(args, "--cadx-views", "off")
    return (f"neoplastic head fit of {Path(model).stem} at {sizes} px"
            + (", four flips" if views == "flips" else ""))


def _best(run: Path) -> str:
    fit = _json(run / CADX_FILE)
    if isinstance(fit, dict):
        best = next((g for g in fit.get("grid", []) if g.get("l2") == fit.get("l2")), {})
        # over the predicted regions, as the app shows it; where it predicted none, the true ones
        for key, over in (("holdout_auc", ""), ("holdout_auc_truth", " (true polyps)")):
            auc = best.get(key)
            if isinstance(auc, float) and auc == auc:
                return f"holdout AUC {auc:.3f}{over}"
        return ""
    summ = _json(run / "summary.json")
    if isinstance(summ, dict):
        if "val_dice_model_res" in summ:
            return f"Dice {summ['val_dice_model_res']:.3f}, IoU {summ.get('val_iou_model_res', 0):.3f}"
        if "val_accuracy" in summ:
            return f"accuracy {summ['val_accuracy']:.3f}"
    hist = _json(run / "metrics.json")
    if isinstance(hist, list) and hist and "val_dice" in hist[0]:
        return f"best Dice {max(h['val_dice'] for h in hist):.3f} (after {len(hist)} epochs)"
    best = _json(run / "best.json")
    if isinstance(best, dict) and best.get("best_value") is not None:
        return f"best trial Dice {best['best_value']:.3f}"
    return ""


def read_run(run: Path, live: bool = False) -> RunInfo:
    status, msg = run_status(run, live)
    cfg = _json(run / "config.json")
    cfg = cfg if isinstance(cfg, dict) else {}
    cmd = _json(run / COMMAND_FILE) or {}
    args = [str(a) for a in cmd.get("args", [])] if isinstance(cmd, dict) else []
    datasets = [Path(d).name for d in cfg.get("datasets", [])] or [
        Path(str(s.get("path", ""))).name for s in cfg.get("sources", []) if isinstance(s, dict)]
    if not datasets:
        datasets = _args_datasets(args)
    settings = _settings(cfg)
    fit = _json(run / CADX_FILE)
    if isinstance(fit, dict) or _arg(args, "--task") == "cadx":
        settings = _cadx_settings(fit if isinstance(fit, dict) else {}, args)
    try:
        mtime = max(p.stat().st_mtime for p in run.iterdir()) if any(run.iterdir()) else run.stat().st_mtime
    except OSError:
        mtime = 0.0
    return RunInfo(run, status, datasets, settings, _best(run), msg, mtime)


def _args_datasets(args: list[str]) -> list[str]:
    """Dataset names from a command: positional folders and ``--source`` paths before --out."""
    head = args[: args.index("--out")] if "--out" in args else []
    names, i = [], 0
    while i < len(head):
        spec = head[i + 1] if head[i] == "--source" and i + 1 < len(head) else head[i]
        i += 2 if head[i] == "--source" else 1
        try:
            names.append(Path(parse_source(spec)["path"]).name)
        except ValueError:
            names.append(Path(spec).name)
    return names


def scan_runs(root: Path, live: set[str] | None = None) -> list[RunInfo]:
    """Runs under ``root``, newest first; ``live``: folders this app is running right now."""
    live = {str(Path(p)) for p in (live or ())}
    if not root.is_dir():
        return []
    runs = [read_run(p, str(p) in live) for p in root.iterdir() if is_run_dir(p)]
    return sorted(runs, key=lambda r: r.mtime, reverse=True)


def new_run_dir(root: Path, name: str) -> Path:
    """A fresh folder ``root/YYYYmmdd-HHMMSS-name`` (suffixed if it exists)."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in (name or "run")).strip("-") or "run"
    base = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}"
    path, i = base, 1
    while path.exists():
        path = Path(f"{base}-{i}")
        i += 1
    path.mkdir(parents=True)
    return path


def write_command(run: Path, command: str, args: list[str]) -> None:
    (run / COMMAND_FILE).write_text(json.dumps({"command": command, "args": args}, indent=1),
                                    encoding="utf-8")


def reproduce_command(run: Path) -> str:
    """The exact command the app ran, else ``train --config RUN/config.json --out RUN``."""
    cmd = _json(run / COMMAND_FILE)
    if isinstance(cmd, dict) and cmd.get("args"):
        return display_command(cmd.get("command", "train"), list(cmd["args"]))
    if (run / "config.json").is_file():
        return quote(["polypviewer", "train", "--config", str(run / "config.json"), "--out", str(run)])
    raise ValueError(f"{run} has neither {COMMAND_FILE} nor config.json")


def resume_args(run: Path) -> list[str]:
    if not (run / "config.json").is_file():
        raise ValueError("this run stopped before it saved its config; start it again instead")
    return ["--resume", str(run)]


def delete_run(run: Path) -> None:
    shutil.rmtree(run)
