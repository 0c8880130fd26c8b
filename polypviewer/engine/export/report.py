"""The procedure report: one HTML file that can be mailed or archived with nothing beside it.

Key-frame thumbnails are JPEGs and the timeline a matplotlib (Agg) PNG, all base64-inlined;
no scripts, no external links. The findings come from the analysis' TrackResult, so each
finding's key frame is known in advance and drawn as it streams past: nothing but small JPEGs
is kept in memory. The first line says how much of the source was analysed.

The page prints: findings come in blocks of a few per A4/Letter page, laid out with plain
tables and ``width`` attributes so that Qt's rich-text engine (the PDF writer in
``polypviewer.gui.report_pdf``) draws the same page a browser does. Frame numbers shown to a
reader count from 1.
"""

from __future__ import annotations

import base64
import heapq
import html
import io

import cv2
import numpy as np

from ..analysis.cadx import neoplastic_text
from ..analysis.tracking import Finding, TrackResult
from .overlay import OverlayStyle, draw_overlay
from .report_text import percent, procedure_rows, setting_rows

THUMB_WIDTH = 320
MAX_STILLS = 60  # images without tracking: the most probable positives are shown
FINDINGS_PER_PAGE = 4  # 2 x 2 cards fill an A4 or Letter page
STILLS_PER_PAGE = 9  # 3 x 3
PAGE_WIDTH_PX = 640  # inside A4's and Letter's printable width at 14 mm margins (688 CSS px)
LABEL_ROWS = 3  # timeline label rows above the plot; labels that still collide are merged
COUNTED_COLOUR, DISMISSED_COLOUR = "#E69F00", "#999999"  # timeline spans of findings


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


SUMMARY = "summary.txt"

LEGEND = (
    ("Frame badge", "the frame's verdict: \"Polyp\" with the frame's polyp probability (0-1), "
                    "and how many polyps are outlined in it; \"No polyp\" otherwise"),
    ("Box label", "one polyp region: \"#N\" is the finding it belongs to (as in the Findings "
                  "list), the number its confidence (mean polyp probability inside it)"),
    ("Finding", "one polyp followed over time; a region that belongs to no finding (too "
                "brief to count) is outlined without a number"),
    ("Frame numbers", "start at 1, as in the viewer; file names and index fields count from 0"),
)


def coverage(analysed: int, total: int) -> dict:
    """How much of the source the outputs cover, with the sentence every output starts with."""
    total = max(int(total), int(analysed))
    whole = analysed >= total
    share = analysed / total if total else 0.0
    text = (f"Whole source analysed: {analysed} of {total} frames." if whole else
            f"PARTIAL ANALYSIS: only {analysed} of {total} frames ({share:.1%}) were analysed; "
            f"findings and counts cover those frames only.")
    return {"frames_analysed": int(analysed), "frames_total": int(total), "complete": whole,
            "text": text}


def count_text(findings: list[Finding]) -> str:
    """"3 findings (1 marked false alarm, not counted)"."""
    counted = sum(f.counted for f in findings)
    false = len(findings) - counted
    text = f"{counted} finding{'s' if counted != 1 else ''}"
    return text + (f" ({false} marked false alarm, not counted)" if false else "")


def size_text(f: Finding, frame_area: int = 0) -> str:
    """The mean size as a share of the frame ('about 0.41% of the frame'), never in pixels."""
    if frame_area:
        return f"about {percent(f.mean_area / frame_area)} of the frame"
    if f.size_fraction is not None:
        return f"about {percent(f.size_fraction)} of the frame"
    return "-"


def summary_text(header: dict, findings: list[Finding]) -> str:
    """The plain-text summary beside every export: coverage first, then findings and legend."""
    cov = header.get("coverage", {})
    lines = [cov.get("text", ""), "",
             f"Source: {header.get('source') or '-'}", f"Model: {header.get('model') or '-'}",
             f"Created: {header.get('created', '')}",
             f"Findings: {count_text(findings)}"]
    for f in findings:
        span = (f"{_clock(f.first_time_s)}-{_clock(f.last_time_s)}, "
                if f.first_time_s is not None else "")
        verdict = f", reviewer: {f.verdict}" if f.verdict else ""
        note = f" ({f.note})" if f.note else ""
        lines.append(f"  #{f.id}: {span}frames {f.first_index + 1}-{f.last_index + 1}, key frame "
                     f"{f.best_index + 1}, peak confidence {f.peak_confidence:.2f}{verdict}{note}")
    lines += ["", "Legend:"] + [f"  {k}: {v}" for k, v in LEGEND]
    return "\n".join(lines) + "\n"


def crop_around(rgb: np.ndarray, bbox, pad: float = 0.35, square: bool = False) -> np.ndarray:
    """The region of ``bbox`` with some margin; ``square``: as wide as high (the report's close-up,
    so a tall polyp never stretches a printed card)."""
    x0, y0, x1, y1 = bbox
    h, w = rgb.shape[:2]
    px, py = int((x1 - x0) * pad) + 4, int((y1 - y0) * pad) + 4
    if square:
        half = max(x1 - x0 + 2 * px, y1 - y0 + 2 * py) // 2
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        half = min(half, w // 2, h // 2)
        left, top = min(max(0, cx - half), w - 2 * half), min(max(0, cy - half), h - 2 * half)
        return rgb[top:top + 2 * half, left:left + 2 * half]
    return rgb[max(0, y0 - py):min(h, y1 + py), max(0, x0 - px):min(w, x1 + px)]


class ReportBuilder:
    """Collects what the report needs per frame; ``html()`` renders it.

    With a ``track`` the key frames are known before the frames stream past: each finding's
    best frame is drawn once, with a crop of the polyp.
    """

    def __init__(self, style: OverlayStyle, track: TrackResult | None = None) -> None:
        self.style = style
        self.index: list[int] = []
        self.time: list[float | None] = []
        self.prob: list[float] = []
        self.count: list[int] = []
        self.best: dict[int, tuple[str, str, str]] = {}  # finding id -> (b64, crop b64, name)
        self.stills: list[tuple[float, int, str, str]] = []  # heap of (prob, index, b64, name)
        self.frame_area = 0  # pixels of a frame, for sizes as a share of it
        self.wanted: dict[int, list] = {}
        for f in (track.findings if track is not None else []):
            self.wanted.setdefault(f.best_index, []).append(f)

    def add(self, frame, pred, ids: list[int]) -> None:
        if not self.frame_area:
            self.frame_area = int(pred.mask.size)
        self.index.append(frame.index)
        self.time.append(frame.time_s)
        self.prob.append(pred.frame_prob)
        self.count.append(pred.count)
        if not pred.count:
            return
        if ids:
            if frame.index in self.wanted:
                thumb = _jpeg_b64(draw_overlay(frame.rgb, pred, style=self.style,
                                               gt_mask=frame.gt_mask, track_ids=ids))
                for f in self.wanted[frame.index]:
                    self.best[f.id] = (thumb, _jpeg_b64(crop_around(frame.rgb, f.best_bbox, square=True), 160),
                                       frame.name)
        elif len(self.stills) < MAX_STILLS or pred.frame_prob > self.stills[0][0]:
            thumb = _jpeg_b64(draw_overlay(frame.rgb, pred, style=self.style, gt_mask=frame.gt_mask))
            item = (pred.frame_prob, frame.index, thumb, frame.name)
            if len(self.stills) < MAX_STILLS:
                heapq.heappush(self.stills, item)
            else:
                heapq.heapreplace(self.stills, item)

    def _timed(self) -> bool:
        return bool(self.time) and all(t is not None for t in self.time)

    def timeline_figure(self, findings: list[Finding]):
        """Frame probability over time (or image number), findings' spans shaded and labelled.

        A finding's span is orange, grey when the reviewer marked it a false alarm.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter

        timed = self._timed()
        x = np.asarray(self.time if timed else [i + 1 for i in self.index], dtype=float)
        fig = Figure(figsize=(7.0, 2.4), dpi=150)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        marks: list[tuple[float, int]] = []
        if len(x):
            where = {i: k for k, i in enumerate(self.index)}
            for f in findings:
                a, b = where.get(f.first_index), where.get(f.last_index)
                if a is not None and b is not None:
                    ax.axvspan(x[a], x[b], color=COUNTED_COLOUR if f.counted else DISMISSED_COLOUR,
                               alpha=0.3, lw=0)
            ax.plot(x, self.prob, color="#0072B2", lw=1)
            marks = sorted((float(x[where[f.best_index]]), f.id) for f in findings
                           if f.best_index in where)
            if marks:
                ax.plot([m[0] for m in marks], [1.04] * len(marks), "v", color="#333", ms=3)
        ax.set_ylim(0, 1.08)
        if timed:
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _clock_axis(v)))
        ax.set_xlabel("time (min:s)" if timed else "image number")
        ax.set_ylabel("polyp probability", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.label.set_size(8)
        ax.grid(alpha=0.3)
        # the layout is fixed before the labels go on, so the measured label boxes stay true
        fig.tight_layout(rect=(0, 0, 1, 1 - (9 + 10 * LABEL_ROWS) / 72 / 2.4))
        _place_labels(fig, ax, marks)
        return fig

    def timeline_png(self, findings: list[Finding]) -> str:
        buf = io.BytesIO()
        self.timeline_figure(findings).savefig(buf, format="png")
        return base64.b64encode(buf.getvalue()).decode("ascii")

    def html(self, findings: list[Finding], *, header: dict, metrics: dict,
             fps: float | None = None, settings_text: str = "") -> str:
        esc = html.escape
        n = len(self.index)
        cov = header.get("coverage") or coverage(n, n)
        positives = int(sum(c > 0 for c in self.count))
        rows = [("Source", header.get("source") or "-"), ("Model", header.get("model") or "-"),
                ("Report created", header.get("created", "")),
                ("Frames analysed", f"{cov['frames_analysed']} of {cov['frames_total']}"),
                ("Frames with a polyp region", f"{positives} ({positives / n:.1%})" if n else "0")]
        if fps:
            rows.append(("Frame rate", f"{fps:.2f} frames per second"))
        parts = []
        procedure = procedure_rows(header.get("procedure"))
        if procedure:
            parts.append(_info_table(procedure, "procedure"))
        parts.append(_info_table(rows))
        settings = setting_rows(header.get("settings", {}))
        if settings:
            parts.append(f"<h2>How the model was run</h2>{_info_table(settings)}")
        parts.append(f"<h2>Timeline</h2><img class='timeline' alt='timeline' width='{PAGE_WIDTH_PX}' "
                     f"src='data:image/png;base64,{self.timeline_png(findings)}'>"
                     f"<p class='legend'>{self._legend(findings)}</p>")
        if metrics.get("n"):
            cells = "".join(f"<tr><th>{esc(k)}</th><td>{v:.3f}</td></tr>"
                            for k, v in metrics.get("mean", {}).items())
            parts.append(f"<h2>Agreement with ground truth ({metrics['n']} images, mean)</h2>"
                         f"<table class='info'>{cells}</table>")
        parts.append(_legend_table())  # on the summary page, before the findings' pages
        if findings or self.wanted:
            parts.append(self._findings(findings, settings_text))
        elif self.stills:
            parts.append(self._stills())
        elif settings_text:
            parts.append(f"<h2>Findings</h2><p>No polyp was seen long enough to count as a "
                         f"finding in the analysed frames.</p><p class='note'>{esc(settings_text)}</p>")
        else:
            parts.append("<h2>Findings</h2><p>No polyp was found in the analysed frames.</p>")
        title = f"PolypViewer report {header.get('source', '')}".strip()
        banner = "coverage" if cov["complete"] else "coverage partial"
        return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
                f"<p class='{banner}'>{esc(cov['text'])}</p>"
                f"<h1>{esc(title)}</h1>{''.join(parts)}"
                f"<p class='note'>Generated by PolypViewer. Model output is an aid to review, "
                f"not a diagnosis.</p></body></html>\n")

    def _legend(self, findings: list[Finding]) -> str:
        unit = "frame" if self._timed() else "image"
        text = f"Blue line: how likely the model rates each {unit} to show a polyp."
        if findings:
            text += (" Orange: the span of a finding; grey: a finding the reviewer marked a "
                     "false alarm (not counted). &#9660;&nbsp;#N: the key frame of finding N.")
        return text

    def _key_frame(self, f: Finding, name: str) -> str:
        """'frame 561 at 00:22.4' for videos, 'image 3 (name)' for stills: numbers from 1."""
        try:
            t = self.time[self.index.index(f.best_index)]
        except ValueError:
            t = None
        if t is not None:
            return f"frame {f.best_index + 1} at {_clock(t)}"
        return f"image {f.best_index + 1} ({name})" if name else f"image {f.best_index + 1}"

    def _findings(self, findings: list[Finding], settings_text: str = "") -> str:
        esc = html.escape
        how = f"<p class='note'>{esc(settings_text)}</p>" if settings_text else ""
        if not findings:
            return (f"<h2>Findings</h2><p>No polyp was seen long enough to count as a finding "
                    f"in the analysed frames.</p>{how}")
        cards = []
        for f in findings:
            thumb, crop, name = self.best.get(f.id, ("", "", ""))
            img = (f"<img alt='finding {f.id}' width='300' src='data:image/jpeg;base64,{thumb}'><br>"
                   if thumb else "")
            dur = "-" if f.duration_s is None else f"{f.duration_s:.1f} s"
            verdict = f" <span class='verdict'>{esc(f.verdict)}</span>" if f.verdict else ""
            cadx = (f"{esc(neoplastic_text(f.neoplastic_probability))}<br>"
                    if f.neoplastic_probability is not None else "")
            note = f"<i>{esc(f.note)}</i><br>" if f.note else ""
            text = (f"<b>Finding #{f.id}</b>{verdict}<br>"
                    f"{_clock(f.first_time_s)} to {_clock(f.last_time_s)} ({dur})<br>"
                    f"frames {f.first_index + 1}-{f.last_index + 1}, seen in {f.n_frames}<br>"
                    f"peak confidence {f.peak_confidence:.2f}, mean {f.mean_confidence:.2f}<br>"
                    f"key frame: {esc(self._key_frame(f, name))}<br>"
                    f"mean size: {esc(size_text(f, self.frame_area))}<br>{cadx}{note}")
            if crop:  # the close-up beside the text, so a card is no taller than without it
                text = (f"<table class='crop' width='100%' cellspacing='0' cellpadding='0'><tr>"
                        f"<td width='84' valign='top'><img alt='finding {f.id} close-up' "
                        f"width='78' src='data:image/jpeg;base64,{crop}'></td>"
                        f"<td valign='top'>{text}</td></tr></table>")
            body = img + text
            # a reviewer's false alarm stays listed, greyed, and out of the count
            cards.append(body if f.counted else f"<div class='dismissed'>{body}</div>")
        return (f"<h2 style='page-break-before:always'>Findings: {esc(count_text(findings))}</h2>"
                f"{how}{_blocks(cards, 2, FINDINGS_PER_PAGE)}")

    def _stills(self) -> str:
        esc = html.escape
        cards = [f"<img alt='{esc(name)}' width='196' src='data:image/jpeg;base64,{b64}'><br>"
                 f"<b>image {index + 1}</b><br><span class='name'>{esc(name)}</span><br>"
                 f"frame probability {p:.2f}"
                 for p, index, b64, name in sorted(self.stills, reverse=True)]
        return (f"<h2 style='page-break-before:always'>Images with a polyp region "
                f"(top {len(cards)})</h2>"
                f"{_blocks(cards, 3, STILLS_PER_PAGE)}")


def _legend_table() -> str:
    rows = [*LEGEND, ("Sizes", "a share of the frame's area, not a size in mm")]
    return f"<h2>How to read the pictures</h2>{_info_table(rows)}"


def _clock_axis(v: float) -> str:
    v = max(0.0, float(v))
    return f"{int(v // 60)}:{int(v % 60):02d}"


def _info_table(rows: list[tuple[str, str]], cls: str = "") -> str:
    esc = html.escape
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v).replace(chr(10), '<br>')}</td></tr>"
                   for k, v in rows)
    return f"<table class='info {cls}'>{body}</table>"


def _blocks(cards: list[str], per_row: int, per_page: int) -> str:
    """Cards in tables of ``per_page``, each on a printed page of its own.

    A summary page (header, settings, timeline) comes first; the findings start on page 2, so
    a heading is never left alone at the foot of a page (Qt's printer ignores
    ``page-break-after:avoid``).
    """
    out = []
    width = f"{100 // per_row}%"
    for p in range(0, len(cards), per_page):
        page = cards[p:p + per_page]
        rows = "".join(
            "<tr>" + "".join(f"<td class='card' width='{width}' valign='top'>{c}</td>"
                             for c in page[r:r + per_row])
            + "".join("<td></td>" for _ in range(per_row - len(page[r:r + per_row]))) + "</tr>"
            for r in range(0, len(page), per_row))
        brk = " style='page-break-before:always'" if p else ""  # the heading breaks before p=0
        out.append(f"<table class='block' width='100%' cellspacing='8' cellpadding='6'{brk}>"
                   f"{rows}</table>")
    return "".join(out)


def _ids_text(ids: list[int]) -> str:
    """'#3', '#3, #4', '#3-6, #9': runs of consecutive finding IDs shortened."""
    runs: list[list[int]] = []
    for i in sorted(ids):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(f"#{a}" if a == b else f"#{a}, #{b}" if b == a + 1 else f"#{a}-{b}"
                     for a, b in runs)


def _place_labels(fig, ax, marks: list[tuple[float, int]]) -> list:
    """Finding labels above the plot in up to LABEL_ROWS rows, none overlapping another.

    Label boxes are measured with the figure's renderer; a label that fits in no row is merged
    with its left neighbour ('#3, #4') and the placement is redone, so the result never overlaps.
    """
    if not marks:
        return []
    renderer = fig.canvas.get_renderer()
    groups = [[m] for m in marks]
    while True:
        texts, clash = _try_rows(fig, ax, renderer, groups)
        if clash is None:
            return texts
        for t in texts:
            t.remove()
        k = max(clash, 1)
        groups[k - 1:k + 1] = [groups[k - 1] + groups[k]]


def _try_rows(fig, ax, renderer, groups) -> tuple[list, int | None]:
    rows: list[list] = [[] for _ in range(LABEL_ROWS)]
    texts = []
    right = fig.bbox.width
    for g, members in enumerate(groups):
        gx = float(np.mean([m[0] for m in members]))
        label = _ids_text([m[1] for m in members])
        for r in range(LABEL_ROWS):
            t = ax.annotate(label, (gx, 1.0), xycoords=("data", "axes fraction"),
                            xytext=(0, 5 + 10 * r), textcoords="offset points", ha="center",
                            va="bottom", fontsize=7.5, annotation_clip=False)
            box = t.get_window_extent(renderer)
            if box.x0 < 0 or box.x1 > right:  # keep labels at the ends inside the picture
                t.set_ha("left" if box.x0 < 0 else "right")
                box = t.get_window_extent(renderer)
            box = box.padded(3)  # a little air between neighbours
            if not any(box.overlaps(b) for b in rows[r]):
                rows[r].append(box)
                texts.append(t)
                break
            t.remove()
        else:
            return texts, g
    return texts, None


_CSS = """
@page{margin:14mm}
body{font-family:'DejaVu Sans',system-ui,sans-serif;font-size:10pt;color:#222}
@media screen{body{margin:2em;max-width:1000px}}
h1{font-size:14pt;margin-bottom:8px}h2{font-size:12pt;margin-top:18px;margin-bottom:6px;
page-break-after:avoid}
table.info th{text-align:left;padding-right:1.5em;font-weight:600;vertical-align:top}
table.info td{vertical-align:top}
table.procedure{margin-bottom:8pt;border:1px solid #999;border-collapse:collapse}
table.procedure th,table.procedure td{padding:2px 6px}
img.timeline{width:100%;max-width:1000px;height:auto}
.legend{color:#555;font-size:8.5pt;margin-top:2pt}
table.block{border-collapse:separate;table-layout:fixed}
td.card{border:1px solid #bbb;background-color:#fafafa;font-size:9pt;page-break-inside:avoid}
td.card img{width:100%;height:auto;display:block;margin-bottom:4px}
table.crop td{padding:0}
table.crop img{width:78px}
.name{overflow-wrap:anywhere;word-break:break-all;color:#555}
.note{color:#666;font-size:8.5pt;margin-top:1em}
.coverage{font-weight:600;color:#064}
.partial{color:#fff;background-color:#b00;padding:4px 6px}
.dismissed{color:#888}
.verdict{background-color:#eee;font-size:8.5pt}
@media print{tr{page-break-inside:avoid}}
"""
