"""The procedure report as a PDF, printed by Qt's rich-text engine (no browser needed).

The engine writes the report as HTML and never imports Qt, so the PDF step lives here; the
CLI imports this module only when a PDF is asked for. ``QTextDocument`` draws the report's
plain tables and ``width`` attributes the same way a browser does, and its images are handed
over as decoded resources. Painting onto a PDF from a worker thread is supported by Qt (the
rich-text engine draws images as QImage off the GUI thread), so the GUI's export worker calls
``write_pdf`` directly.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

from PySide6.QtCore import QByteArray, QMarginsF, QSizeF, QUrl
from PySide6.QtGui import QGuiApplication, QImage, QPageLayout, QPageSize, QPdfWriter, QTextDocument

from ..engine.errors import PolypViewerError

PAPER = {"a4": QPageSize.PageSizeId.A4, "letter": QPageSize.PageSizeId.Letter}
MARGIN_MM = 14.0  # as the report's @page rule
RESOLUTION = 300  # dpi of the PDF's layout: sharp text, thumbnails at their own size
_DATA_IMG = re.compile(r"src='data:image/(png|jpeg);base64,([A-Za-z0-9+/=]+)'")


def default_paper() -> str:
    """Letter where the locale measures in US units, A4 elsewhere."""
    from PySide6.QtCore import QLocale

    us = QLocale().measurementSystem() == QLocale.MeasurementSystem.ImperialUSSystem
    return "letter" if us else "a4"


def ensure_gui_app() -> None:
    """Text layout needs a QGuiApplication; the CLI makes an offscreen one (no display needed).

    It is a QApplication (a QGuiApplication that also allows widgets): Qt keeps one
    application object per process, and a plain QGuiApplication would make any widget created
    later in the same process (an embedding program, a test session) abort Qt.
    """
    if QGuiApplication.instance() is None:
        from PySide6.QtWidgets import QApplication

        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        ensure_gui_app.app = QApplication(["polypviewer", "-platform", "offscreen"])


def _with_resources(doc: QTextDocument, html: str) -> str:
    """Inline base64 images become document resources named ``img<N>``."""
    images: list[QImage] = []

    def swap(m: re.Match) -> str:
        img = QImage.fromData(QByteArray(base64.b64decode(m.group(2))))
        name = f"img{len(images)}"
        images.append(img)
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), img)
        return f"src='{name}'"

    return _DATA_IMG.sub(swap, html)


def write_pdf(html: str, path: str | Path, paper: str = "a4") -> Path:
    """Print ``html`` to ``path`` (written in place: callers wrap it in an atomic write)."""
    if paper not in PAPER:
        raise PolypViewerError(f"paper must be one of {', '.join(PAPER)}, not {paper!r}")
    ensure_gui_app()
    path = Path(path)
    doc = QTextDocument()
    doc.setDocumentMargin(0)
    doc.setHtml(_with_resources(doc, html))
    layout = QPageLayout(QPageSize(PAPER[paper]), QPageLayout.Orientation.Portrait,
                         QMarginsF(MARGIN_MM, MARGIN_MM, MARGIN_MM, MARGIN_MM),
                         QPageLayout.Unit.Millimeter)
    # a page size in CSS px (1/96 in) paginates the document ourselves: otherwise print_()
    # adds 2 cm margins of its own and the page is narrower than the report was laid out for
    area = layout.paintRect(QPageLayout.Unit.Point)
    doc.setPageSize(QSizeF(area.width() * 96 / 72, area.height() * 96 / 72))
    writer = QPdfWriter(str(path))
    writer.setResolution(RESOLUTION)
    writer.setCreator("PolypViewer")
    writer.setTitle(doc.metaInformation(QTextDocument.MetaInformation.DocumentTitle))
    writer.setPageLayout(layout)
    doc.print_(writer)
    del writer  # the file is complete once the writer is gone
    if not path.exists() or path.stat().st_size == 0:
        raise PolypViewerError(f"the PDF {path.name} could not be written")
    return path
