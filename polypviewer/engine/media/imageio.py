"""Read any image or mask the user has into the one form the engine uses.

Images become RGB uint8 (H, W, 3) whatever they were on disk: 8/16-bit, grey, RGBA, TIFF.
TIFFs go through tifffile because OpenCV reads some variants (e.g. planar RGB) as grey.
Masks become bool (H, W), thresholded at 127 because JPEG masks are not exactly 0/255.

Every reader in the app (CLI, viewer, dataset review, training cache) comes through here, so the
pixel limit is checked once: the size is read from the file's header (:mod:`.header`) and an
image above ``max_pixels()`` is refused before any decoder allocates memory for it. A 1 MB PNG
can announce 20000x20000 pixels (1.2 GB as RGB, several GB in decoder buffers).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import MediaError
from .header import image_size
from .native_log import captured_stderr

log = logging.getLogger(__name__)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
MASK_THRESHOLD = 127
# 50 megapixels: above 8K video (33 MP) and most cameras; about 150 MB as RGB, < 1 GB decoding.
DEFAULT_MAX_PIXELS = 50_000_000
MAX_PIXELS_ENV = "POLYPVIEWER_MAX_PIXELS"  # an environment variable so worker processes inherit it


def max_pixels() -> int:
    """The largest image (width x height) the readers decode."""
    raw = os.environ.get(MAX_PIXELS_ENV)
    if raw:
        try:
            value = int(float(raw))
            if value > 0:
                return value
        except ValueError:
            pass
        log.warning("ignoring %s=%r: not a positive number of pixels", MAX_PIXELS_ENV, raw)
    return DEFAULT_MAX_PIXELS


def set_max_pixels(value: int | float, *, override: bool = True) -> None:
    """Raise or lower the limit (``--max-pixels``, the ``max_image_pixels`` setting).

    ``override=False`` is for saved settings: an explicit value (flag, environment) wins.
    """
    value = int(value)
    if value < 1:
        raise ValueError(f"the pixel limit must be at least 1, not {value}")
    if override or not os.environ.get(MAX_PIXELS_ENV):
        os.environ[MAX_PIXELS_ENV] = str(value)


def check_size(name: str, width: int, height: int) -> None:
    """Refuse an image above the pixel limit, saying how to raise it."""
    limit = max_pixels()
    if width * height > limit:
        raise MediaError(
            f"{name} is {width}x{height} ({width * height / 1e6:.1f} megapixels), above the "
            f"{limit / 1e6:g}-megapixel limit for images; raise it with --max-pixels N "
            f"or the max_image_pixels setting if the file is genuine")


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
        with tifffile.TiffFile(path) as tf:  # the header only: no pixel data read yet
            page = tf.pages[0]
            w, h = int(page.imagewidth), int(page.imagelength)
    except Exception as e:  # tifffile raises many types for damaged files
        raise MediaError(f"cannot read {path.name}: not a readable TIFF ({e})") from e
    check_size(path.name, w, h)
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
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise MediaError(f"cannot read {path.name}: {e.strerror or e}") from e
    size = image_size(data.tobytes())
    if size is None:
        raise MediaError(f"cannot read {path.name}: not a supported image "
                         f"({', '.join(IMAGE_EXTS)}) or the file is damaged")
    check_size(path.name, *size)
    with captured_stderr() as said:
        try:
            arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        except cv2.error:
            arr = None
    if arr is None:
        why = f" ({said[-1]})" if said else ""
        raise MediaError(f"cannot read {path.name}: not a supported image or the file is damaged{why}")
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


def fit_mask(mask: np.ndarray, shape: tuple[int, int], name: str) -> np.ndarray:
    """The one rule for a mask of another size than its image: nearest-neighbour resize, said.

    Nearest neighbour keeps the mask binary; every reader of datasets (evaluate, export,
    predict, the viewer, training) calls this, so all of them score the same pixels.
    """
    h, w = int(shape[0]), int(shape[1])
    if mask.shape[:2] == (h, w):
        return mask
    log.warning("mask %s is %dx%d but its image is %dx%d: resized to the image "
                "(nearest neighbour)", name, mask.shape[1], mask.shape[0], w, h)
    return cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)


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


def _name_it(path: Path, e: MediaError) -> None:
    """Every message names the file, also those raised where only pixels were known."""
    if path.name not in str(e):
        raise MediaError(f"{path.name}: {e}") from e


def read_image(path: str | Path) -> np.ndarray:
    path = Path(path)
    try:
        return to_rgb8(read_raw(path))
    except MediaError as e:
        _name_it(path, e)
        raise


def read_mask(path: str | Path) -> np.ndarray:
    """A mask as bool (H, W); colour masks count any channel above the threshold."""
    path = Path(path)
    try:
        arr = read_raw(path)
        if arr.ndim == 3:
            arr = arr[..., :3].max(axis=2) if arr.shape[2] >= 3 else arr[..., 0]
        return _to_uint8(arr) > MASK_THRESHOLD
    except MediaError as e:
        _name_it(path, e)
        raise


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
