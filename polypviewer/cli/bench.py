"""``polypviewer bench``: how fast is analysis here, and how much does the pipeline buy?

On the same frames and model it times (a) the naive loop of the seed papers (read, preprocess,
eager fp32 PyTorch on one frame, threshold, draw, next) and (b) the PolypViewer pipeline
(overlapping stages, best backend, same overlay), then the model alone at several batch sizes.
Figures depend on the machine and its load, so the CPU, threads and load average are recorded.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from pathlib import Path

from .common import PROG, add_model_arguments, make_predictor, positive_int

DEFAULT_FRAMES = 100
DEFAULT_BATCHES = "1,4,8,16"
DEFAULT_ROUNDS = 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", nargs="?", metavar="VIDEO|FOLDER",
                   help="video or folder of images (default: the bundled demo clip)")
    add_model_arguments(p, threshold=False, tta=False)
    p.add_argument("--backend", choices=("auto", "torch", "onnx", "onnx-int8"), default="auto",
                   help="pipeline backend: auto = ONNX Runtime on CPU, PyTorch on GPU (default %(default)s)")
    p.add_argument("--frames", type=positive_int, default=DEFAULT_FRAMES, metavar="N",
                   help="frames to analyse in each mode (default %(default)s)")
    p.add_argument("--rounds", type=positive_int, default=DEFAULT_ROUNDS, metavar="R",
                   help="time naive and pipeline R times each, alternating which goes first, and "
                        "report medians: a shared machine's speed drifts within a minute, so "
                        "back-to-back pairs compare fairly (default %(default)s)")
    p.add_argument("--loop", type=positive_int, default=1, metavar="K",
                   help="play the input K times in a row, for runs longer than a short clip "
                        "(a GPU gets through the demo clip in under a second; default 1)")
    p.add_argument("--batch-size", type=positive_int, metavar="N",
                   help="pipeline batch size (default: 2 on CPU, from free memory on GPU)")
    p.add_argument("--model-only-batches", default=DEFAULT_BATCHES, metavar="LIST",
                   help="batch sizes for the model-only figures, '' to skip (default %(default)s)")
    p.add_argument("--int8", action="store_true",
                   help="also time the int8-quantised ONNX model (CPU) and report its Dice vs fp32")
    p.add_argument("--workers", type=positive_int, metavar="N",
                   help="threads for preprocessing, post-processing and drawing (default: 1 on CPU, 6 with a GPU)")
    p.add_argument("--compile", action="store_true", help="torch.compile the PyTorch model (GPU)")
    p.add_argument("--no-cuda-graphs", action="store_true",
                   help="launch the GPU model's kernels one by one instead of replaying a CUDA graph")
    p.add_argument("--json", metavar="OUT", help="also write all figures to this JSON file")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def rss_mb() -> float:
    """Current resident memory (Linux); peak comes from getrusage."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 2**20 if platform.system() == "Darwin" else kb / 1024


def default_input() -> Path:
    from .. import paths
    from ..engine.errors import MediaError

    demo = paths.resources_dir() / "samples" / "demo.mp4"
    if not demo.is_file():
        raise MediaError(f"no input given and the bundled demo clip is missing ({demo}); "
                         f"run '{PROG} bench VIDEO' or '{PROG} bench FOLDER'")
    return demo


def looped(path: Path, loops: int):
    """The input's frames ``loops`` times in a row, numbered on (decoded afresh each time)."""
    import dataclasses

    from ..engine.media.sources import open_source

    k = 0
    for _ in range(loops):
        with open_source(path) as src:
            for frame in src:
                yield dataclasses.replace(frame, index=k)
                k += 1


def naive_loop(path: Path, n: int, loaded_net, predictor, draw, loops: int = 1):
    """The seed papers' loop: one frame at a time, eager fp32, contiguous layout."""
    import numpy as np
    import torch

    from ..engine.runtime.inference import from_probability
    from ..engine.runtime.pipeline import StageTimes
    from ..engine.runtime.preprocess import normalise, prepare, unletterbox

    cfg, dev, stats, masks = predictor.config, predictor.device, StageTimes(), []
    with torch.no_grad():
        it = looped(path, loops)
        t0 = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            frame = next(it, None)
            if frame is None:
                break
            t1 = time.perf_counter()
            img, box = prepare(frame.rgb, cfg)
            x = normalise(img, cfg).to(dev)
            t2 = time.perf_counter()
            out = loaded_net(x)
            m, c = out if isinstance(out, tuple) else (out, None)
            prob = torch.sigmoid(m)[0, 0].cpu().numpy()
            fp = float(torch.sigmoid(c)[0, 0]) if c is not None else float(prob.max())
            t3 = time.perf_counter()
            pred = from_probability(np.ascontiguousarray(unletterbox(prob, box)), fp,
                                    predictor.threshold, predictor.min_area_fraction)
            t4 = time.perf_counter()
            draw(frame.rgb, pred)
            t5 = time.perf_counter()
            for k, a, b in (("decode", t, t1), ("preprocess", t1, t2), ("inference", t2, t3),
                            ("postprocess", t3, t4), ("render", t4, t5)):
                stats.add(k, b - a)
            stats.frames += 1
            masks.append(np.packbits(pred.mask))
        stats.wall_s = time.perf_counter() - t0
    return stats, masks


def median(values: list[float]) -> float:
    import statistics

    return round(statistics.median(values), 3)


def merge_into(total, part) -> None:
    """Add one run's stage seconds, frames and wall time to a running total (a StageTimes)."""
    for k, v in part.seconds.items():
        total.add(k, v)
    total.frames += part.frames
    total.wall_s += part.wall_s
    total.batches += part.batches
    for k, v in part.queue_peak.items():
        total.queue_peak[k] = max(total.queue_peak.get(k, 0), v)
    total.queue_capacity.update(part.queue_capacity)


def model_only(backend, size: int, batches: list[int], budget_s: float = 2.0,
               lanes: int = 1) -> dict[str, float]:
    """Frames/s of ``backend.forward`` alone (one warm-up call, then up to ``budget_s``).

    ``lanes`` > 1: that many threads call ``forward(..., lane=True)`` at once, as the pipeline does.
    """
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    out = {}
    rng = np.random.default_rng(0)

    def call(x) -> None:
        backend.forward(x, lane=lanes > 1)

    def timed(x) -> int:
        calls, t0 = 0, time.perf_counter()
        while calls < 1 or (time.perf_counter() - t0 < budget_s and calls < 50):
            call(x)
            calls += 1
        return calls

    for bs in batches:
        x = rng.integers(0, 255, (bs, size, size, 3), dtype=np.uint8)
        call(x)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(lanes) as pool:
            calls = sum(pool.map(timed, [x] * lanes))
        out[str(bs)] = round(bs * calls / (time.perf_counter() - t0), 2)
    return out


def _batches(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--model-only-batches: '{text}' is not a list of numbers") from None


def run(args: argparse.Namespace) -> int:
    import copy

    import numpy as np
    import torch

    from ..engine.export.overlay import draw_overlay
    from ..engine.media.sources import open_source
    from ..engine.metrics import mask_dice
    from ..engine.models.device import physical_cores
    from ..engine.runtime.backends import TorchBackend, make_backend, suggest_batch_size
    from ..engine.runtime.pipeline import AnalysisOptions, StageTimes, analyse, default_workers

    path = Path(args.input) if args.input else default_input()
    batches = _batches(args.model_only_batches)
    with open_source(path) as src:
        n = min(args.frames, len(src) * args.loop)
        kind, first = src.kind, src[0].rgb.shape
    predictor = make_predictor(args)
    size = predictor.config.input_size

    def draw(rgb, pred):
        return draw_overlay(rgb, pred)

    # (a) naive: its own copy of the network, fp32, default (contiguous) memory layout
    net = copy.deepcopy(predictor.net).float().to(memory_format=torch.contiguous_format).eval()
    with torch.no_grad():
        from ..engine.runtime.preprocess import normalise
        net(normalise(np.zeros((size, size, 3), np.uint8), predictor.config).to(predictor.device))
    rss0 = rss_mb()

    # (b) pipeline with the best backend (export/compile/warm-up not timed, reported apart)
    t = time.perf_counter()
    backend = make_backend(predictor, args.backend, compile=args.compile,
                           cuda_graphs=not args.no_cuda_graphs)
    setup_s = time.perf_counter() - t
    bs = args.batch_size or suggest_batch_size(backend)
    backend.batch_size = bs
    workers = args.workers or default_workers(backend)
    for _ in range(2):  # warm-up at the shape the pipeline will use (cuDNN tunes per shape)
        backend.forward(np.zeros((bs, size, size, 3), np.uint8))
    rss1 = rss_mb()

    def pipeline_run():
        stats, masks = StageTimes(), []
        options = AnalysisOptions(batch_size=bs, stop=n, workers=workers,
                                  parallel_render=workers > 1)
        for _, pred in analyse(looped(path, args.loop), backend, options,
                               render=lambda f, p: draw(f.rgb, p), stats=stats):
            masks.append(np.packbits(pred.mask))
        return stats, masks

    rounds, naive_all, pipe_all = [], StageTimes(), StageTimes()
    same = dice_sum = compared = 0
    for r in range(args.rounds):  # pairs back to back, the order alternating against drift
        got = {}
        for mode in (("naive", "pipeline") if r % 2 == 0 else ("pipeline", "naive")):
            got[mode] = (naive_loop(path, n, net, predictor, draw, args.loop) if mode == "naive"
                         else pipeline_run())
        (naive, naive_masks), (stats, pipe_masks) = got["naive"], got["pipeline"]
        merge_into(naive_all, naive)
        merge_into(pipe_all, stats)
        for a, b in zip(naive_masks, pipe_masks):
            dice = mask_dice(np.unpackbits(a).astype(bool), np.unpackbits(b).astype(bool))
            same, dice_sum, compared = same + (a == b).all(), dice_sum + dice, compared + 1
        rounds.append({"first": "naive" if r % 2 == 0 else "pipeline", "frames": stats.frames,
                       "naive_fps": round(naive.fps, 3), "pipeline_fps": round(stats.fps, 3),
                       "speedup": round(stats.fps / naive.fps, 3) if naive.fps else None})
    del net
    peak_analysis = peak_rss_mb()
    done = max(1, compared)
    ratios = [x["speedup"] for x in rounds if x["speedup"]]

    mo, report_int8 = {}, getattr(backend, "dice_vs_fp32", None)
    if batches:
        mo["torch"] = model_only(backend if backend.kind == "torch" else TorchBackend(predictor),
                                 size, batches)
        onnx = backend if backend.kind.startswith("onnx") else None
        if onnx is None and predictor.device.type == "cpu":
            try:
                onnx = make_backend(predictor, "onnx")
            except Exception:  # noqa: BLE001 - figures only for what runs here
                onnx = None
        if onnx is not None and onnx.kind.startswith("onnx"):
            mo[onnx.kind] = model_only(onnx, size, batches)
            if onnx.lanes > 1:  # how the pipeline calls it
                mo[f"{onnx.kind} x{onnx.lanes} lanes"] = model_only(onnx, size, batches, lanes=onnx.lanes)
        if args.int8 and "onnx-int8" not in mo and predictor.device.type == "cpu":
            from ..engine.runtime.backends.onnx_backend import OnnxBackend

            try:  # timed whatever its agreement (the app refuses int8 below MIN_INT8_DICE)
                int8 = OnnxBackend(predictor, quantize=True, min_dice=0.0)
                mo["onnx-int8"] = model_only(int8, size, batches)
                report_int8 = int8.dice_vs_fp32
            except Exception as e:  # noqa: BLE001 - figures only for what runs here
                print(f"int8 not timed: {e}")

    report = {
        "input": str(path), "input_kind": kind, "loops": args.loop, "frame_shape": list(first),
        "frames": stats.frames,
        "model": predictor.name, "input_size": size,
        "model_parameters": int(sum(p.numel() for p in predictor.net.parameters())),
        "device": predictor.device_note, "backend": backend.kind, "backend_note": backend.note,
        "backend_setup_s": round(setup_s, 2), "batch_size": backend.batch_size,
        "cpu_workers": workers, "lanes": getattr(backend, "lanes", 1),
        "naive_fps": median([x["naive_fps"] for x in rounds]),
        "pipeline_fps": median([x["pipeline_fps"] for x in rounds]),
        "speedup": median(ratios) if ratios else None,
        "speedup_range": [min(ratios), max(ratios)] if ratios else None, "rounds": rounds,
        "naive_stage_ms_per_frame": {k: round(v, 2) for k, v in naive_all.per_frame_ms().items()},
        "pipeline_stage_ms_per_frame": {k: round(v, 2) for k, v in pipe_all.per_frame_ms().items()},
        "pipeline": pipe_all.as_dict(),
        "masks_identical_fraction": round(same / done, 4), "mask_dice_vs_naive": round(dice_sum / done, 4),
        "rss_mb_before_naive": round(rss0, 1), "rss_mb_before_pipeline": round(rss1, 1),
        "rss_mb_end": round(rss_mb(), 1), "peak_rss_mb": round(peak_rss_mb(), 1),
        "peak_rss_mb_analysis": round(peak_analysis, 1),
        "cpu": cpu_model(), "cpu_count": os.cpu_count(), "physical_cores": physical_cores(),
        "torch_threads": torch.get_num_threads(), "torch_version": torch.__version__,
        "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "model_only": mo, "int8_dice_vs_fp32": report_int8,
    }
    print(format_report(report))
    if args.json:
        from ..engine import fsutil

        fsutil.write_json(args.json, report)
        print(f"figures written to {args.json}")
    return 0


def format_report(r: dict) -> str:
    loops = f", played {r['loops']} times" if r.get("loops", 1) > 1 else ""
    lines = [f"{PROG} bench: {r['frames']} frames of {Path(r['input']).name}{loops} "
             f"({r['frame_shape'][1]}x{r['frame_shape'][0]}), model {r['model']} at {r['input_size']}px",
             f"CPU {r['cpu']} ({r['physical_cores']} cores, torch {r['torch_threads']} threads, "
             f"load {r['load_average']}); device {r['device']}",
             f"pipeline backend: {r['backend_note']}, batch {r['batch_size']}, "
             f"{r.get('lanes', 1)} model call(s) at once, {r.get('cpu_workers', 1)} thread(s) per CPU stage", "",
             f"{'stage (ms/frame)':<18}{'naive':>10}{'pipeline':>10}"]
    for k in ("decode", "preprocess", "inference", "postprocess", "render"):
        lines.append(f"{k:<18}{r['naive_stage_ms_per_frame'][k]:>10.1f}"
                     f"{r['pipeline_stage_ms_per_frame'][k]:>10.1f}")
    lines.append(f"{'frames/s':<18}{r['naive_fps']:>10.2f}{r['pipeline_fps']:>10.2f}")
    if len(r.get("rounds", [])) > 1:
        lo, hi = r["speedup_range"]
        lines.append(f"(medians of {len(r['rounds'])} rounds, naive and pipeline back to back: "
                     + ", ".join(f"{x['naive_fps']:.1f}/{x['pipeline_fps']:.1f}" for x in r["rounds"])
                     + f" f/s; speedup {lo}-{hi}x)")
    lines += [f"speedup {r['speedup']}x; masks identical to naive on "
              f"{100 * r['masks_identical_fraction']:.0f}% of frames (mean Dice {r['mask_dice_vs_naive']:.4f})",
              f"memory: peak RSS {r['peak_rss_mb_analysis']:.0f} MB during analysis, "
              f"{r['peak_rss_mb']:.0f} MB with the model-only runs (model loaded: "
              f"{r['rss_mb_before_pipeline']:.0f} MB)"]
    if r["model_only"]:
        sizes = list(next(iter(r["model_only"].values())))
        lines += ["", f"{'model only (frames/s)':<22}" + "".join(f"{'batch ' + s:>10}" for s in sizes)]
        for name, figs in r["model_only"].items():
            lines.append(f"{name:<22}" + "".join(f"{figs[s]:>10.2f}" for s in sizes))
    return "\n".join(lines)

