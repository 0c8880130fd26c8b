"""``polypviewer batch``: analyse a whole archive of procedures into a results database."""

from __future__ import annotations

import argparse
import sys

from .common import PROG, analysis_size


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("archive", nargs="+", metavar="ARCHIVE",
                   help="folders to search for videos and image folders (or video files)")
    p.add_argument("--db", required=True, metavar="RESULTS",
                   help="results database (SQLite; created if missing, resumed if it exists)")
    p.add_argument("--model", help="model name or .safetensors path (default: the bundled default)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (per worker)")
    p.add_argument("--size", type=analysis_size, dest="input_size", metavar="PX|PROFILE",
                   help="analysis size in pixels, or 'accurate' / 'fast' (default: the model's own)")
    p.add_argument("--threshold", type=float, help="mask threshold (default: the model's)")
    from ..engine.runtime import views

    p.add_argument("--tta", default=views.AUTO, choices=views.CHOICES,
                   metavar="VIEWS", help="test-time views: auto (the default, as in the app: 4 "
                   "flips for folders of stills, one view for video), off, hflip or flips")
    p.add_argument("--workers", type=int, metavar="N",
                   help="Ray workers, one model each (default: cluster CPUs / --cpus-per-worker); "
                        "0 = analyse in this process without Ray")
    p.add_argument("--cpus-per-worker", type=float, default=2.0, help="CPUs each worker declares (default 2)")
    p.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs each worker declares (default 0)")
    p.add_argument("--address", help="join a Ray cluster (ray://HOST:PORT or HOST:PORT; default "
                                     "RAY_ADDRESS, else a local Ray instance)")
    p.add_argument("--no-maps", action="store_true",
                   help="keep only the database, not the per-frame maps the app opens without "
                        "re-analysis (about 5 kB per frame)")
    p.add_argument("--cache-dir", help="analysis cache folder (default: the app's user cache; on a "
                                       "cluster, a folder every node and the app can reach)")
    p.add_argument("--retry-failed", action="store_true", help="analyse failed and partial procedures again")


def run(args: argparse.Namespace) -> int:
    from ..archive.runner import BatchOptions, run_batch

    opts = BatchOptions(roots=tuple(args.archive), database=args.db, model=args.model,
                        device=args.device, input_size=args.input_size, threshold=args.threshold,
                        tta=args.tta,
                        workers=args.workers, cpus_per_worker=args.cpus_per_worker,
                        gpus_per_worker=args.gpus_per_worker, address=args.address,
                        keep_maps=not args.no_maps, cache_dir=args.cache_dir,
                        retry_failed=args.retry_failed)
    rep = run_batch(opts)
    print(f"{rep.found} procedure(s) found, {rep.skipped} already in {args.db}, {rep.recorded} "
          f"recorded ({rep.failed} failed), {rep.frames} frames in {rep.seconds:.1f} s")
    for path, err in rep.errors:
        print(f"{PROG}: failed: {path}: {err}", file=sys.stderr)
    if rep.interrupted:
        print(f"{PROG}: interrupted: finished procedures are recorded; run the same command to "
              f"continue", file=sys.stderr)
        return 130
    return 3 if rep.failed else 0
