"""Small shared pieces for the training tests: a tiny, fast CPU config and CLI arguments."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from synthetic import TINY

from training.config import TrainConfig

TINY_ARGS = ["--size", "64", "--decoder-channels", "16,16,8,8,8", "--no-pretrained",
             "--device", "cpu", "--workers", "0", "--threads", "1", "--batch-size", "2",
             "--augment", "light"]


def tiny_config(datasets: list[Path] | Path, out: Path, **kw) -> TrainConfig:
    """One epoch of the 64 px model on CPU without DataLoader processes."""
    ds = datasets if isinstance(datasets, list) else [datasets]
    base = dict(datasets=[str(d) for d in ds], out=str(out), model=TINY, pretrained=False,
                epochs=1, batch_size=2, workers=0, threads=1, augment="light", device="cpu",
                val_fraction=0.34)
    base.update(kw)
    return TrainConfig(**base)


class Recorder:
    """An event listener that keeps every event (and can act on them in tests)."""

    def __init__(self, on_event=None) -> None:
        self.events = []
        self.on_event = on_event

    def __call__(self, ev) -> None:
        self.events.append(ev)
        if self.on_event is not None:
            self.on_event(ev)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def of(self, kind: str) -> list:
        return [e for e in self.events if e.kind == kind]


def load_script(name: str):
    """``scripts/NAME.py`` as a module (the scripts are not a package)."""
    path = Path(__file__).resolve().parents[2] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_script", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
