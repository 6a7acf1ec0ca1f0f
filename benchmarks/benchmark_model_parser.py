"""Parse the console output of TFLite's ``benchmark_model`` tool into numbers.

The lines this reads, as the tool prints them (TensorFlow
``tensorflow/lite/tools/benchmark/benchmark_model.cc``: ``BenchmarkModel::Run`` and
``BenchmarkLoggingListener::OnBenchmarkEnd``; the statistics line is
``tensorflow::Stat::OutputToStream`` in ``tensorflow/core/util/stats_calculator.h``)::

    The input model file size (MB): 16.9008
    Initialized session in 17.187ms.
    Running benchmark for at least 1 iterations and at least 0.5 seconds but ...
    count=1 curr=3512391                                   <- the warm-up runs
    Running benchmark for at least 50 iterations and at least 1 seconds but ...
    count=50 first=2990275 curr=2913402 min=2727568 max=3189954 avg=2.95034e+06 std=109798
    Inference timings in us: Init: 17187, First inference: 3512391, Warmup (avg): 3.51239e+06,
      Inference (avg): 2.95034e+06                            <- one line, wrapped here
    Memory footprint delta from the start of the tool (MB): init=4.21094 overall=46.0859
    Overall peak memory footprint (MB) via periodic monitoring: 52.3

Times are microseconds, printed by a C++ stream with its default 6 significant
digits (hence ``2.95034e+06``). A run where every time is equal prints
``count=N curr=X`` (``(all same)`` appended when N > 1); newer LiteRT builds append
``p5=… median=… p95=…`` to the statistics line. Older builds print ``Peak memory
footprint (MB): init=… overall=…`` instead of the ``Memory footprint delta`` line.
Lines may carry a log prefix (``INFO: ``, or logcat's ``I tflite  : ``); with
``--enable_op_profiling`` the per-operator tables follow and are ignored (their
``Timings (microseconds): count=…`` lines are not the run statistics).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mobile_sdk.errors import DeepProductError

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PREFIX = r"^(?:[A-Z]+: |[VDIWEF] [\w.]+\s*: )?"  # "INFO: ", logcat "I tflite  : "
_RUNNING = re.compile(_PREFIX + r"Running benchmark for at least (\d+) iterations")
_STAT = re.compile(_PREFIX + r"(count=\d+(?: \w+=" + _NUM + r")*)(?:\(all same\))?\s*$")
_PAIR = re.compile(r"(\w+)=(" + _NUM + r")")
_SUMMARY = re.compile(
    rf"Inference timings in us: Init: (?P<init>{_NUM}), First inference: (?P<first>{_NUM}), "
    rf"Warmup \(avg\): (?P<warmup>{_NUM}), Inference \(avg\): (?P<inference>{_NUM})"
)
_MEMORY = re.compile(
    r"(?:Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): "
    rf"init=(?P<init>{_NUM}) overall=(?P<overall>{_NUM})"
)
_PEAK = re.compile(r"Overall peak memory footprint \(MB\) via periodic monitoring: (" + _NUM + ")")
_MODEL_SIZE = re.compile(r"The input model file size \(MB\): (" + _NUM + ")")
_THREADS = re.compile(r"(?:Num threads|#threads used for CPU inference): \[(\d+)\]")
_XNNPACK = re.compile(r"Use xnnpack: \[(\d)\]")
_FAILURE = re.compile(r"Benchmarking failed|Failed to (?:apply|create) .*delegate|ERROR: ")


class BenchmarkOutputError(DeepProductError, ValueError):
    """The text is not the output of a successful ``benchmark_model`` run."""


@dataclass(frozen=True)
class RunStats:
    """One ``count=… first=… curr=… min=… max=… avg=… std=…`` line, in microseconds.

    ``first``, ``min``, ``max``, ``std`` are None when the tool printed the
    all-equal form ``count=N curr=X`` (then every run took ``curr``, which is also
    given as ``avg``); everything but ``count`` is None for ``count=0`` (no runs);
    ``p5``, ``median``, ``p95`` only appear in newer builds.
    """

    count: int
    curr: float | None = None
    first: float | None = None
    min: float | None = None
    max: float | None = None
    avg: float | None = None
    std: float | None = None
    p5: float | None = None
    median: float | None = None
    p95: float | None = None


@dataclass(frozen=True)
class BenchmarkModelRun:
    """What one ``benchmark_model`` invocation measured.

    Attributes:
        init_us: model load + interpreter setup ("Init").
        first_inference_us: the first warm-up run.
        warmup_avg_us: mean of the warm-up runs.
        inference_avg_us: mean of the timed runs.
        warmup, runs: the statistics lines of the warm-up and the timed runs.
        model_size_mb: as the tool reports it (None when not printed).
        init_memory_mb, overall_memory_mb: memory growth after init / at the end.
        peak_memory_mb: with ``--report_peak_memory_footprint`` only.
        threads: the thread count the tool echoed (None when not echoed).
        xnnpack: whether the tool echoed ``Use xnnpack: [1]`` / ``[0]`` (None: not echoed).
    """

    init_us: float
    first_inference_us: float
    warmup_avg_us: float
    inference_avg_us: float
    warmup: RunStats | None
    runs: RunStats
    model_size_mb: float | None = None
    init_memory_mb: float | None = None
    overall_memory_mb: float | None = None
    peak_memory_mb: float | None = None
    threads: int | None = None
    xnnpack: bool | None = None


def parse_stats_line(text: str) -> RunStats:
    """Parse one statistics line (``count=50 first=… avg=… std=…``), log prefix allowed.

    Raises:
        BenchmarkOutputError: not a statistics line.
    """
    match = _STAT.match(text.strip())
    if match is None:
        raise BenchmarkOutputError(f"not a benchmark_model statistics line: {text.strip()!r}")
    values = {k: float(v) for k, v in _PAIR.findall(match.group(1))}
    known = {k: values[k] for k in RunStats.__dataclass_fields__ if k in values}
    known["count"] = int(known["count"])
    if known["count"] > 0 and "curr" not in known:
        raise BenchmarkOutputError(f"statistics line without curr=: {text.strip()!r}")
    if known["count"] > 0 and "avg" not in known:  # the all-equal form
        known["avg"] = known["curr"]
    return RunStats(**known)


def parse_benchmark_output(text: str) -> BenchmarkModelRun:
    """Parse the full console output of one ``benchmark_model`` run.

    Args:
        text: stdout and stderr of the tool, as captured (``\\r\\n`` line ends of
            ``adb shell`` are fine).

    Returns:
        The measured numbers.

    Raises:
        BenchmarkOutputError: the run failed (the tool's own error lines are quoted),
            or the summary line is missing (e.g. the output is from another tool).
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    stats: list[RunStats] = []
    after_running = False
    summary = memory = peak = size = threads = xnnpack = None
    for line in lines:
        stripped = line.strip()
        if _RUNNING.match(stripped):
            after_running = True
            continue
        if after_running and _STAT.match(stripped):
            stats.append(parse_stats_line(stripped))
            after_running = False
            continue
        summary = summary or _SUMMARY.search(stripped)
        memory = memory or _MEMORY.search(stripped)
        peak = peak or _PEAK.search(stripped)
        size = size or _MODEL_SIZE.search(stripped)
        threads = threads or _THREADS.search(stripped)
        xnnpack = xnnpack or _XNNPACK.search(stripped)
    if summary is None:
        errors = [ln.strip() for ln in lines if _FAILURE.search(ln)]
        if errors:
            raise BenchmarkOutputError("benchmark_model failed: " + " | ".join(errors[:5]))
        tail = " | ".join(ln.strip() for ln in lines if ln.strip())[-300:]
        raise BenchmarkOutputError(
            "no 'Inference timings in us' line in the benchmark_model output"
            + (f" (it ended with: {tail})" if tail else " (the output is empty)")
        )
    if not stats:
        raise BenchmarkOutputError("benchmark_model output has no run statistics line")
    runs = stats[-1]
    warmup = stats[-2] if len(stats) >= 2 else None
    return BenchmarkModelRun(
        init_us=float(summary["init"]),
        first_inference_us=float(summary["first"]),
        warmup_avg_us=float(summary["warmup"]),
        inference_avg_us=float(summary["inference"]),
        warmup=warmup,
        runs=runs,
        model_size_mb=float(size.group(1)) if size else None,
        init_memory_mb=float(memory["init"]) if memory else None,
        overall_memory_mb=float(memory["overall"]) if memory else None,
        peak_memory_mb=float(peak.group(1)) if peak else None,
        threads=int(threads.group(1)) if threads else None,
        xnnpack=bool(int(xnnpack.group(1))) if xnnpack else None,
    )
