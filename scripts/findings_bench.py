"""Findings benchmark: labelled "procedures" built from real images, scored through the app.

    uv run python scripts/findings_bench.py --data ../shared/datasets --split val --out OUT
    uv run python scripts/findings_bench.py --data ../shared/datasets --split train --out OUT --sweep
    uv run python scripts/findings_bench.py --demo --out OUT    # the bundled demo clip (6 polyps)

Each sequence is a small video (352x288, 25 fps) in which a virtual scope pans over polyp-free
mucosa (CP-CHILD crops) and, between those stretches, over several distinct polyps (one
Kvasir-SEG or BKAI-IGH image each): approaches, drift and zoom, blur and "water" dropouts of a
few frames, and for some polyps a turn away and back (the same polyp re-appears). The exact
per-frame truth (which polyp is on screen, its box) comes from warping its mask.

The videos are analysed exactly as the viewer does it (``analysis.procedure.analyse_store``: the analysis
cache, then ``findings_cache``) with the default model, and scored with
``metrics.findings_scores``. ``--split train`` builds tuning sequences from training images
(never the validation ones reported); ``--sweep`` then tries tracking settings on them
(tracking only: the analysis is cached). Deterministic for a seed. ``--demo`` scores the
bundled demo clip instead, whose per-frame truth ``scripts/make_demo.py`` saved beside it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

OUT_W, OUT_H, FPS = 352, 288, 25


# ----------------------------------------------------------------------------- sources
@dataclass
class Polyp:
    key: str  # dataset/stem
    img: np.ndarray  # BGR
    mask: np.ndarray  # uint8 0/255


def _stems(root: Path, split: str) -> list[str]:
    return [s for s in (root / "splits" / f"{split}.txt").read_text().split() if s]


def _file(folder: Path, stem: str) -> Path:
    for ext in (".jpg", ".png", ".jpeg"):
        if (folder / f"{stem}{ext}").is_file():
            return folder / f"{stem}{ext}"
    raise FileNotFoundError(f"{stem} not in {folder}")


def load_polyps(root: Path, split: str, rng: np.random.Generator, n: int) -> list[Polyp]:
    """``n`` images with exactly one polyp region (so "which polyp" is never ambiguous)."""
    stems = _stems(root, split)
    rng.shuffle(stems)
    out = []
    for stem in stems:
        img = cv2.imread(str(_file(root / "images", stem)))
        mask = cv2.imread(str(_file(root / "masks", stem)), cv2.IMREAD_GRAYSCALE)
        if img is None or mask is None:
            continue
        scale = 640 / max(img.shape[:2])
        if scale < 1:
            img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            mask = cv2.resize(mask, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST)
        mask = np.where(mask > 127, 255, 0).astype(np.uint8)
        n_lab, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        big = [a for a in stats[1:, 4] if a >= 0.002 * mask.size]
        if len(big) != 1 or n_lab - 1 > 3:
            continue
        out.append(Polyp(f"{root.name}/{stem}", img, mask))
        if len(out) == n:
            break
    return out


def load_mucosa(root: Path, split: str, rng: np.random.Generator) -> list[Path]:
    stems = _stems(root, split)
    rng.shuffle(stems)
    return [_file(root / "images", s) for s in stems]


# ----------------------------------------------------------------------------- rendering
def view(img_shape, cx: float, cy: float, zoom: float, angle: float = 0.0) -> np.ndarray:
    """Affine image -> output placing (cx, cy) at the centre; zoom 1 covers the output."""
    h, w = img_shape[:2]
    s = zoom * max(OUT_W / w, OUT_H / h)
    m = cv2.getRotationMatrix2D((cx, cy), angle, s)
    m[:, 2] += (OUT_W / 2 - cx, OUT_H / 2 - cy)
    return m


def ease(t: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * min(max(t, 0.0), 1.0))


class Film:
    """Writes frames as they are made (none without a path); keeps only the truth per frame."""

    def __init__(self, path: Path | None) -> None:
        self.writer = None
        if path is not None:
            self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS,
                                          (OUT_W, OUT_H))
            if not self.writer.isOpened():
                sys.exit(f"cannot write {path}")
        self.truth: list[int] = []
        self.boxes: list[list[int] | None] = []
        self.last: np.ndarray | None = None

    def add(self, frame: np.ndarray, polyp: int = 0, box=None) -> None:
        if self.writer is not None:
            self.writer.write(frame)
        self.truth.append(polyp if box is not None else 0)
        self.boxes.append(box)
        self.last = frame

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


def _gt_box(mask_out: np.ndarray):
    ys, xs = np.nonzero(mask_out)
    if len(xs) < 0.001 * mask_out.size:  # under the app's speck size: not "on screen"
        return None
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def shot(film: Film, img, mask, keys: list[tuple], n: int, polyp: int = 0, effects=None) -> None:
    """``n`` frames easing through key views (cx, cy, zoom, angle); ``effects[k]`` per frame."""
    segs = len(keys) - 1
    for k in range(n):
        t = k / max(n - 1, 1) * segs
        a = min(int(t), segs - 1)
        e = ease(t - a)
        v = [x + (y - x) * e for x, y in zip(keys[a], keys[a + 1])]
        m = view(img.shape, *v)
        frame = cv2.warpAffine(img, m, (OUT_W, OUT_H), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
        box = None
        if mask is not None:
            box = _gt_box(cv2.warpAffine(mask, m, (OUT_W, OUT_H), flags=cv2.INTER_NEAREST) > 127)
        fx = (effects or {}).get(k)
        if fx is not None:
            kind, strength = fx
            if kind == "blur":
                frame = cv2.GaussianBlur(frame, (0, 0), strength)
            else:  # water / glare over the lens
                frame = cv2.addWeighted(frame, 1 - strength, np.full_like(frame, 235), strength, 0)
        film.add(frame, polyp, box)


def mucosa_stretch(film: Film, crops: list[Path], rng, seconds: float) -> None:
    n_total = int(seconds * FPS)
    while n_total > 0:
        img = cv2.imread(str(crops.pop()))
        n = min(n_total, int(rng.uniform(2.0, 4.0) * FPS))
        h, w = img.shape[:2]
        z0, z1 = rng.uniform(1.1, 1.5), rng.uniform(1.1, 1.6)
        keys = [(w / 2 + rng.uniform(-25, 25), h / 2 + rng.uniform(-25, 25), z0, rng.uniform(-8, 8)),
                (w / 2 + rng.uniform(-25, 25), h / 2 + rng.uniform(-25, 25), z1, rng.uniform(-8, 8))]
        fx = {}
        if rng.random() < 0.4:  # motion blur on mucosa too: no finding may come of it
            k0 = int(rng.integers(0, max(1, n - 6)))
            fx = {k: ("blur", rng.uniform(3, 7)) for k in range(k0, k0 + 5)}
        shot(film, img, None, keys, n, effects=fx)
        n_total -= n


def polyp_visit(film: Film, p: Polyp, pid: int, rng, reappear: bool) -> None:
    """Approach, hold with drift and dropouts, optionally turn away and back, leave."""
    h, w = p.mask.shape
    ys, xs = np.nonzero(p.mask)
    cx, cy = float(xs.mean()), float(ys.mean())
    bw, bh = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    base = max(OUT_W / w, OUT_H / h)
    zoom = float(np.clip(min(OUT_W * 0.4 / (bw * base), OUT_H * 0.4 / (bh * base)), 1.0, 3.0))
    ang = rng.uniform(0, 2 * math.pi)
    far = 0.9 * OUT_W / (base * zoom)  # image pixels that put the polyp out of view

    def off(d: float):
        return (float(np.clip(cx + d * math.cos(ang), 0, w)), float(np.clip(cy + d * math.sin(ang), 0, h)))

    start, near = off(far), (cx + rng.uniform(-0.1, 0.1) * bw, cy + rng.uniform(-0.1, 0.1) * bh)
    a = rng.uniform(-10, 10)
    shot(film, p.img, p.mask, [(*start, zoom * 0.8, a), (*near, zoom, a + 4)], int(1.2 * FPS), pid)

    def hold(seconds: float) -> None:
        n = int(seconds * FPS)
        fx = {}
        for _ in range(int(rng.integers(1, 3))):  # dropouts of a few frames
            k0 = int(rng.integers(5, max(6, n - 8)))
            kind = "blur" if rng.random() < 0.6 else "water"
            strength = rng.uniform(6, 10) if kind == "blur" else rng.uniform(0.75, 0.9)
            fx.update({k: (kind, strength) for k in range(k0, k0 + int(rng.integers(2, 7)))})
        drift = (near[0] + rng.uniform(-0.4, 0.4) * bw, near[1] + rng.uniform(-0.4, 0.4) * bh)
        shot(film, p.img, p.mask, [(*near, zoom, a + 4), (*drift, zoom * rng.uniform(0.85, 1.3),
                                                        a + rng.uniform(-8, 8)),
                                   (*near, zoom, a + 4)], n, pid, fx)

    hold(rng.uniform(2.0, 5.0))
    if reappear:  # the scope turns away (polyp out of view), then comes back
        away = off(far * 1.3)
        shot(film, p.img, p.mask, [(*near, zoom, a + 4), (*away, zoom * 1.1, a)], int(0.6 * FPS), pid)
        shot(film, p.img, p.mask, [(*away, zoom * 1.1, a), (*away, zoom * 1.2, a + 3)],
             int(rng.uniform(0.5, 1.5) * FPS), pid)
        shot(film, p.img, p.mask, [(*away, zoom * 1.2, a + 3), (*near, zoom, a + 4)], int(0.6 * FPS), pid)
        hold(rng.uniform(1.5, 3.0))
    shot(film, p.img, p.mask, [(*near, zoom, a + 4), (*off(far * 1.2), zoom * 0.9, a)],
         int(1.0 * FPS), pid)


def build(data: Path, split: str, out: Path, n_seq: int, per_seq: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    kvasir = load_polyps(data / "kvasir-seg", split, rng, n_seq * per_seq)
    bkai = load_polyps(data / "bkai-neopolyp", split, rng, n_seq * per_seq)
    crops = load_mucosa(data / "cpchild-nopolyp", split, rng)
    pool = [p for pair in itertools.zip_longest(kvasir, bkai) for p in pair if p is not None]
    out.mkdir(parents=True, exist_ok=True)
    seqs = []
    for s in range(n_seq):
        path = out / f"{split}_{s + 1:02d}.mp4"
        # a sequence made before keeps its video (and analysis cache), but is rendered again
        # without writing, so the images and random draws of the next ones stay those of a
        # fresh run with the same count
        made = path.is_file() and path.with_suffix(".json").is_file()
        film = Film(None if made else path)
        polyps = [pool.pop(0) for _ in range(per_seq)]
        mucosa_stretch(film, crops, rng, rng.uniform(6, 12))
        for k, p in enumerate(polyps, start=1):
            polyp_visit(film, p, k, rng, reappear=bool(k % 2))
            mucosa_stretch(film, crops, rng, rng.uniform(6, 16))
        film.close()
        truth = {"fps": FPS, "polyps": [p.key for p in polyps], "truth": film.truth,
                 "boxes": film.boxes}
        if made:
            seqs.append({"video": path, **json.loads(path.with_suffix(".json").read_text())})
            continue
        (out / f"{path.stem}.json").write_text(json.dumps(truth))
        seqs.append({"video": path, **truth})
        print(f"{path.name}: {len(film.truth)} frames ({len(film.truth) / FPS:.0f} s), "
              f"{per_seq} polyps: {', '.join(p.key for p in polyps)}", flush=True)
    return seqs


def demo_sequence() -> dict:
    """The bundled demo clip as a sequence: polyp k is the k-th image shown with its mask.

    The truth has one polyp per frame, and the sixth image holds two (frames 309-343): both
    count as polyp 6, so a model that finds both gets 7 findings for "6 polyps".
    """
    from polypviewer.paths import resources_dir

    samples = resources_dir() / "samples"
    gt = np.load(samples / "demo_masks.npz")
    masks = np.unpackbits(gt["masks"], axis=-1)[..., :int(gt["width"])]
    truth, boxes, keys = [], [], []
    for source, shown, mask in zip(gt["source"], gt["has_polyp"], masks):
        box = _gt_box(mask > 0) if shown else None
        if box is not None and (not keys or keys[-1] != source):
            keys.append(str(source))
        truth.append(len(keys) if box is not None else 0)
        boxes.append(box)
    return {"video": samples / "demo.mp4", "fps": float(gt["fps"]), "polyps": keys,
            "truth": truth, "boxes": boxes}


# ----------------------------------------------------------------------------- scoring
def _on(inst, box) -> bool:
    if box is None:
        return False
    x0, y0, x1, y1 = inst.bbox
    iw, ih = min(x1, box[2]) - max(x0, box[0]), min(y1, box[3]) - max(y0, box[1])
    cx, cy = inst.centroid
    return (iw > 0 and ih > 0) or (box[0] <= cx <= box[2] and box[1] <= cy <= box[3])


def score(seq: dict, store, result) -> dict:
    from polypviewer.engine.metrics import findings_scores

    pairs = []
    for i, (t, box) in enumerate(zip(seq["truth"], seq["boxes"])):
        insts = store.instances(i) if store.has(i) else []
        ids = result.ids_per_frame.get(i, [0] * len(insts))
        pairs.append([(fid, t if _on(inst, box) else 0) for fid, inst in zip(ids, insts)])
    s = findings_scores(seq["truth"], pairs, FPS, result.settings.enter_hits)
    short = [f for f in result.findings if (f.duration_s or 0) < result.settings.min_duration_s]
    s["shorter_than_minimum"] = len(short)
    return s


def analyse_all(seqs: list[dict], out: Path, model: str | None, size: str | None = None):
    from polypviewer.engine.analysis.procedure import analyse_store
    from polypviewer.engine.media.sources import open_source
    from polypviewer.engine.runtime.inference import Predictor
    from polypviewer.engine.runtime.results import AnalysisStore

    predictor = Predictor(model, device="cpu", input_size=size)
    stores = []
    for seq in seqs:
        src = open_source(seq["video"])
        t0 = time.perf_counter()
        store = AnalysisStore.open(src, predictor, root=out / "analysis", n_frames=len(src))
        analyse_store(store, src, predictor)
        print(f"analysed {seq['video'].name}: {len(src)} frames in {time.perf_counter() - t0:.0f} s",
              flush=True)
        stores.append((src, store))
    return predictor, stores


def table(rows: list[tuple[str, dict]]) -> str:
    head = ("| sequence | length | polyp-free | true polyps | findings | findings / polyps | "
            "polyps found | missed ≥ 1 s | false findings | false / 10 min | ID switches | "
            "median time to detection |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for name, s in rows:
        lines.append(
            f"| {name} | {s['length_s']:.0f} s | {s['polyp_free_min'] * 60:.0f} s | {s['polyps']} | "
            f"{s['findings']} | {s['findings'] / max(s['polyps'], 1):.2f} | {s['found']} "
            f"({s['sensitivity']:.2f}) | {s['missed_long']} | {s['false_findings']} | "
            f"{10 * s['false_per_min']:.1f} | {s['id_switches']} | {s['median_latency_s']:.2f} s |")
    return "\n".join(lines)


def total(rows: list[dict]) -> dict:
    keys = ("polyps", "findings", "found", "missed_long", "false_findings", "id_switches",
            "shorter_than_minimum")
    t = {k: sum(r[k] for r in rows) for k in keys}
    t["length_s"] = sum(r["length_s"] for r in rows)
    t["polyp_free_min"] = sum(r["polyp_free_min"] for r in rows)
    t["sensitivity"] = t["found"] / max(t["polyps"], 1)
    t["false_per_min"] = t["false_findings"] / max(t["polyp_free_min"], 1e-9)
    lat = [p["latency_s"] for r in rows for p in r["per_polyp"].values() if p["latency_s"] is not None]
    t["median_latency_s"] = float(np.median(lat)) if lat else math.nan
    return t


def evaluate(seqs, stores, predictor, settings) -> list[dict]:
    from polypviewer.engine.analysis.findings_cache import findings_for_store

    rows = []
    for seq, (src, store) in zip(seqs, stores):
        result = findings_for_store(store, str(seq["video"]), predictor.threshold,
                                    predictor.min_area_fraction, src.fps or FPS, settings)
        s = score(seq, store, result)
        s["length_s"] = len(seq["truth"]) / FPS
        rows.append(s)
    return rows


def sweep(seqs, stores, predictor) -> None:
    """Tracking settings tried on the (tuning) sequences; the objective is printed per row.

    ``tracking.track`` on the same cached regions ``findings_for_store`` reads, with one
    appearance reader per sequence shared by all settings (its descriptors are memoised).
    """
    from polypviewer.engine.analysis.appearance import SourceAppearance
    from polypviewer.engine.analysis.tracking import DEFAULT_SETTINGS, track

    cached = []
    for seq, (src, store) in zip(seqs, stores):
        frames = [(i, i / FPS, store.instances(i)) for i in range(len(src)) if store.has(i)]
        box = store.letterbox(0)
        cached.append((frames, SourceAppearance(str(seq["video"])), box.height * box.width))

    def evaluate_with(settings) -> list[dict]:
        rows = []
        for seq, (src, store), (frames, look, area) in zip(seqs, stores, cached):
            result = track(frames, settings, appearance=look, frame_area=area, n_frames=len(src))
            r = score(seq, store, result)
            r["length_s"] = len(seq["truth"]) / FPS
            rows.append(r)
        return rows

    grid = itertools.product((3, 4, 6), (8,), (4, 6, 10), (0.7, 0.8, 0.9), (0.4, 0.8),
                             (0.8, 0.85, 0.9, 0.93))
    results = []
    for hits, window, missing, sim, dur, conf in grid:
        # every value a model file may set is swept, so the defaults are the base
        s = replace(DEFAULT_SETTINGS, enter_hits=hits, enter_window=window, max_missing=missing,
                    reid_similarity=sim, min_duration_s=dur, enter_confidence=conf)
        t = total(evaluate_with(s))
        # missed polyps cost most, then extra findings, false findings, ID switches
        cost = (10 * (t["polyps"] - t["found"]) + 2 * abs(t["findings"] - t["polyps"])
                + 3 * t["false_findings"] + t["id_switches"])
        results.append((cost, s, t))
    results.sort(key=lambda r: r[0])
    for cost, s, t in results[:10]:
        print(f"cost {cost:3d}  hits {s.enter_hits}/{s.enter_window} at {s.enter_confidence} "
              f"missing {s.max_missing} "
              f"sim {s.reid_similarity} dur {s.min_duration_s}: polyps {t['polyps']} findings "
              f"{t['findings']} found {t['found']} false {t['false_findings']} "
              f"switches {t['id_switches']}", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path,
                    help="folder with kvasir-seg/, bkai-neopolyp/ and cpchild-nopolyp/")
    ap.add_argument("--demo", action="store_true", help="score the bundled demo clip instead")
    ap.add_argument("--split", choices=("train", "val"), default="val")
    ap.add_argument("--out", type=Path, required=True, help="where the sequences and caches go")
    ap.add_argument("--sequences", type=int, default=4)
    ap.add_argument("--polyps", type=int, default=3, help="distinct polyps per sequence")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", help="model name or file (default: the app's default)")
    ap.add_argument("--size", help="analysis size: pixels, 'accurate' (default) or 'fast'")
    ap.add_argument("--sweep", action="store_true", help="try tracking settings (tuning split)")
    args = ap.parse_args(argv)
    from polypviewer.engine.analysis.tracking import settings_for

    if args.demo:
        seqs = [demo_sequence()]
    elif args.data is None:
        ap.error("--data is needed unless --demo is given")
    else:
        seqs = build(args.data, args.split, args.out, args.sequences, args.polyps,
                     args.seed + (0 if args.split == "val" else 1000))
    predictor, stores = analyse_all(seqs, args.out, args.model, args.size)
    if args.sweep:
        sweep(seqs, stores, predictor)
        return
    settings = settings_for(predictor.loaded.metadata)  # the model's own, as the app tracks
    rows = evaluate(seqs, stores, predictor, settings)
    named = [(seq["video"].stem, r) for seq, r in zip(seqs, rows)] + [("**all**", total(rows))]
    print(f"\nmodel {predictor.name} at {predictor.config.input_size} px, threshold {predictor.threshold:.2f}; "
          f"{settings.describe()}\n")
    print(table(named))
    print(f"\nfindings shorter than the minimum duration: {total(rows)['shorter_than_minimum']}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"scores_{'demo' if args.demo else args.split}.json").write_text(json.dumps(
        [{"sequence": n, **{k: v for k, v in r.items() if k != "per_polyp"}} for n, r in named],
        indent=1, default=str))


if __name__ == "__main__":
    main()
