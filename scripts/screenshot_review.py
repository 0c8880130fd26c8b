"""Screenshot of the Dataset review (annotator) workspace for the README.

Usage: uv run python scripts/screenshot_review.py DATASET OUT.png [--mode pixels] [--row 0]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("dataset")
    p.add_argument("out")
    p.add_argument("--mode", default="pixels", help="contours, pixels, side or polyps")
    p.add_argument("--row", type=int, default=0, help="row of the (worst-first) table to show")
    a = p.parse_args()
    from PySide6.QtWidgets import QApplication

    from polypviewer.gui.app import create_window

    win = create_window()
    win.setGeometry(win.screen().availableGeometry())  # screen size: QT_QPA_PLATFORM configfile
    win.show()
    ws = win.show_dataset_review()
    ws.open_dataset(a.dataset)
    deadline = time.monotonic() + 600
    while (ws.busy or not ws.visible_indices()) and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.05)
    rows = ws.visible_indices()
    ws.select_index(rows[min(a.row, len(rows) - 1)])
    ws.compare.set_mode(a.mode)
    for _ in range(50):
        QApplication.processEvents()
        time.sleep(0.02)
    win.grab().save(a.out)
    print(f"saved {a.out}")
    ws.shutdown()
    win.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
