"""Read any image or mask the user has into the one form the engine uses.

Images become RGB uint8 (H, W, 3) whatever they were on disk: 8/16-bit, grey, RGBA, TIFF.
TIFFs go through tifffile because OpenCV reads some variants (e.g. planar RGB) as grey.
Masks become bool (H, W), thresholded at 127 because JPEG masks are not exactly 0/255.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import MediaError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
MASK_THRESHOLD = 127


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTS


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if arr.dtype == np.uint16:
        return (arr.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        finite = np.nan_to_num(arr.astype(np.float64))
        hi = 1.0 if finite.max(initial=0.0) <= 1.0 else 255.0
        return np.clip(finite / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        info = np.iinfo(arr.dtype)
        scaled = (arr.astype(np.float64) - info.min) / (info.max - info.min) * 255.0
        return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)
    raise MediaError(f"unsupported pixel type {arr.dtype}")


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    try:
        arr = tifffile.imread(path, key=0)
    except Exception as e:  # tifffile raises many types for damaged files
        raise MediaError(f"cannot read {path.name}: not a readable TIFF ({e})") from e
    if arr.ndim < 2 or arr.size == 0:  # tifffile returns an empty array for a damaged header
        raise MediaError(f"cannot read {path.name}: the TIFF holds no image (damaged file?)")
    # planar (C, H, W) with few channels -> (H, W, C)
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[-1] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)
    return arr  # already RGB order


def _read_cv(path: Path) -> np.ndarray:
    data = np.fromfile(path, dtype=np.uint8)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if arr is None:
        raise MediaError(f"cannot read {path.name}: not a supported image or the file is damaged")
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
    return arr


def read_raw(path: str | Path) -> np.ndarray:
    """Pixels as stored (RGB channel order), before any conversion to 8-bit RGB."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    if path.suffix.lower() in (".tif", ".tiff"):
        return _read_tiff(path)
    return _read_cv(path)


def to_rgb8(arr: np.ndarray) -> np.ndarray:
    """Any decoded array -> contiguous RGB uint8 (H, W, 3)."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.repeat(_to_uint8(arr)[..., None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 2:  # grey + alpha
        arr = np.repeat(_to_uint8(arr[..., :1]), 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] >= 3:
        arr = _to_uint8(arr[..., :3])
    else:
        raise MediaError(f"unsupported image shape {arr.shape}")
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise MediaError(f"image too small ({arr.shape[1]}x{arr.shape[0]})")
    return np.ascontiguousarray(arr)


def read_image(path: str | Path) -> np.ndarray:
    return to_rgb8(read_raw(path))


def read_mask(path: str | Path) -> np.ndarray:
    """A mask as bool (H, W); colour masks count any channel above the threshold."""
    arr = read_raw(path)
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=2) if arr.shape[2] >= 3 else arr[..., 0]
    return _to_uint8(arr) > MASK_THRESHOLD


def write_png(path: str | Path, rgb_or_grey: np.ndarray) -> None:
    """Encode to PNG and write atomically."""
    from ..fsutil import write_bytes

    arr = rgb_or_grey
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", arr)
    if not ok:
        raise MediaError(f"could not encode {Path(path).name} as PNG")
    write_bytes(path, buf.tobytes())
