"""Fit the neoplastic head of a trained model: a class-balanced logistic regression per polyp.

The head (``engine.models.neoplastic_head``) is linear in the encoder's features, so its mean
logit over a polyp is ``w . pooled + b`` with ``pooled`` the region's mean of the bilinearly
upsampled feature maps. Fitting it on those pooled vectors is a small convex problem that
runs in minutes on a CPU, where training the channel by SGD with the whole network takes
many GPU hours (and, from a decoder row, learnt only the majority class). The segmentation
is untouched: the polyp channel and frame head keep their weights bit for bit.

The app reads the head over the regions the model itself predicts, at whichever analysis
size is chosen: the fit pools the true polyps at several sizes (``sizes``), and chooses L2 by
the holdout AUC over the predicted regions. Training on the predicted regions as well was
measured and left out: it did not raise that AUC (model card, "Neoplastic head").
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from polypviewer.engine import fsutil
from polypviewer.engine.errors import DatasetError
from polypviewer.engine.metrics import frame_auc
from polypviewer.engine.models.modelfile import load_model, save_model
from polypviewer.engine.models.neoplastic_head import STAGES, add_neoplastic_head
from polypviewer.engine.runtime.postprocess import min_area_pixels
from polypviewer.engine.runtime.preprocess import normalise
from polypviewer.engine.runtime.views import OFF, VIEWS, flipped

from .data import LABEL_NEOPLASTIC, LABEL_NON_NEOPLASTIC, _resize_to, load_labelled, resize_labels
from .events import Cancelled, CancelToken, Event, Listener
from .sources import SourceSplit, write_holdouts

MIN_REGION_PX = 16  # at the fitting size; smaller specks carry no texture
L2_GRID = (0.1, 1.0, 10.0, 100.0)  # chosen on the holdout polyps by AUC


def _adjoint_weights(masks: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """(K, S, S) region masks -> (K, h, w) weights with sum(w * f) == sum(mask * upsample(f))."""
    z = torch.zeros(masks.shape[0], 1, *shape, requires_grad=True)
    with torch.enable_grad():
        up = F.interpolate(z, size=masks.shape[-2:], mode="bilinear", align_corners=False)
        (up[:, 0] * masks).sum().backward()
    return z.grad[:, 0]


def polyp_regions(label: np.ndarray) -> list[tuple[np.ndarray, bool]]:
    """(region mask, neoplastic?) for each polyp whose class is known, by majority of pixels."""
    n, comp = cv2.connectedComponents((label > 0).astype(np.uint8), connectivity=8)
    out = []
    for k in range(1, n):
        region = comp == k
        neo = int((label[region] == LABEL_NEOPLASTIC).sum())
        non = int((label[region] == LABEL_NON_NEOPLASTIC).sum())
        if region.sum() >= MIN_REGION_PX and neo + non > 0:
            out.append((region, neo >= non))
    return out


def predicted_regions(prob: np.ndarray, label: np.ndarray, threshold: float,
                      min_px: int) -> list[tuple[np.ndarray, bool]]:
    """(region mask, neoplastic?) for each region the model predicts that lies mostly on a
    polyp of known class; its class is the majority of those pixels, as the evaluation's."""
    n, comp = cv2.connectedComponents((prob >= threshold).astype(np.uint8), connectivity=8)
    out = []
    for k in range(1, n):
        region = comp == k
        area = int(region.sum())
        if area < min_px:
            continue
        neo = int((label[region] == LABEL_NEOPLASTIC).sum())
        non = int((label[region] == LABEL_NON_NEOPLASTIC).sum())
        if 2 * (neo + non) >= area:
            out.append((region, neo >= non))
    return out


@torch.inference_mode()
def _features(model, batch: torch.Tensor, with_mask: bool):
    feats = model.encoder(batch)
    prob = None
    if with_mask:  # the polyp channel, computed from the same features
        prob = torch.sigmoid(model.segmentation_head(model.decoder(feats))[:, 0]).numpy()
    return [f.float() for f in feats[-STAGES:]], prob


def pooled_features(model, config, images: np.ndarray, labels: np.ndarray,
                    batch_size: int = 8, predicted: float | None = None, on_batch=None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(K, D) pooled encoder features and (K,) neoplastic flags for every known polyp, or,
    with ``predicted`` = a pixel threshold, for every region the model predicts on one.
    ``on_batch(done, batches)`` runs after each batch (progress, and a cancel that raises)."""
    model.eval()
    xs, ys = [], []
    side = images.shape[1] if len(images) else 0
    min_px = max(MIN_REGION_PX, min_area_pixels((side, side)))
    batches = math.ceil(len(images) / batch_size)
    for i in range(0, len(images), batch_size):
        feats, prob = _features(model, normalise(images[i:i + batch_size], config),
                                predicted is not None)
        for j in range(len(feats[0])):
            regions = (polyp_regions(labels[i + j]) if predicted is None else
                       predicted_regions(prob[j], labels[i + j], predicted, min_px))
            if not regions:
                continue
            masks = torch.from_numpy(np.stack([r for r, _ in regions]).astype(np.float32))
            area = masks.sum((1, 2)).unsqueeze(1)
            vec = [torch.einsum("chw,khw->kc", f[j], _adjoint_weights(masks, f.shape[-2:]))
                   / area for f in feats]
            xs.append(torch.cat(vec, 1).numpy())
            ys += [neo for _, neo in regions]
        if on_batch is not None:
            on_batch(i // batch_size + 1, batches)
    if not xs:
        return np.zeros((0, 0), np.float32), np.zeros(0, bool)
    return np.concatenate(xs), np.asarray(ys, bool)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Class-balanced L2 logistic regression on standardised features, folded back to raw
    feature scale: (w, b) with logit = x @ w + b."""
    mu, sd = x.mean(0), x.std(0) + 1e-6
    xt = torch.from_numpy(((x - mu) / sd).astype(np.float32))
    yt = torch.from_numpy(y.astype(np.float32))
    n_pos, n_neg = max(1.0, float(yt.sum())), max(1.0, float(len(yt) - yt.sum()))
    weight = torch.where(yt > 0, 0.5 / n_pos, 0.5 / n_neg)
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        z = xt @ w + b
        loss = (F.binary_cross_entropy_with_logits(z, yt, reduction="none") * weight).sum()
        loss = loss + l2 * (w ** 2).sum() / len(yt)
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    w_raw = w.detach().numpy() / sd
    return w_raw, float(b.detach()) - float((w_raw * mu).sum())


def _scores(x, y, w, b) -> dict:
    if not len(y):
        return {"polyps": 0, "neoplastic": 0, "auc": float("nan"), "accuracy": float("nan")}
    p = 1 / (1 + np.exp(-(x @ w + b)))
    auc = frame_auc(y.astype(int), p) if 0 < y.sum() < len(y) else float("nan")
    return {"polyps": int(len(y)), "neoplastic": int(y.sum()), "auc": float(auc),
            "accuracy": float(((p >= 0.5) == y).mean())}


def _arrays(sources: list[SourceSplit], part: str, size: int, clahe: bool, cache: Path | None):
    xs, ls = [], []
    for s in sources:
        pairs = getattr(s, part)
        if not pairs:
            continue
        x, lab = load_labelled(pairs, s.classes, size, clahe, cache)
        xs += [_resize_to(a, size) for a in x]
        ls += [resize_labels(b, size) for b in lab]
    if not xs:
        return np.zeros((0, size, size, 3), np.uint8), np.zeros((0, size, size), np.uint8)
    return np.stack(xs), np.stack(ls)


def _flipped(a: np.ndarray, view: tuple[str, ...]) -> np.ndarray:
    """(N, H, W[, 3]) images or labels in one test-time view, contiguous for torch."""
    return np.ascontiguousarray(flipped(a, view, {"h": 1, "w": 2}))


def _mean_auc(holdout: dict, kind: str) -> float:
    aucs = [v[kind]["auc"] for v in holdout.values() if not np.isnan(v[kind]["auc"])]
    return float(np.mean(aucs)) if aucs else float("nan")


class _Passes:
    """Progress over the pooling passes (one per size x part x view): an ``epoch_progress`` per
    batch, a pass standing for an epoch, so a training monitor shows it; the cancel is checked
    between batches and passes."""

    def __init__(self, total: int, listener: Listener | None, cancel: CancelToken | None):
        self.total, self.listener, self.cancel = total, listener, cancel
        self.index, self.label, self.t0 = -1, "", time.perf_counter()

    def check(self) -> None:
        if self.cancel is not None and self.cancel.cancelled:
            raise Cancelled()

    def start(self, label: str) -> None:
        self.check()
        self.index, self.label, self.t0 = self.index + 1, label, time.perf_counter()

    def __call__(self, done: int, steps: int) -> None:
        self.check()
        if self.listener is not None:
            elapsed = time.perf_counter() - self.t0
            self.listener(Event("epoch_progress", {
                "epoch": self.index, "step": done, "steps": steps, "label": self.label,
                "elapsed_s": elapsed, "eta_s": elapsed / done * (steps - done)}))


def fit_neoplastic_head(init_from: str, sources: list[SourceSplit], out: str | Path, *,
                        size: int | None = None, sizes: list[int] | None = None,
                        cache_dir: str | None = None, name: str | None = None,
                        description: str | None = None, views: str = OFF, emit=print,
                        listener: Listener | None = None,
                        cancel: CancelToken | None = None) -> dict:
    """Write ``out/model`` = ``init_from`` plus a fitted neoplastic head; returns the report.

    ``sizes``: analysis sizes to pool the training polyps at (default: ``size``, the model's
    own). L2 is chosen by the holdout AUC over the predicted regions (what the app shows),
    averaged over ``sizes``. ``views``: the test-time views (``engine.runtime.views``) each
    training polyp is also pooled in, as more samples: stills average the head's logits over
    the four flips, and the encoder's features of a flipped polyp are not those of the polyp.
    ``emit`` takes the progress text; ``listener`` gets ``run_started`` and the passes'
    ``epoch_progress``; a set ``cancel`` raises ``Cancelled`` before any model is written.
    """
    out = Path(out)
    write_holdouts(out, sources)  # as a training run does
    sources = [s for s in sources if s.classes]
    if not sources:
        raise DatasetError("fitting the neoplastic head needs a source with a classes/ folder")
    loaded = load_model(init_from)
    size = int(size or loaded.config.input_size)
    sizes = sorted({int(v) for v in (sizes or [size])})
    if views not in VIEWS:
        raise DatasetError(f"unknown views {views!r} for the neoplastic head's fit; choose from "
                           f"{', '.join(VIEWS)}")
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(cache_dir) if cache_dir else out / "cache"
    model = loaded.model
    config = loaded.config
    kinds = {"truth": None, "predicted": loaded.threshold}
    passes = _Passes(len(sizes) * (len(VIEWS[views]) + len(kinds)), listener, cancel)
    if listener is not None:
        listener(Event("run_started", {
            "task": "cadx", "out": str(out), "device": "cpu", "init_from": str(init_from),
            "sizes": sizes, "views": views, "n_train": sum(len(s.train) for s in sources),
            "n_val": sum(len(s.holdout) for s in sources),
            "n_params": sum(p.numel() for p in model.parameters()),
            "epochs": passes.total, "start_epoch": 0}))
    train_x, train_y, held = [], [], {}
    for at in sizes:
        for part in ("train", "holdout"):
            passes.check()
            images, labels = _arrays(sources, part, at, config.clahe, cache)
            if part == "train":  # the true polyps only, in each view
                for view in VIEWS[views]:
                    shown = '+'.join(view) or 'as is'
                    passes.start(f"train at {at} px, view {shown}")
                    x, y = pooled_features(model, config, _flipped(images, view),
                                           _flipped(labels, view), on_batch=passes)
                    emit(f"train at {at} px, view {shown}: {len(y)} polyps "
                         f"with a known class ({int(y.sum())} neoplastic) in {len(images)} images")
                    if len(y):
                        train_x.append(x)
                        train_y.append(y)
                continue
            for kind, thr in kinds.items():  # the holdout as video shows it: one view
                passes.start(f"holdout at {at} px, {kind} regions")
                x, y = pooled_features(model, config, images, labels, predicted=thr,
                                       on_batch=passes)
                emit(f"holdout at {at} px, {kind} regions: {len(y)} polyps with a known class "
                     f"({int(y.sum())} neoplastic) in {len(images)} images")
                held.setdefault(at, {})[kind] = (x, y)
    xt, yt = (np.concatenate(v) for v in (train_x, train_y)) if train_x else (None, np.zeros(0))
    if len(yt) < 2 or yt.all() or not yt.any():
        raise DatasetError("the training polyps need both classes to fit the neoplastic head")
    grid = []
    for l2 in L2_GRID:
        passes.check()
        w, b = fit_logistic(xt, yt, l2)
        holdout = {str(at): {k: _scores(x, y, w, b) for k, (x, y) in v.items()}
                   for at, v in held.items() if any(len(y) for _, y in v.values())}
        grid.append({"l2": l2, "train": _scores(xt, yt, w, b), "holdout": holdout or None,
                     "holdout_auc": _mean_auc(holdout, "predicted") if holdout else None,
                     "holdout_auc_truth": _mean_auc(holdout, "truth") if holdout else None})
        emit(f"l2 {l2:g}: holdout AUC over predicted regions {grid[-1]['holdout_auc']}, "
             f"per size {holdout}")
    # the predicted regions decide; where the model finds none of a class, the true ones
    for key in ("holdout_auc", "holdout_auc_truth"):
        scored = [g for g in grid if g[key] is not None and not np.isnan(g[key])]
        if scored:
            best = max(scored, key=lambda g: g[key])
            break
    else:
        best = grid[1]
    w, b = fit_logistic(xt, yt, best["l2"])
    passes.check()  # the last moment a cancel leaves no model behind
    two = replace(config, seg_channels=2)
    if config.seg_channels < 2:
        add_neoplastic_head(model)
    head = model.neoplastic_head
    with torch.no_grad():
        start = 0
        for conv in head.convs:
            c = conv.weight.shape[1]
            conv.weight.copy_(torch.from_numpy(w[start:start + c].astype(np.float32)).view(1, c, 1, 1))
            start += c
        head.bias.fill_(b)
    report = {"init_from": str(init_from), "size": size, "sizes": sizes, "views": views,
              "l2": best["l2"], "grid": grid, "sources": [s.name for s in sources]}
    meta = loaded.metadata
    training = dict(meta.get("training") or {})
    training["neoplastic_head"] = {k: report[k] for k in ("size", "sizes", "views", "l2", "sources")} | {
        "holdout": best["holdout"]}
    path = save_model(out / "model", model, two, threshold=loaded.threshold,
                      name=name or loaded.name,
                      description=description or meta.get("description", ""),
                      training=training, frame_threshold=meta.get("frame_threshold"),
                      fast_size=meta.get("fast_size"), tracking=meta.get("tracking"))
    fsutil.write_json(out / "cadx_fit.json", report)
    emit(f"wrote {path} (neoplastic head, l2 {best['l2']:g})")
    return report
