"""The benchmark report: Markdown tables, PNG plots and the JSON they come from.

``build_report`` runs the host latency and accuracy benchmarks and writes, into one
folder (``benchmarks/report/`` by default, not committed):

- ``report.md``: machine, latency targets, latency per variant and thread count,
  end-to-end search, device reports given to it, accuracy with size and latency;
- ``latency.png``: median latency per variant and thread count (whiskers to p90);
- ``end_to_end.png``: where the time of one search goes, per thread count;
- ``accuracy_vs_size.png``: top-1 / top-5 against model size;
- ``examples.png``: example queries with their top-5 products, the correct one outlined;
- ``latency.json``, ``accuracy.json``, ``device_*.json``: the numbers.

``write_report`` writes the same from reports computed earlier (``deepproduct bench
latency/accuracy/device --json``).
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.accuracy import AccuracyReport
from benchmarks.machine import describe_machine, machine_markdown
from benchmarks.schema import LatencyReport
from mobile_sdk.atomic_file import atomic_path, write_text_atomic
from mobile_sdk.errors import DeepProductError

REPORT = "report.md"
DEFAULT_OUT = "benchmarks/report"


class ReportError(DeepProductError):
    """The report cannot be written (matplotlib missing, bad output folder)."""


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ModuleNotFoundError:
        raise ReportError("plots need matplotlib: pip install 'deepproduct[bench]'") from None
    return plt


def _f(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _save(fig, path: Path, dpi: int = 120) -> None:
    """Write a figure as PNG atomically and free it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    fig.clf()
    _pyplot().close(fig)


# ------------------------------------------------------------------------------ tables


def latency_table(report: LatencyReport) -> str:
    """Model-stage rows of a host report, grouped by thread count, with the ratio to
    PyTorch eager (the first ``.pt`` result) at the same thread count."""
    rows = [r for r in report.results if r.stage == "model"]
    torch = {r.threads: r.typical_ms for r in rows if r.name.endswith(".pt") and r.typical_ms}
    head = (
        "| model | runtime | precision | threads | p50 ms | p90 ms | p99 ms | vs PyTorch eager "
        "| peak RSS MB | model adds MB | load ms |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in sorted(rows, key=lambda r: r.threads or 0):
        ref = torch.get(r.threads)
        ratio = f"{r.typical_ms / ref:.2f}x" if ref and r.typical_ms else "—"
        lines.append(
            f"| {r.name} | {r.runtime} | {r.precision or '—'} | {r.threads} | {_f(r.p50_ms)} "
            f"| {_f(r.p90_ms)} | {_f(r.p99_ms)} | {ratio} | {_f(r.peak_memory_mb, 0)} "
            f"| {_f(r.memory_delta_mb, 0)} | {_f(r.init_ms, 0)} |"
        )
    return "\n".join(lines)


def end_to_end_table(report: LatencyReport) -> str:
    """The pipeline stages, one row per (stage, threads)."""
    rows = [r for r in report.results if r.stage != "model"]
    if not rows:
        return ""
    lines = [
        "| stage | what | threads | p50 ms | p90 ms | p99 ms | note |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in sorted(rows, key=lambda r: r.threads or 0):
        note = r.note if r.stage == "end-to-end" else ""
        lines.append(
            f"| {r.stage} | {r.name} | {r.threads} | {_f(r.p50_ms)} | {_f(r.p90_ms)} "
            f"| {_f(r.p99_ms)} | {note} |"
        )
    return "\n".join(lines)


def device_table(report: LatencyReport) -> str:
    """Any report's rows, with the columns devices fill (mean, min/max, XNNPACK)."""
    lines = [
        "| what | stage | runtime | threads | XNNPACK | mean ms | p50 ms | p90 ms | min ms "
        "| max ms | init ms | memory MB |",
        "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report.results:
        xnn = "—" if r.xnnpack is None else ("on" if r.xnnpack else "off")
        mem = r.peak_memory_mb if r.peak_memory_mb is not None else r.memory_delta_mb
        lines.append(
            f"| {r.name} | {r.stage} | {r.runtime} | {r.threads or '—'} | {xnn} "
            f"| {_f(r.mean_ms)} | {_f(r.p50_ms)} | {_f(r.p90_ms)} | {_f(r.min_ms)} "
            f"| {_f(r.max_ms)} | {_f(r.init_ms, 1)} | {_f(mem, 1)} |"
        )
    return "\n".join(lines)


def accuracy_table(report: AccuracyReport) -> str:
    """One row per variant: precision, size, top-1/top-5/mAP, single-thread latency."""
    lines = [
        "| model | runtime | precision | size MB | top-1 | top-5 | mAP "
        "| latency ms (1 thread, p50) |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in report.rows:
        size = f"{r.size_mb:.2f}" + (" (fp32 params)" if r.size_note != "file" else "")
        lines.append(
            f"| {r.name} | {r.runtime} | {r.precision} | {size} | {r.top1:.3f} | {r.top5:.3f} "
            f"| {r.map:.3f} | {_f(r.latency_ms)} |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------- plots


def plot_latency(report: LatencyReport, path: Path) -> None:
    """Grouped bars: median per variant, one bar per thread count, whisker to p90."""
    plt = _pyplot()
    rows = [r for r in report.results if r.stage == "model" and r.p50_ms is not None]
    names = list(dict.fromkeys(r.name for r in rows))
    threads = sorted({r.threads for r in rows})
    by = {(r.name, r.threads): r for r in rows}
    width = 0.8 / max(len(threads), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.5 * len(names)), 4))
    for i, t in enumerate(threads):
        xs, p50, err = [], [], []
        for j, n in enumerate(names):
            r = by.get((n, t))
            if r is None:
                continue
            xs.append(j + (i - (len(threads) - 1) / 2) * width)
            p50.append(r.p50_ms)
            err.append(max((r.p90_ms or r.p50_ms) - r.p50_ms, 0))
        bars = ax.bar(xs, p50, width, yerr=[[0] * len(err), err], capsize=2, label=f"{t} thread(s)")
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylabel("ms per image (median; whisker: p90)")
    ax.set_title("Model latency on this machine")
    ax.legend()
    fig.tight_layout()
    _save(fig, path, dpi=120)


def plot_end_to_end(report: LatencyReport, path: Path) -> bool:
    """Stacked medians of decode / preprocess / embed / search per thread count."""
    stages = ("decode", "preprocess", "embed", "search")
    rows: dict = {}
    for r in report.results:
        if r.stage in stages:  # the first frame size (the camera frame)
            rows.setdefault((r.stage, r.threads), r)
    if not rows:
        return False
    plt = _pyplot()
    threads = sorted({t for _, t in rows})
    fig, ax = plt.subplots(figsize=(6.5, 4))
    bottom = [0.0] * len(threads)
    for stage in stages:
        values = [rows[stage, t].p50_ms if (stage, t) in rows else 0.0 for t in threads]
        label = next((r.name for (s, _), r in rows.items() if s == stage), stage)
        ax.barh([str(t) for t in threads], values, left=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xlabel("ms (median of each stage)")
    ax.set_ylabel("threads")
    ax.set_title("One search, photo to top-5")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    fig.tight_layout()
    _save(fig, path, dpi=120)
    return True


def plot_accuracy_vs_size(report: AccuracyReport, path: Path) -> None:
    """Top-1 (filled) and top-5 (hollow) against size, one colour per variant."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for r in report.rows:
        (dot,) = ax.plot(r.size_mb, r.top1, "o", label=f"{r.name} ({r.precision})")
        ax.plot(r.size_mb, r.top5, "o", mfc="none", color=dot.get_color())
    ax.set_xlabel("size (MB)")
    ax.set_ylabel("retrieval accuracy")
    ax.set_title(f"Accuracy vs size (filled: top-1, hollow: top-5)\n{report.data}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    _save(fig, path, dpi=120)


def plot_examples(report: AccuracyReport, path: Path, thumb: int = 128) -> bool:
    """Grid: each row a query photo and its top-5 catalog images; the right product
    outlined in green, the others in grey."""
    if not report.examples:
        return False
    from PIL import Image, ImageOps

    plt = _pyplot()
    n = len(report.examples)
    cols = 1 + max(len(e.top) for e in report.examples)
    fig, axes = plt.subplots(n, cols, figsize=(cols * 1.6, n * 1.75), squeeze=False)
    for row, ex in zip(axes, report.examples, strict=True):
        cells = [(ex.photo, f"query\n{_short(ex.product_id)}", None)]
        cells += [
            (report.catalog.get(pid), f"{rank}. {_short(pid)}\n{score:.3f}", pid == ex.product_id)
            for rank, (pid, score) in enumerate(ex.top, 1)
        ]
        for ax, (image, title, correct) in zip(row, cells, strict=False):
            ax.set_xticks([])
            ax.set_yticks([])
            if image:
                with Image.open(image) as im:
                    ax.imshow(
                        ImageOps.pad(im.convert("RGB"), (thumb, thumb), color=(255, 255, 255))
                    )
            ax.set_title(title, fontsize=6)
            color, lw = ("#1a9e3a", 4) if correct else ("#999999", 0.5)
            if correct is None:
                color, lw = "#1f4e9e", 1.5
            for spine in ax.spines.values():
                spine.set_edgecolor(color)
                spine.set_linewidth(lw)
        for ax in row[len(cells) :]:
            ax.axis("off")
    fig.suptitle(
        f"{report.example_model}: example queries, top-5 (correct product outlined)", fontsize=9
    )
    fig.tight_layout()
    _save(fig, path, dpi=110)
    return True


def _short(text: str, width: int = 22) -> str:
    return textwrap.shorten(text.replace("-", " "), width, placeholder="…")


# ------------------------------------------------------------------------------ report


def write_report(
    out: str | os.PathLike,
    latency: LatencyReport | None = None,
    accuracy: AccuracyReport | None = None,
    devices: Sequence[LatencyReport] = (),
) -> Path:
    """Write ``report.md``, the plots and the JSON reports into ``out``.

    Returns:
        The path of ``report.md``.

    Raises:
        ReportError: matplotlib is missing.
        OutputError: ``out`` cannot be written.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    machine = latency.machine if latency is not None else describe_machine()
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    md = [
        f"# DeepProduct benchmark report\n\n{now}\n",
        "## Machine\n",
        machine_markdown(machine),
        "",
    ]
    if latency is not None:
        latency.save(out / "latency.json")
        s = latency.settings
        md += ["## Latency targets (single thread, this machine)\n"]
        md += [f"- {c.sentence()}" for c in latency.targets] + [""]
        md += [
            "## Model latency\n",
            f"One preprocessed input (from the {s.get('frame', 'frame')}), "
            f"{s.get('warmup')} warm-up runs, then "
            f"{s.get('runs')} timed runs per model and thread count, interleaved in blocks of "
            f"{s.get('interleaved_block')} so that all models see the same machine state. "
            "Times are wall clock; percentiles are nearest-rank. `peak RSS`: a fresh process "
            "that imports the runtime, loads only this model and runs it; `model adds`: that "
            "peak minus the process before loading. Thread counts above the usable cores "
            "oversubscribe the CPU.\n",
            latency_table(latency),
            "",
            "![latency](latency.png)\n",
        ]
        plot_latency(latency, out / "latency.png")
        table = end_to_end_table(latency)
        if table:
            md += [
                "## End to end: photo to top-5 products\n",
                f"A camera frame ({s.get('frame', 'JPEG')}) held as bytes in memory is "
                "decoded, preprocessed, embedded with "
                f"`{Path(s.get('end_to_end_model') or '').name}` and searched in an int8 index "
                f"of {s.get('index_size') or 0:,} products (random vectors: search time depends "
                "on the row count only). `threads` is the model's thread count; decoding and "
                "preprocessing run on one thread"
                + "".join(
                    sorted({f", the search with {r.note}" for r in latency.results if r.note})
                )
                + ".\n",
                table,
                "",
            ]
            if plot_end_to_end(latency, out / "end_to_end.png"):
                md.append("![end to end](end_to_end.png)\n")
    for i, dev in enumerate(devices):
        dev.save(out / f"device_{i + 1}.json")
        m = dev.machine
        kind = "emulator" if m.get("emulator") else "device"
        md += [
            f"## On a {kind}: {m.get('device', '?')} ({dev.source})\n",
            f"SoC {m.get('soc') or '?'}, ABI {m.get('arch') or '?'}, Android SDK "
            f"{m.get('sdk') or '?'}, int8 features: {', '.join(m.get('int8_flags') or []) or '?'}."
            + (" Emulator timings say little about phones." if m.get("emulator") else "")
            + "\n",
            device_table(dev),
            "",
        ]
        if dev.settings.get("skipped"):
            md += [f"Not measured: {'; '.join(dev.settings['skipped'])}.\n"]
    if accuracy is not None:
        accuracy.save(out / "accuracy.json")
        first = accuracy.rows[0] if accuracy.rows else None
        md += [
            "## Retrieval accuracy\n",
            f"`{accuracy.data}`: {first.queries if first else 0} query photos, "
            f"{first.products if first else 0} catalog products. Sizes are file sizes "
            "(the baseline: its fp32 parameters); latency is the single-thread median above.\n",
            accuracy_table(accuracy),
            "",
            "![accuracy vs size](accuracy_vs_size.png)\n",
        ]
        plot_accuracy_vs_size(accuracy, out / "accuracy_vs_size.png")
        if plot_examples(accuracy, out / "examples.png"):
            md += [
                f"Example queries ({accuracy.example_model}), seeded choice: the correct "
                "product is outlined in green.\n",
                "![examples](examples.png)\n",
            ]
    parity = _arm_parity_summary(out)
    if parity:
        md += ["## ARM64 parity\n", parity]
    md += [
        "## Reproduce\n",
        "```sh\nmake bench DIST=dist VAL=<dataset root> CHECKPOINT=<model.pt>\n"
        "deepproduct bench device --adb --benchmark-binary <benchmark_model> "
        "--model dist/model.tflite\n"
        "```\n",
    ]
    path = out / REPORT
    write_text_atomic(path, "\n".join(md))
    return path


def _arm_parity_summary(out: Path) -> str:
    """A line on the last ``make arm-parity`` results written next to the report."""
    try:
        doc = json.loads((out / "arm_parity.json").read_text(encoding="utf-8"))
        checks = [c for r in doc["results"] for c in r["checks"]]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    passed = sum(c["ok"] for c in checks)
    return (
        f"{passed}/{len(checks)} checks passed on {doc['setup']['guest']} under qemu "
        "(`make arm-parity`); details in [arm_parity.md](arm_parity.md).\n"
    )


def build_report(
    dist: str | os.PathLike,
    data: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    out: str | os.PathLike = DEFAULT_OUT,
    threads: Sequence[int] = (1, 2, 4),
    runs: int = 50,
    warmup: int = 10,
    memory: bool = True,
    index_size: int = 100_000,
    devices: Sequence[LatencyReport] = (),
    progress: bool = True,
) -> tuple[Path, LatencyReport, AccuracyReport | None]:
    """Run the host latency and accuracy benchmarks and write the report.

    Args:
        dist: the export folder (every ``.tflite`` / ``.onnx`` in it is benchmarked).
        data: dataset root for accuracy, example queries and the query frames (None:
            latency only).
        checkpoint: the PyTorch checkpoint the export came from (the latency target's
            reference).
        out: the report folder.
        threads, runs, warmup, memory, index_size: see ``benchmarks.latency.run_latency``.
        devices: device reports to include (``deepproduct bench device --json``).
        progress: show progress bars.

    Returns:
        ``(report.md path, latency report, accuracy report or None)``.
    """
    from benchmarks.latency import run_latency
    from benchmarks.variants import PRETRAINED, dist_models

    exported = [str(p) for p in dist_models(dist)]
    models = exported + ([str(checkpoint)] if checkpoint else [])
    with_torch = _has_torch()
    timed = models + ([PRETRAINED] if data is not None and with_torch else [])
    if not with_torch:
        timed = [m for m in timed if not m.endswith(".pt")]
    e2e = next((m for m in exported if m.endswith(".tflite")), None)
    latency = run_latency(
        timed, threads, runs, warmup, memory, e2e, index_size, data, progress=progress
    )
    accuracy = None
    if data is not None:
        from benchmarks.accuracy import run_accuracy

        accuracy = run_accuracy(
            [m for m in models if with_torch or not m.endswith(".pt")],
            data,
            baseline=with_torch,
            latency=latency,
            progress=progress,
        )
    return write_report(out, latency, accuracy, devices), latency, accuracy


def _has_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None
