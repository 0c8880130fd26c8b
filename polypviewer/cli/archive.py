"""``polypviewer archive``: query a results database (summary, rows, CSV, one procedure's report)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("database", metavar="RESULTS", help="results database written by 'batch'")
    p.add_argument("--summary", action="store_true", help="procedures, hours, findings per procedure, "
                                                          "procedures with >= 1 finding")
    p.add_argument("--model", help="only procedures analysed by this model (name)")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="analysed on or after this date")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="analysed on or before this date")
    p.add_argument("--min-confidence", type=float, help="count only findings at least this confident")
    p.add_argument("--status", choices=["done", "partial", "failed"])
    p.add_argument("--csv", metavar="FILE", help="write the (filtered) procedures as CSV")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--report", type=int, metavar="ID", help="write the HTML procedure report of row ID")
    p.add_argument("--out", metavar="DIR", help="with --report: output folder (must not exist)")


def run(args: argparse.Namespace) -> int:
    from ..archive import db, query
    from ..engine.errors import PolypViewerError

    f = query.Filters(model=args.model, since=args.since, until=args.until,
                      min_confidence=args.min_confidence, status=args.status)
    conn = db.connect(args.database, readonly=True)
    try:
        if args.report is not None:
            row = query.procedure(conn, args.report)
            if row is None:
                raise PolypViewerError(f"no procedure with ID {args.report} in {args.database}")
            return _report(row, args.out)
        rs = query.rows(conn, f)
        if args.csv:
            query.write_csv(args.csv, rs)
            print(f"{len(rs)} procedure(s) written to {args.csv}")
        if args.summary:
            s = query.summary(conn, f)
            print(json.dumps(s, indent=2) if args.json else query.format_summary(s, f))
        elif not args.csv:
            if args.json:
                print(json.dumps(rs, indent=2))
            else:
                for r in rs:
                    dur = "-" if r["duration_s"] is None else f"{r['duration_s'] / 60:.1f} min"
                    print(f"{r['id']:>5}  {r['status']:<7}  {r['findings']:>3} finding(s)  {dur:>9}  {r['path']}")
        return 0
    finally:
        conn.close()


def _report(row, out: str | None) -> int:
    from ..engine.errors import PolypViewerError
    from .main import main

    if not out:
        raise PolypViewerError("--report needs --out DIR")
    if not Path(row["path"]).exists():
        raise PolypViewerError(f"the procedure's file is no longer at {row['path']}")
    print(f"report of procedure {row['id']} ({row['path']}) with model {row['model_name']}", file=sys.stderr)
    return main(["export", row["path"], "--format", "report", "--out", out, "--model", row["model_name"]])
