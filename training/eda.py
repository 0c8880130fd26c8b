"""Exploratory data analysis of a segmentation dataset (seed 001).

What a model will meet: image sizes and aspect ratios, how much of a frame polyps cover, how
many polyps a frame holds and how large they are, colour of polyp versus mucosa, plus three
hypothesis tests. Output: PNG plots, ``eda.json`` and a self-contained ``eda.html``.
"""

from __future__ import annotations

import base64
import html
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a GUI backend in the training package
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from polypviewer.engine import fsutil  # noqa: E402
from polypviewer.engine.errors import DatasetError  # noqa: E402
from polypviewer.engine.media.dataset import find_pairs  # noqa: E402
from polypviewer.engine.media.imageio import read_image, read_mask  # noqa: E402
from polypviewer.engine.runtime.postprocess import find_instances, min_area_pixels  # noqa: E402

from .report import save_figure  # noqa: E402

SIZE_CLASSES = (("small", 0.0, 0.05), ("medium", 0.05, 0.20), ("large", 0.20, 1.01))
ALPHA = 0.05


def _one(image: Path, mask: Path | None) -> dict:
    img = read_image(image)
    h, w = img.shape[:2]
    rec = {"file": image.name, "height": h, "width": w, "has_mask": mask is not None}
    if mask is None:
        return rec
    m = read_mask(mask)
    if m.shape != (h, w):  # EDA describes, it does not refuse: compare at the image's size
        import cv2

        m = cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    inst, _ = find_instances(m, min_area=min_area_pixels((h, w)))
    grey = img.mean(axis=2)
    rec.update(coverage=float(m.mean()), n_polyps=len(inst),
               polyp_fractions=[i.area / (h * w) for i in inst],
               hist_polyp=[np.bincount(img[..., c][m], minlength=256).tolist() for c in range(3)],
               hist_background=[np.bincount(img[..., c][~m], minlength=256).tolist() for c in range(3)],
               contrast=float(grey[m].mean() - grey[~m].mean()) if m.any() and (~m).any() else None)
    return rec


def _describe(v) -> dict:
    a = np.asarray([x for x in v if x is not None], float)
    if a.size == 0:
        return {"n": 0}
    return {"n": int(a.size), "mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()),
            "median": float(np.median(a)), "max": float(a.max())}


def _test(name: str, hypothesis: str, fn, *args, min_n: int = 3) -> dict:
    sizes = [len(a) for a in args]
    rec = {"test": name, "hypothesis": hypothesis, "n": sizes}
    if min(sizes) < min_n:
        return {**rec, "statistic": None, "p_value": None, "significant": None,
                "note": f"needs at least {min_n} values per group"}
    if any(np.ptp(np.asarray(a, float)) == 0 for a in args):
        return {**rec, "statistic": None, "p_value": None, "significant": None,
                "note": "a variable is constant"}
    r = fn(*args)
    stat, p = float(r[0]), float(r[1])
    if math.isnan(p):
        return {**rec, "statistic": None, "p_value": None, "significant": None, "note": "undefined"}
    return {**rec, "statistic": stat, "p_value": p, "significant": bool(p < ALPHA)}


def analyse(root: str | Path, workers: int = 2, max_images: int | None = None) -> tuple[dict, list[dict]]:
    pairs = find_pairs(root)
    if max_images:
        pairs = pairs[:max_images]
    with ThreadPoolExecutor(max(1, workers)) as ex:
        recs = list(ex.map(lambda p: _one(p.image, p.mask), pairs))
    seg = [r for r in recs if "coverage" in r]
    if not seg:
        raise DatasetError(f"{root}: no image has a mask; the EDA needs masks")
    res = np.array([r["height"] * r["width"] for r in seg], float)
    cov = np.array([r["coverage"] for r in seg])
    portrait = [r["coverage"] for r in seg if r["height"] > r["width"]]
    landscape = [r["coverage"] for r in seg if r["width"] > r["height"]]
    with_c = [r for r in seg if r["contrast"] is not None]
    fr = [f for r in seg for f in r["polyp_fractions"]]
    sizes = {name: int(sum(lo <= f < hi for f in fr)) for name, lo, hi in SIZE_CLASSES}
    hp = np.array([r["hist_polyp"] for r in seg]).sum(0)
    hb = np.array([r["hist_background"] for r in seg]).sum(0)
    vals = np.arange(256)
    chan = {}
    for c, name in enumerate("RGB"):
        chan[name] = {"polyp_mean": float((hp[c] * vals).sum() / max(hp[c].sum(), 1)),
                      "background_mean": float((hb[c] * vals).sum() / max(hb[c].sum(), 1))}
    counts = np.array([r["n_polyps"] for r in seg])
    summary = {
        "dataset": Path(root).name, "n_images": len(recs), "n_with_mask": len(seg),
        "image_size": {"width": _describe([r["width"] for r in recs]),
                       "height": _describe([r["height"] for r in recs]),
                       "distinct_sizes": len({(r["width"], r["height"]) for r in recs})},
        "aspect_ratio": _describe([r["width"] / r["height"] for r in recs]),
        "orientation": {"landscape": sum(r["width"] > r["height"] for r in recs),
                        "portrait": sum(r["height"] > r["width"] for r in recs),
                        "square": sum(r["height"] == r["width"] for r in recs)},
        "coverage": {**_describe(cov), "empty_masks": int((cov == 0).sum())},
        "polyps_per_image": {**_describe(counts),
                             "counts": {str(k): int((counts == k).sum()) for k in np.unique(counts)}},
        "polyp_size_classes": {"definition": "share of the frame: small < 5 %, medium 5-20 %, large > 20 %",
                               "counts": sizes, "n_polyps": len(fr)},
        "colour": chan,
        "contrast": _describe([r["contrast"] for r in with_c]),
        "tests": {
            "resolution_vs_coverage": _test(
                "Spearman", "higher-resolution frames have a different polyp coverage",
                stats.spearmanr, res, cov),
            "coverage_portrait_vs_landscape": {**_test(
                "Welch t-test", "mean coverage differs between portrait and landscape frames",
                lambda a, b: stats.ttest_ind(a, b, equal_var=False), portrait, landscape, min_n=2),
                "mean_portrait": float(np.mean(portrait)) if portrait else None,
                "mean_landscape": float(np.mean(landscape)) if landscape else None},
            "coverage_vs_contrast": _test(
                "Pearson", "larger polyps stand out more (polyp minus background intensity)",
                stats.pearsonr, [r["coverage"] for r in with_c], [r["contrast"] for r in with_c]),
        },
        "alpha": ALPHA,
    }
    return summary, seg


def _save(fig, path: Path) -> Path:
    return save_figure(fig, path, dpi=100)


def write_plots(out: Path, summary: dict, seg: list[dict]) -> dict[str, Path]:
    plots = {}
    w = [r["width"] for r in seg]
    h = [r["height"] for r in seg]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    ax[0].scatter(w, h, s=8, alpha=0.5)
    ax[0].set(title="Image sizes", xlabel="width (px)", ylabel="height (px)")
    ax[1].hist([a / b for a, b in zip(w, h)], bins=30, color="tab:orange")
    ax[1].set(title="Aspect ratio (width / height)", xlabel="ratio", ylabel="images")
    plots["sizes"] = _save(fig, out / "sizes.png")

    cov = [r["coverage"] * 100 for r in seg]
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    ax[0].hist(cov, bins=30, color="tab:red")
    ax[0].set(title="Polyp coverage", xlabel="% of frame", ylabel="images")
    counts = summary["polyps_per_image"]["counts"]
    ax[1].bar(list(counts), list(counts.values()), color="tab:purple")
    ax[1].set(title="Polyps per image", xlabel="connected components", ylabel="images")
    sc = summary["polyp_size_classes"]["counts"]
    ax[2].bar(list(sc), list(sc.values()), color="tab:green")
    ax[2].set(title="Polyp size classes", ylabel="polyps")
    plots["polyps"] = _save(fig, out / "polyps.png")

    hp = np.array([r["hist_polyp"] for r in seg]).sum(0).astype(float)
    hb = np.array([r["hist_background"] for r in seg]).sum(0).astype(float)
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.4), sharey=True)
    for c, (name, col) in enumerate(zip("RGB", ("red", "green", "blue"))):
        ax[c].plot(hp[c] / max(hp[c].sum(), 1), color=col, label="polyp")
        ax[c].plot(hb[c] / max(hb[c].sum(), 1), color=col, ls="--", alpha=0.6, label="background")
        ax[c].set(title=f"{name} channel", xlabel="intensity")
        ax[c].legend()
    ax[0].set_ylabel("share of pixels")
    plots["colour"] = _save(fig, out / "colour.png")

    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    ax[0].scatter([r["height"] * r["width"] / 1e6 for r in seg], cov, s=8, alpha=0.5)
    ax[0].set(title="Resolution vs coverage (Spearman)", xlabel="megapixels", ylabel="coverage %")
    port = [r["coverage"] * 100 for r in seg if r["height"] > r["width"]]
    land = [r["coverage"] * 100 for r in seg if r["width"] > r["height"]]
    ax[1].boxplot([port or [np.nan], land or [np.nan]])
    ax[1].set_xticks([1, 2], [f"portrait ({len(port)})", f"landscape ({len(land)})"])
    ax[1].set(title="Coverage by orientation (Welch)", ylabel="coverage %")
    wc = [r for r in seg if r["contrast"] is not None]
    ax[2].scatter([r["coverage"] * 100 for r in wc], [r["contrast"] for r in wc], s=8, alpha=0.5)
    ax[2].set(title="Coverage vs contrast (Pearson)", xlabel="coverage %",
              ylabel="polyp - background intensity")
    plots["hypotheses"] = _save(fig, out / "hypotheses.png")
    return plots


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def write_html(out: Path, summary: dict, plots: dict[str, Path]) -> Path:
    """One file that opens anywhere: plots are embedded as base64 PNGs."""
    rows = []
    for key in ("n_images", "n_with_mask"):
        rows.append(f"<tr><th>{key}</th><td>{summary[key]}</td></tr>")
    for key in ("aspect_ratio", "coverage", "polyps_per_image", "contrast"):
        d = {k: v for k, v in summary[key].items() if not isinstance(v, dict)}
        rows.append(f"<tr><th>{key}</th><td>{', '.join(f'{k} {_fmt(v)}' for k, v in d.items())}</td></tr>")
    sc = summary["polyp_size_classes"]
    rows.append(f"<tr><th>polyp size classes</th><td>{_fmt(sc['counts'])} ({_fmt(sc['definition'])})</td></tr>")
    tests = "".join(
        f"<tr><td>{_fmt(t['test'])}</td><td>{_fmt(t['hypothesis'])}</td><td>{_fmt(t['n'])}</td>"
        f"<td>{_fmt(t['statistic'])}</td><td>{_fmt(t['p_value'])}</td>"
        f"<td>{_fmt(t.get('significant', t.get('note')))}</td></tr>" for t in summary["tests"].values())
    imgs = "".join(
        f'<h2>{html.escape(k)}</h2><img alt="{html.escape(k)}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}">' for k, p in plots.items())
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>EDA {html.escape(summary['dataset'])}</title>
<style>body{{font-family:sans-serif;max-width:1400px;margin:2em auto}}img{{max-width:100%}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}</style>
</head><body><h1>Dataset {html.escape(summary['dataset'])}</h1>
<table>{''.join(rows)}</table>
<h2>Hypothesis tests (alpha {summary['alpha']})</h2>
<table><tr><th>test</th><th>hypothesis</th><th>n</th><th>statistic</th><th>p</th><th>significant</th></tr>
{tests}</table>{imgs}</body></html>"""
    path = out / "eda.html"
    fsutil.write_text(path, page)
    return path


def run_eda(root: str | Path, out: str | Path, workers: int = 2, max_images: int | None = None) -> dict:
    """Analyse, then write the plots, ``eda.json`` and ``eda.html``; returns the summary."""
    out = fsutil.check_writable_dir(out)
    summary, seg = analyse(root, workers, max_images)
    plots = write_plots(out, summary, seg)
    summary["plots"] = {k: p.name for k, p in plots.items()}
    fsutil.write_json(out / "eda.json", summary)
    write_html(out, summary, plots)
    return summary
