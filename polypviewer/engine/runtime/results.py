"""On-disk cache of analysis results, so a reopened video is not analysed again.

One folder per (source identity, model weights sha256, preprocessing) under
``user_cache_dir()/analysis/<key>/``:

* ``meta.json``: what the key was made of, threshold of the stored instances, ``complete``;
* ``chunk_NNNNNN.zip``: up to 256 consecutive frames, each the model-size probability map as
  a PNG (uint8, compresses the mostly-zero maps to a few kB: an hour at 25 fps stays well under
  a GB) plus one ``frames.json`` with frame probability, presentation time, letterbox and
  instances. The times are kept because ``index / fps`` is wrong for variable-frame-rate
  videos, and findings read from the cache must give the times the video shows.

PNGs are encoded in ``put`` (the worker thread), kept in memory until their chunk is full or
``flush`` is called, then the chunk is rewritten atomically: a crash loses only unflushed
frames, and a damaged chunk is ignored (its frames count as not analysed). Reading one frame
opens its chunk and decodes one PNG, so scrubbing is instant and nothing big stays in RAM.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np

from .. import fsutil
from ..errors import PolypViewerError
from ..models.operating_point import DEFAULT_FRAME_THRESHOLD, resolve_frame_threshold
from . import views
from .cache_format import (
    CHUNK,
    FORMAT,
    OLDER,
    VERSION,
    box_list,
    cadx_name,
    check_entry,
    inst_from_dict,
    meta_problem,
)
from .cache_key import source_identity, store_key, weights_sha256
from .inference import FramePrediction, from_probability
from .postprocess import DEFAULT_MIN_AREA_FRACTION, Instance
from .preprocess import Letterbox, unletterbox

log = logging.getLogger(__name__)


def _model_parts(model) -> tuple[object, bool | str, float | None, float | None]:
    """LoadedModel or Predictor -> (loaded, tta key, threshold, min_area_fraction).

    The key of the test-time views is False for one view and True for the left-right flip,
    as it was when that was the only option, so those caches stay valid; else its name."""
    if hasattr(model, "loaded"):  # a Predictor
        key = {views.OFF: False, views.HFLIP: True}.get(model.tta, model.tta)
        return model.loaded, key, model.threshold, model.min_area_fraction
    return model, False, None, None


def _to_u8(prob: np.ndarray) -> np.ndarray:
    return prob if prob.dtype == np.uint8 else np.clip(prob * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _png(u8: np.ndarray) -> bytes:
    ok, png = cv2.imencode(".png", u8, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise PolypViewerError("could not encode a probability map")
    return png.tobytes()


def _decode(png: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)


class AnalysisStore:
    """Per-frame results of one model on one source; thread-safe (one writer, many readers)."""

    def __init__(self, folder: Path, meta: dict) -> None:
        self.folder = folder
        self.meta = meta
        self.size = int(meta["size"])
        self.chunk = int(meta.get("chunk_size", CHUNK))
        self.threshold = float(meta["threshold"])
        self.min_area_fraction = float(meta["min_area_fraction"])
        self.frame_threshold = DEFAULT_FRAME_THRESHOLD  # the model's, when opened with one
        self._lock = threading.RLock()
        n = int(meta.get("n_frames") or 0)
        self._probs = np.full(n, np.nan, np.float32)
        self._times = np.full(n, np.nan, np.float64)  # seconds; NaN: not analysed or untimed
        self._counts = np.full(n, -1, np.int32)
        self._boxes: dict[int, Letterbox] = {}
        self._box_pool: dict[tuple, Letterbox] = {}
        self._instances: dict[int, list[Instance]] = {}
        # chunk -> index -> (probability PNG, entry, neoplastic PNG or None)
        self._pending: dict[int, dict[int, tuple[bytes, dict, bytes | None]]] = {}
        self._verified: set[int] = set()  # chunks whose data passed the CRC check
        self._load_chunks()

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, source, model, *, threshold: float | None = None,
             min_area_fraction: float | None = None, root: str | Path | None = None,
             n_frames: int | None = None) -> "AnalysisStore":
        """The store for ``source`` (a Source or a path) analysed by ``model``.

        ``model`` is a LoadedModel or a Predictor (then its TTA, threshold and speck size are
        used). Threshold and speck size only decide the stored instances/counts; ``get`` can
        re-threshold. A store made earlier keeps its original threshold.
        """
        from ...paths import user_cache_dir

        loaded, tta, p_thr, p_frac = _model_parts(model)
        cfg = loaded.config
        sha = loaded.metadata.get("weights_sha256") or weights_sha256(loaded.path)
        pre = {"input_size": cfg.input_size, "clahe": cfg.clahe, "mean": list(cfg.mean),
               "std": list(cfg.std), "tta": tta}
        ident = source_identity(source)
        key = store_key(ident, sha, pre)
        folder = Path(root) if root is not None else user_cache_dir() / "analysis"
        folder = folder / key
        if n_frames is None and not isinstance(source, (str, os.PathLike)) and hasattr(source, "__len__"):
            n_frames = len(source)
        meta_path = folder / "meta.json"
        meta = None
        if meta_path.is_file():
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
                problem = meta_problem(meta)
            except (OSError, ValueError) as e:
                problem = f"meta.json is unreadable ({e})"
            if problem == OLDER:
                meta = None
                log.info("analysis cache %s: %s; it will be analysed again", folder, problem)
            elif problem:
                meta = None
                log.warning("analysis cache %s: %s; discarded, it will be analysed again",
                            folder, problem)
        if meta is None:
            for old in folder.glob("chunk_*.zip"):  # results of an unknown make
                old.unlink(missing_ok=True)
            thr = threshold if threshold is not None else p_thr if p_thr is not None else loaded.threshold
            frac = (min_area_fraction if min_area_fraction is not None
                    else p_frac if p_frac is not None else DEFAULT_MIN_AREA_FRACTION)
            meta = {"format": FORMAT, "version": VERSION, "key": key, "source": ident,
                    "model": {"name": loaded.name, "weights_sha256": sha},
                    "preprocessing": pre, "size": cfg.input_size, "chunk_size": CHUNK,
                    "n_frames": n_frames, "threshold": float(thr), "min_area_fraction": float(frac),
                    "complete": False, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
            try:
                fsutil.write_json(meta_path, meta)
            except OSError as e:
                raise PolypViewerError(f"cannot write the analysis cache in {folder}: {e}") from e
        elif n_frames and (meta.get("n_frames") or 0) < n_frames:
            meta["n_frames"] = n_frames
        for junk in folder.glob(".*.part*"):  # temp files of a crashed write
            junk.unlink(missing_ok=True)
        store = cls(folder, meta)
        store.frame_threshold = resolve_frame_threshold(loaded.metadata, loaded.threshold,
                                                        cfg.classification_head)
        return store

    def _chunk_path(self, k: int) -> Path:
        return self.folder / f"chunk_{k:06d}.zip"

    def chunk_of(self, index: int) -> int:
        return index // self.chunk

    def _read_chunk_index(self, path: Path) -> list[dict]:
        """The chunk's checked frame entries; raises ``_Damaged`` saying what is wrong."""
        k = int(path.stem.split("_")[1])
        lo, hi = k * self.chunk, (k + 1) * self.chunk
        try:
            with zipfile.ZipFile(path) as z:
                entries = json.loads(z.read("frames.json"))["frames"]
                names = set(z.namelist())
            entries = [check_entry(e, lo, hi) for e in entries]
        except (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile) as e:
            raise _Damaged(f"unreadable frame index ({type(e).__name__}: {e})") from e
        missing = [e["index"] for e in entries if f"{e['index']}.png" not in names]
        if missing:
            raise _Damaged(f"frame {missing[0]} has no probability map")
        missing = [e["index"] for e in entries if e.get("cadx") and cadx_name(e["index"]) not in names]
        if missing:
            raise _Damaged(f"frame {missing[0]} has no neoplastic map")
        return entries

    def _load_chunks(self) -> None:
        for path in sorted(self.folder.glob("chunk_*.zip")):
            try:
                entries = self._read_chunk_index(path)
            except _Damaged as e:
                self._discard(path, str(e))
                continue
            for e in entries:
                self._record(int(e["index"]), e)

    def _discard(self, path: Path, reason: str) -> None:
        """Forget a damaged chunk's frames (except ones still pending) and delete it, once."""
        log.warning("analysis cache %s: %s; its frames are discarded and will be analysed again",
                    path, reason)
        k = int(path.stem.split("_")[1])
        keep = self._pending.get(k, {})
        for i in range(k * self.chunk, min((k + 1) * self.chunk, len(self._probs))):
            if i not in keep:
                self._probs[i] = np.nan
                self._times[i] = np.nan
                self._counts[i] = -1
                self._boxes.pop(i, None)
                self._instances.pop(i, None)
        self._verified.discard(k)
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only cache: the damaged frames stay forgotten while the app runs

    def _grow(self, n: int) -> None:
        if n > len(self._probs):
            extra = max(n, len(self._probs) * 3 // 2) - len(self._probs)
            self._probs = np.concatenate([self._probs, np.full(extra, np.nan, np.float32)])
            self._times = np.concatenate([self._times, np.full(extra, np.nan, np.float64)])
            self._counts = np.concatenate([self._counts, np.full(extra, -1, np.int32)])

    def _record(self, index: int, e: dict) -> None:
        self._grow(index + 1)
        self._probs[index] = e["frame_prob"]
        t = e.get("time_s")
        self._times[index] = np.nan if t is None else t
        insts = [inst_from_dict(d) for d in e["instances"]]
        self._counts[index] = len(insts)
        key = tuple(e["letterbox"])  # a video's frames share one Letterbox object
        self._boxes[index] = self._box_pool.setdefault(key, Letterbox(*key))
        if insts:
            self._instances[index] = insts
        else:
            self._instances.pop(index, None)

    # ----------------------------------------------------------------- writing
    def put(self, index: int, prob_model: np.ndarray, frame_prob: float, letterbox: Letterbox,
            instances: list[Instance] | None = None, cadx: np.ndarray | None = None,
            time_s: float | None = None) -> None:
        """Store one frame (float [0, 1] or uint8 map of model size); in memory until flushed.

        ``cadx``: the neoplastic map of the same size, for models with that channel.
        ``time_s``: the frame's presentation time (``Frame.time_s``; None for stills).
        Without ``instances`` they are computed from the stored (quantised) maps at
        ``self.threshold``, so ``get(index)`` and ``instances(index)`` agree exactly.
        """
        for m in (prob_model, cadx):
            if m is not None and m.shape != (self.size, self.size):
                raise ValueError(f"probability map must be {self.size}x{self.size}, got {m.shape}")
        u8 = _to_u8(prob_model)
        png = _png(u8)
        cadx_u8 = None if cadx is None else _to_u8(cadx)
        cadx_png = None if cadx_u8 is None else _png(cadx_u8)
        if instances is None:
            instances = self._finish(u8, float(frame_prob), letterbox, self.threshold,
                                     self.min_area_fraction, cadx_u8).instances
        entry = {"index": int(index), "frame_prob": float(frame_prob),
                 "time_s": None if time_s is None else float(time_s),
                 "letterbox": box_list(letterbox), "instances": [i.to_dict() for i in instances]}
        if cadx_png is not None:
            entry["cadx"] = True
        k = self.chunk_of(index)
        with self._lock:
            self._pending.setdefault(k, {})[int(index)] = (png, entry, cadx_png)
            self._record(int(index), entry)
            full = self._chunk_full(k)
            many = sum(len(v) for v in self._pending.values()) > 2 * self.chunk
        if full or many:
            self.flush(None if many else k)

    def _chunk_full(self, k: int) -> bool:
        lo, hi = k * self.chunk, (k + 1) * self.chunk
        n = self.meta.get("n_frames")
        if n:
            hi = min(hi, int(n))
        if hi <= lo or hi > len(self._probs):  # the chunk's end was never reached
            return False
        return not bool(np.isnan(self._probs[lo:hi]).any())

    def flush(self, chunk: int | None = None) -> None:
        """Write pending frames (all chunks, or just ``chunk``) atomically to disk."""
        with self._lock:
            ks = sorted(self._pending) if chunk is None else [chunk]
            for k in ks:
                pending = self._pending.get(k)
                if pending:
                    self._write_chunk(k, pending)
                    del self._pending[k]
            self._write_meta()

    def _write_chunk(self, k: int, pending: dict[int, tuple[bytes, dict, bytes | None]]) -> None:
        path = self._chunk_path(k)
        entries: dict[int, dict] = {}
        pngs: dict[int, bytes] = {}
        cadx: dict[int, bytes] = {}
        try:
            old = self._read_chunk_index(path) if path.is_file() else []
            if old:
                with zipfile.ZipFile(path) as z:
                    for e in old:
                        i = int(e["index"])
                        if i not in pending:
                            entries[i], pngs[i] = e, z.read(f"{i}.png")
                            if e.get("cadx"):
                                cadx[i] = z.read(cadx_name(i))
        except (_Damaged, OSError, zipfile.BadZipFile) as e:
            self._discard(path, str(e))
            entries.clear()
            pngs.clear()
            cadx.clear()
        for i, (png, e, cpng) in pending.items():
            entries[i], pngs[i] = e, png
            if cpng is not None:
                cadx[i] = cpng
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            for i in sorted(pngs):
                z.writestr(f"{i}.png", pngs[i])
                if i in cadx:
                    z.writestr(cadx_name(i), cadx[i])
            z.writestr("frames.json", json.dumps({"frames": [entries[i] for i in sorted(entries)]}))
        fsutil.write_bytes(path, buf.getvalue())

    def _write_meta(self) -> None:
        self.meta["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        fsutil.write_json(self.folder / "meta.json", self.meta)

    @property
    def complete(self) -> bool:
        return bool(self.meta.get("complete"))

    @complete.setter
    def complete(self, value: bool) -> None:
        """Setting it flushes and persists (set True when the whole source was analysed)."""
        with self._lock:
            self.meta["complete"] = bool(value)
            self.flush()

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> "AnalysisStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------- reading
    def has(self, index: int) -> bool:
        with self._lock:
            return 0 <= index < len(self._probs) and not np.isnan(self._probs[index])

    def __len__(self) -> int:
        """Number of analysed frames."""
        with self._lock:
            return int(np.count_nonzero(~np.isnan(self._probs)))

    @property
    def n_frames(self) -> int:
        with self._lock:
            return int(self.meta.get("n_frames") or 0) or len(self._probs)

    @property
    def frame_probs(self) -> np.ndarray:
        """Frame probability per index (NaN where not analysed); a copy."""
        with self._lock:
            return self._probs[:self.n_frames].copy()

    @property
    def frame_times(self) -> np.ndarray:
        """Presentation time per index in seconds (NaN where not analysed or untimed); a copy."""
        with self._lock:
            return self._times[:self.n_frames].copy()

    @property
    def counts(self) -> np.ndarray:
        """Polyp regions per frame at ``self.threshold`` (-1 where not analysed); a copy."""
        with self._lock:
            return self._counts[:self.n_frames].copy()

    def instances(self, index: int) -> list[Instance]:
        """Stored regions of an analysed frame, at ``self.threshold`` (original pixels)."""
        if not self.has(index):
            raise KeyError(f"frame {index} has not been analysed")
        with self._lock:
            return list(self._instances.get(index, []))

    def letterbox(self, index: int) -> Letterbox:
        if not self.has(index):
            raise KeyError(f"frame {index} has not been analysed")
        with self._lock:
            return self._boxes[index]

    def _maps(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The frame's probability map and neoplastic map (None without one) as uint8."""
        if not self.has(index):
            raise KeyError(f"frame {index} has not been analysed")
        with self._lock:
            k = self.chunk_of(index)
            entry = self._pending.get(k, {}).get(index)
            if entry is not None:
                return _decode(entry[0]), None if entry[2] is None else _decode(entry[2])
            path = self._chunk_path(k)
            try:
                with zipfile.ZipFile(path) as z:
                    if k not in self._verified:  # once per chunk: every frame's CRC
                        bad = z.testzip()
                        if bad is not None:
                            raise _Damaged(f"{bad} fails its CRC check")
                        self._verified.add(k)
                    png = z.read(f"{index}.png")
                    name = cadx_name(index)
                    cadx_png = z.read(name) if name in z.namelist() else None
                u8 = self._checked(_decode(png), f"{index}.png", "probability map")
                cadx = (None if cadx_png is None
                        else self._checked(_decode(cadx_png), name, "neoplastic map"))
            except (_Damaged, OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
                self._discard(path, str(e))
                raise KeyError(f"frame {index}: its cached analysis was damaged; "
                               "it will be analysed again") from e
        return u8, cadx

    def _checked(self, u8: np.ndarray | None, name: str, what: str) -> np.ndarray:
        if u8 is None or u8.shape != (self.size, self.size) or u8.dtype != np.uint8:
            raise _Damaged(f"{name} is not a {self.size}x{self.size} {what}")
        return u8

    def prob_model(self, index: int) -> np.ndarray:
        """The stored model-size probability map as uint8 (0..255)."""
        return self._maps(index)[0]

    def cadx_model(self, index: int) -> np.ndarray | None:
        """The stored model-size neoplastic map as uint8, None for one-channel models."""
        return self._maps(index)[1]

    def get(self, index: int, threshold: float | None = None,
            min_area_fraction: float | None = None) -> FramePrediction:
        """The frame's prediction at its original resolution (as Predictor.finish makes it)."""
        u8, cadx = self._maps(index)
        thr = self.threshold if threshold is None else threshold
        frac = self.min_area_fraction if min_area_fraction is None else min_area_fraction
        pred = self._finish(u8, float(self._probs[index]), self.letterbox(index), thr, frac, cadx)
        pred.frame_threshold = self.frame_threshold
        return pred

    @staticmethod
    def _finish(u8: np.ndarray, frame_prob: float, box: Letterbox, thr: float,
                frac: float, cadx_u8: np.ndarray | None = None) -> FramePrediction:
        prob = np.ascontiguousarray(unletterbox(u8.astype(np.float32) * (1.0 / 255.0), box))
        cadx = None
        if cadx_u8 is not None:
            cadx = np.ascontiguousarray(unletterbox(cadx_u8.astype(np.float32) * (1.0 / 255.0), box))
        return from_probability(prob, frame_prob, thr, frac, cadx)

    def delete(self) -> None:
        """Remove this store from disk (e.g. "re-analyse")."""
        import shutil

        with self._lock:
            self._pending.clear()
            shutil.rmtree(self.folder, ignore_errors=True)
            self._probs[:] = np.nan
            self._times[:] = np.nan
            self._counts[:] = -1
            self._instances.clear()
            self._boxes.clear()


class _Damaged(Exception):
    """A chunk that cannot be used; the message says why."""
