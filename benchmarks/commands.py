"""The ``deepproduct bench`` command, registered in ``setup.py``'s ``deepproduct.commands``
entry-point group (see ``mobile_sdk.cli``). Imports no benchmark module until it runs.
"""

from __future__ import annotations

import argparse

from mobile_sdk.command import Command
from mobile_sdk.errors import DeepProductError


class MissingModelsError(DeepProductError):
    """A bench subcommand was given no model to benchmark."""


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers like 1,2,4, got {text!r}")
    return values


def _add_bench(p: argparse.ArgumentParser) -> None:
    bench = p.add_subparsers(dest="bench_command", required=True, metavar="BENCHMARK")

    def models(q: argparse.ArgumentParser, what: str) -> None:
        q.add_argument("--model", action="append", default=[], help=f"{what} (repeat for several)")
        q.add_argument("--dist", help="also every .tflite/.onnx in this export folder")

    def timing(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--threads", type=_int_list, default=[1, 2, 4], help="thread counts (default: 1,2,4)"
        )
        q.add_argument("--runs", type=int, default=50, help="timed runs (default: %(default)s)")
        q.add_argument("--warmup", type=int, default=10, help="warm-up runs (default: %(default)s)")

    q = bench.add_parser(
        "latency",
        help="every model side by side on this machine: p50/p90/p99, peak memory",
        description="Time exported models, checkpoints and 'pretrained' at each thread "
        "count, interleaved; check the int8 targets; time photo -> top-5 end to end.",
    )
    models(q, "a .tflite/.onnx export, a .pt checkpoint, or 'pretrained'")
    timing(q)
    q.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    q.add_argument(
        "--end-to-end",
        metavar="MODEL",
        help="model for the end-to-end timing (default: the first .tflite given); 'none' to skip",
    )
    q.add_argument(
        "--index-size", type=int, default=100_000, help="end-to-end index rows (default: 100000)"
    )
    q.add_argument(
        "--end-to-end-approx",
        action="store_true",
        help="also time the end-to-end search through an HNSW index (approx extra)",
    )
    q.add_argument("--data", help="dataset root whose photos become the query frames")
    q.add_argument("--json", help="write the report (JSON) here")
    q.add_argument("--quiet", action="store_true", help="no progress bars")

    q = bench.add_parser(
        "device",
        help="latency on a phone or emulator through adb",
        description="Run TFLite's benchmark_model (your build; nothing is downloaded) on "
        "the device at each thread count with XNNPACK on and off, or pull the demo "
        "app's benchmark.json (--from-app).",
    )
    q.add_argument(
        "--adb",
        nargs="?",
        const="adb",
        default="adb",
        metavar="ADB",
        help="run through adb (default: 'adb' on PATH; give a path for another one)",
    )
    q.add_argument("--serial", help="device serial (adb -s), e.g. emulator-5554")
    source = q.add_mutually_exclusive_group(required=True)
    source.add_argument("--benchmark-binary", help="benchmark_model built for the device")
    source.add_argument(
        "--from-app", action="store_true", help="pull the android_demo benchmark.json instead"
    )
    q.add_argument("--package", default="com.deepproduct.demo", help="the app's package")
    models(q, "a .tflite model")
    timing(q)
    q.add_argument(
        "--xnnpack",
        choices=("both", "on", "off"),
        default="both",
        help="XNNPACK delegate settings to run (default: both)",
    )
    q.add_argument("--raw-dir", help="keep benchmark_model's console output here")
    q.add_argument("--json", help="write the report (JSON) here")
    q.add_argument("--quiet", action="store_true", help="no progress bar")

    q = bench.add_parser(
        "accuracy",
        help="top-1/top-5/mAP of every variant and the un-tuned baseline",
        description="Retrieval accuracy, size and single-thread latency of each model.",
    )
    q.add_argument("--data", required=True, help="dataset root with catalog/ and photos/")
    models(q, "a .tflite/.onnx export or a .pt checkpoint")
    q.add_argument("--no-baseline", action="store_true", help="skip the pretrained baseline")
    q.add_argument("--latency-json", help="take latency from this 'bench latency --json' report")
    q.add_argument(
        "--latency-runs",
        type=int,
        default=20,
        help="without --latency-json: single-thread runs per model (0: no latency)",
    )
    q.add_argument("--json", help="write the report (JSON) here")
    q.add_argument("--quiet", action="store_true", help="no progress bars")

    q = bench.add_parser(
        "report",
        help="run latency + accuracy and write the Markdown report with plots",
        description="Everything 'make bench' does: latency of every export (and the "
        "checkpoint), end to end, accuracy, plots, into --out.",
    )
    q.add_argument("--dist", required=True, help="export folder (dist/)")
    q.add_argument("--checkpoint", help="the model.pt the export came from")
    q.add_argument("--data", help="dataset root for accuracy and example queries")
    q.add_argument(
        "--out", default="benchmarks/report", help="report folder (default: %(default)s)"
    )
    timing(q)
    q.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    q.add_argument("--index-size", type=int, default=100_000, help="end-to-end index rows")
    q.add_argument(
        "--device-json",
        action="append",
        default=[],
        help="include a 'bench device --json' report (repeatable)",
    )
    q.add_argument("--quiet", action="store_true", help="no progress bars")


# Environment variables 'deepproduct bench' sets to one BLAS thread before numpy loads:
# the index search is timed on one thread as the app runs it, and idle BLAS threads
# would spin against the runtimes' own pools.
BENCH_BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _run_bench(args: argparse.Namespace) -> int:
    import os

    for var in BENCH_BLAS_THREAD_VARS:
        os.environ.setdefault(var, "1")
    run = {
        "latency": _bench_latency,
        "device": _bench_device,
        "accuracy": _bench_accuracy,
        "report": _bench_report,
    }[args.bench_command]
    return run(args)


def _bench_models(args: argparse.Namespace) -> list[str]:
    from benchmarks.variants import dist_models

    return list(args.model) + ([str(m) for m in dist_models(args.dist)] if args.dist else [])


def _saved(report, path: str | None) -> str:
    if not path:
        return ""
    report.save(path)
    return f"; wrote {path}"


def _bench_latency(args: argparse.Namespace) -> int:
    from benchmarks.latency import run_latency
    from benchmarks.report import end_to_end_table, latency_table

    models = _bench_models(args)
    if not models:
        raise MissingModelsError("give --model and/or --dist")
    e2e = args.end_to_end or next((m for m in models if m.endswith(".tflite")), None)
    report = run_latency(
        models,
        args.threads,
        args.runs,
        args.warmup,
        memory=not args.no_memory,
        end_to_end_model=None if e2e == "none" else e2e,
        index_size=args.index_size,
        data=args.data,
        progress=not args.quiet,
        approx=args.end_to_end_approx,
    )
    print(latency_table(report))
    if end_to_end_table(report):
        print(end_to_end_table(report))
    for check in report.targets:
        print(check.sentence())
    met = sum(c.met is True for c in report.targets)
    print(
        f"timed {len(models)} models at {','.join(map(str, args.threads))} thread(s), "
        f"latency targets met: {met}/{len(report.targets)}{_saved(report, args.json)}"
    )
    return 0


def _bench_device(args: argparse.Namespace) -> int:
    from benchmarks.device import Adb, from_app, run_benchmark_model
    from benchmarks.report import device_table

    adb = Adb(args.adb, args.serial)
    if args.from_app:
        report = from_app(adb, args.package)
    else:
        tflite = [m for m in _bench_models(args) if m.endswith(".tflite")]
        if not tflite:
            raise MissingModelsError("give the .tflite models: --model and/or --dist")
        xnnpack = {"both": (True, False), "on": (True,), "off": (False,)}[args.xnnpack]
        report = run_benchmark_model(
            adb,
            args.benchmark_binary,
            tflite,
            args.threads,
            xnnpack,
            args.runs,
            args.warmup,
            args.raw_dir,
            progress=not args.quiet,
        )
    print(device_table(report))
    device = report.machine.get("device", "the device")
    print(
        f"{len(report.results)} timings from {device} ({report.source}){_saved(report, args.json)}"
    )
    return 0


def _bench_accuracy(args: argparse.Namespace) -> int:
    from benchmarks.accuracy import run_accuracy
    from benchmarks.report import accuracy_table
    from benchmarks.schema import LatencyReport

    models = _bench_models(args)
    if not models and args.no_baseline:
        raise MissingModelsError("give --model and/or --dist, or drop --no-baseline")
    report = run_accuracy(
        models,
        args.data,
        baseline=not args.no_baseline,
        latency=LatencyReport.load(args.latency_json) if args.latency_json else None,
        latency_runs=args.latency_runs,
        progress=not args.quiet,
    )
    print(accuracy_table(report))
    print(f"evaluated {len(report.rows)} models on {args.data}{_saved(report, args.json)}")
    return 0


def _bench_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from benchmarks.report import build_report
    from benchmarks.schema import LatencyReport

    path, latency, accuracy = build_report(
        args.dist,
        args.data,
        args.checkpoint,
        args.out,
        args.threads,
        args.runs,
        args.warmup,
        memory=not args.no_memory,
        index_size=args.index_size,
        devices=[LatencyReport.load(f) for f in args.device_json],
        progress=not args.quiet,
    )
    met = sum(c.met is True for c in latency.targets)
    plots = len(list(Path(args.out).glob("*.png")))
    print(
        f"wrote {path} and {plots} plots: {len(latency.results)} timings, "
        f"{len(accuracy.rows) if accuracy else 0} accuracy rows, "
        f"latency targets met: {met}/{len(latency.targets)}"
    )
    return 0


BENCH = Command(
    "bench",
    "benchmarks: latency, device, accuracy, and the full report",
    _add_bench,
    _run_bench,
    description="Latency (this machine, or a phone/emulator through adb), retrieval "
    "accuracy, and the Markdown report with plots (benchmarks/report/).",
    extra="bench",
)
