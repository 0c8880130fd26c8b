"""Everything that defines a training run; saved with the run so it can be resumed or repeated."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from polypviewer.engine.models.config import ModelConfig


@dataclass
class TrainConfig:
    datasets: list[str] = field(default_factory=list)
    out: str = "runs/run"
    model: ModelConfig = field(default_factory=ModelConfig)
    pretrained: bool = True
    init_from: str | None = None  # fine-tune an existing model file
    train_split: str | None = None  # split file of stems, applied to every dataset
    val_split: str | None = None
    val_fraction: float = 0.1  # carved from the training stems when no val_split is given
    epochs: int = 30
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    scheduler: str = "onecycle"
    loss: str = "bce_dice"
    pos_weight: float | None = None
    cls_weight: float = 0.2
    augment: str = "strong"
    augment_strength: float = 1.0
    amp: bool = True
    early_stopping: int = 0  # epochs without improvement; 0 = off
    seed: int = 42
    device: str = "auto"
    workers: int = 1
    threads: int = 0  # torch intra-op threads; 0 = PyTorch's default
    cache_dir: str | None = None
    max_train_images: int | None = None  # for quick checks
    name: str | None = None
    description: str = ""
    validate: bool = True  # check the datasets first (validate.py); fatal problems stop the run
    cv_folds: int = 0  # k-fold cross-validation: K > 1 runs K folds in OUT/fold_i (cv.py)
    cv_fold: int | None = None  # set for one fold's run: its train/val come from splits.kfold
    # several datasets, each {"path", "train": split file, "weight", "holdout"} (sources.py);
    # empty = ``datasets`` with ``train_split``/``val_split``/``val_fraction`` as before
    sources: list[dict] = field(default_factory=list)
    data_root: str | None = None  # relative source paths are read from here
    scales: list[int] | None = None  # multi-scale: each batch at one of these sizes
    epoch_samples: int | None = None  # draws per epoch under source weights (None = all images)
    cadx_weight: float = 0.5  # loss weight of the neoplastic channel (seg_channels == 2)
    framed_negatives: float = 0.0  # share of negative draws shown as whole frames (framing.py)
    cadx_views: str = "off"  # --task cadx: pool each training polyp in these test-time views

    def to_dict(self) -> dict:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training config keys: {sorted(unknown)}")
        d = dict(d)
        if "model" in d and isinstance(d["model"], dict):
            d["model"] = ModelConfig.from_dict(d["model"])
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
