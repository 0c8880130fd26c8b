"""The procedure report: one HTML file that can be mailed or archived with nothing beside it.

Key-frame thumbnails are JPEGs and the timeline a matplotlib (Agg) PNG, all base64-inlined;
no scripts, no external links. Thumbnails are made while the frames stream past (only when a
finding's best frame improves), so nothing but small JPEGs is kept in memory.
"""

from __future__ import annotations

import base64
import heapq
import html
import io

import cv2
import numpy as np

from ..analysis.tracking import Finding, segments
from .overlay import OverlayStyle, draw_overlay

THUMB_WIDTH = 320
MAX_STILLS = 60  # images without tracking: the most probable positives are shown


def _jpeg_b64(rgb: np.ndarray, width: int = THUMB_WIDTH) -> str:
    h, w = rgb.shape[:2]
    if w > width:
        rgb = cv2.resize(rgb, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return base64.b64encode(buf.tobytes()).decode("ascii") if ok else ""


def _clock(t: float | None) -> str:
    if t is None:
        return "-"
    m, s = divmod(float(t), 60.0)
    return f"{int(m):02d}:{s:04.1f}"


class ReportBuilder:
    """Collects what the report needs per frame; ``html()`` renders it."""

    def __init__(self, style: OverlayStyle) -> None:
        self.style = style
        self.index: list[int] = []
        self.time: list[float | None] = []
        self.prob: list[float] = []
        self.count: list[int] = []
        self.best: dict[int, tuple[float, str, str]] = {}  # track id -> (conf, b64, frame name)
        self.stills: list[tuple[float, int, str, str]] = []  # heap of (prob, index, b64, name)

    def add(self, frame, pred, ids: list[int]) -> None:
        self.index.append(frame.index)
        self.time.append(frame.time_s)
        self.prob.append(pred.frame_prob)
        self.count.append(pred.count)
        if not pred.count:
            return
        if ids:
            better = [t for k, t in enumerate(ids)
                      if t and pred.instances[k].confidence > self.best.get(t, (-1.0,))[0]]
            if better:
                thumb = _jpeg_b64(draw_overlay(frame.rgb, pred, style=self.style,
                                               gt_mask=frame.gt_mask, track_ids=ids))
                for k, t in enumerate(ids):
                    if t in better:
                        self.best[t] = (pred.instances[k].confidence, thumb, frame.name)
        elif len(self.stills) < MAX_STILLS or pred.frame_prob > self.stills[0][0]:
            thumb = _jpeg_b64(draw_overlay(frame.rgb, pred, style=self.style, gt_mask=frame.gt_mask))
            item = (pred.frame_prob, frame.index, thumb, frame.name)
            if len(self.stills) < MAX_STILLS:
                heapq.heappush(self.stills, item)
            else:
                heapq.heapreplace(self.stills, item)

    def timeline_png(self, findings: list[Finding]) -> str:
        """Frame probability over time (or image index), positive runs shaded, findings marked."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        timed = bool(self.time) and all(t is not None for t in self.time)
        x = np.asarray(self.time if timed else self.index, dtype=float)
        fig = Figure(figsize=(10, 2.6), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        if len(x):
            pos = np.asarray(self.count, dtype=float) > 0
            for s, e in segments(pos.astype(float), 0.5):
                ax.axvspan(x[s], x[e], color="#E69F00", alpha=0.25, lw=0)
            ax.plot(x, self.prob, color="#0072B2", lw=1)
            where = {i: k for k, i in enumerate(self.index)}
            for f in findings:
                k = where.get(f.best_index)
                if k is not None:
                    ax.annotate(f"#{f.id}", (x[k], 1.02), ha="center", fontsize=8,
                                annotation_clip=False)
        ax.set_ylim(0, 1.08)
        ax.set_xlabel("time (s)" if timed else "image")
        ax.set_ylabel("frame probability")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return base64.b64encode(buf.getvalue()).decode("ascii")

    def html(self, findings: list[Finding], *, header: dict, metrics: dict,
             fps: float | None = None) -> str:
        esc = html.escape
        n = len(self.index)
        positives = int(sum(c > 0 for c in self.count))
        rows = [("Source", header.get("source") or "-"), ("Model", header.get("model") or "-"),
                ("Created", header.get("created", "")), ("Frames analysed", str(n)),
                ("Frames with a polyp region", f"{positives} ({positives / n:.1%})" if n else "0")]
        if fps:
            rows.append(("Frame rate", f"{fps:.2f} fps"))
        rows += [(str(k), "; ".join(map(str, v)) if isinstance(v, list) else str(v))
                 for k, v in header.get("settings", {}).items()]
        info = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
        parts = [f"<table class='info'>{info}</table>",
                 f"<h2>Timeline</h2><img class='timeline' alt='timeline' "
                 f"src='data:image/png;base64,{self.timeline_png(findings)}'>"]
        if metrics.get("n"):
            cells = "".join(f"<tr><th>{esc(k)}</th><td>{v:.3f}</td></tr>"
                            for k, v in metrics.get("mean", {}).items())
            parts.append(f"<h2>Agreement with ground truth ({metrics['n']} images, mean)</h2>"
                         f"<table class='info'>{cells}</table>")
        if self.best or findings:
            parts.append(self._findings(findings))
        elif self.stills:
            parts.append(self._stills())
        else:
            parts.append("<h2>Findings</h2><p>No polyp was found.</p>")
        title = f"PolypViewer report {header.get('source', '')}".strip()
        return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
                f"<h1>{esc(title)}</h1>{''.join(parts)}"
                f"<p class='note'>Generated by PolypViewer. Model output is an aid to review, "
                f"not a diagnosis.</p></body></html>\n")

    def _findings(self, findings: list[Finding]) -> str:
        esc = html.escape
        if not findings:
            return "<h2>Findings</h2><p>No region was tracked long enough to count as a finding.</p>"
        cards = []
        for f in findings:
            _, thumb, name = self.best.get(f.id, (0.0, "", ""))
            img = f"<img alt='finding {f.id}' src='data:image/jpeg;base64,{thumb}'>" if thumb else ""
            dur = "-" if f.duration_s is None else f"{f.duration_s:.1f} s"
            cards.append(
                f"<div class='card'>{img}<div><b>Finding #{f.id}</b><br>"
                f"{_clock(f.first_time_s)} to {_clock(f.last_time_s)} ({dur})<br>"
                f"frames {f.first_index}-{f.last_index}, seen in {f.n_frames}<br>"
                f"peak confidence {f.peak_confidence:.2f}, key frame {esc(name)}<br>"
                f"mean area {f.mean_area:.0f} px</div></div>")
        return f"<h2>Findings ({len(findings)})</h2><div class='grid'>{''.join(cards)}</div>"

    def _stills(self) -> str:
        esc = html.escape
        cards = [f"<div class='card'><img alt='{esc(name)}' src='data:image/jpeg;base64,{b64}'>"
                 f"<div><b>{esc(name)}</b><br>frame probability {p:.2f}</div></div>"
                 for p, _, b64, name in sorted(self.stills, reverse=True)]
        return (f"<h2>Images with a polyp region (top {len(cards)})</h2>"
                f"<div class='grid'>{''.join(cards)}</div>")


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}
table.info th{text-align:left;padding-right:1.5em;font-weight:600}
img.timeline{width:100%;max-width:1000px}
.grid{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #ccc;border-radius:6px;padding:8px;width:330px;font-size:.9em}
.card img{width:100%;display:block;margin-bottom:6px}
.note{color:#666;font-size:.85em;margin-top:2em}
"""
