"""Augmentation presets (albumentations) covering the seeds' recipes.

Works on the cached, already letterboxed model-size images, so it never repeats decoding.
``strength`` scales every magnitude, which is what the Optuna study tunes.
"""

from __future__ import annotations

import albumentations as A
import cv2

PRESETS = ("none", "light", "medium", "strong")


def build_augment(preset: str = "medium", size: int = 256, strength: float = 1.0,
                  clahe: bool = False) -> A.Compose:
    if preset not in PRESETS:
        raise ValueError(f"unknown augmentation preset '{preset}'; choose from {PRESETS}")
    s = max(0.0, float(strength))
    t: list = []
    if preset != "none":
        t += [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5), A.RandomRotate90(p=0.5)]
    if preset in ("medium", "strong"):
        t += [
            A.Affine(scale=(1 - 0.25 * s, 1 + 0.3 * s), translate_percent=(-0.1 * s, 0.1 * s),
                     rotate=(-30 * s, 30 * s), border_mode=cv2.BORDER_CONSTANT, fill=0,
                     fill_mask=0, p=0.7),
            A.RandomBrightnessContrast(0.2 * s, 0.2 * s, p=0.6),
            A.HueSaturationValue(int(8 * s), int(20 * s), int(15 * s), p=0.5),
        ]
    if preset == "light":
        t += [A.RandomBrightnessContrast(0.1 * s, 0.1 * s, p=0.5)]
    if preset == "strong":
        t += [
            # crops that may lose the polyp teach the frame classifier "no polyp"
            A.RandomResizedCrop(size=(size, size), scale=(0.15, 1.0), ratio=(0.75, 1.33), p=0.3 * min(s, 1.0)),
            A.RGBShift(int(10 * s), int(10 * s), int(10 * s), p=0.3),
            A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=(3, 7))],
                    p=0.25 * min(s, 1.0)),
            A.GaussNoise(std_range=(0.01, 0.04 * s + 0.01), p=0.2),
            A.CoarseDropout(num_holes_range=(1, 4), hole_height_range=(0.05, 0.12),
                            hole_width_range=(0.05, 0.12), fill=0, p=0.2),
        ]
    if clahe:
        t += [A.CLAHE(clip_limit=2.0, p=1.0)]
    return A.Compose(t)


class AugmentBySize:
    """One pipeline per batch size (multi-scale training), built on first use in each process."""

    def __init__(self, preset: str, strength: float = 1.0) -> None:
        build_augment(preset, 64, strength)  # an unknown preset fails here, not in a worker
        self.preset, self.strength = preset, strength
        self._built: dict[int, A.Compose] = {}

    def __call__(self, size: int) -> A.Compose:
        if size not in self._built:
            self._built[size] = build_augment(self.preset, size, self.strength)
        return self._built[size]
