"""The small config from which the factory builds every model (training and app share it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

MIN_INPUT_SIZE, MAX_INPUT_SIZE = 64, 1024


def check_input_size(size: int) -> int:
    """An analysis size the U-Net family accepts: a multiple of 32 within sensible bounds."""
    s = int(size)
    if s % 32 or not MIN_INPUT_SIZE <= s <= MAX_INPUT_SIZE:
        raise ValueError(f"analysis size must be a multiple of 32 between {MIN_INPUT_SIZE} and "
                         f"{MAX_INPUT_SIZE} pixels (got {size})")
    return s


# seg_channels: 1 = polyp only; 2 adds P(neoplastic | polyp) as channel 1 (CADx, research only)
SEG_CHANNELS_RANGE = (1, 2)


@dataclass(frozen=True)
class ModelConfig:
    arch: str = "Unet"
    encoder: str = "timm-tf_efficientnet_lite0"
    input_size: int = 256
    classification_head: bool = True
    decoder_channels: tuple[int, ...] | None = None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    clahe: bool = False
    class_names: tuple[str, ...] = ("no polyp", "polyp")
    extra: dict = field(default_factory=dict)
    seg_channels: int = 1  # an int in SEG_CHANNELS_RANGE; files without the key are one-channel

    def __post_init__(self) -> None:
        lo, hi = SEG_CHANNELS_RANGE
        n = self.seg_channels
        if isinstance(n, bool) or not isinstance(n, int) or not lo <= n <= hi:
            raise ValueError(f"seg_channels must be an integer from {lo} to {hi}, "
                             f"not {self.seg_channels!r}")

    @property
    def has_cadx(self) -> bool:
        """Whether the mask output carries the neoplastic-probability channel."""
        return self.seg_channels >= 2

    def to_dict(self) -> dict:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        kw = {}
        for k, v in d.items():
            kw[k] = tuple(v) if isinstance(v, list) else v
        return cls(**kw)
