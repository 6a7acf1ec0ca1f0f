"""benchmark_model output parser: recorded real output -> the exact numbers it printed."""

import pytest
from _benchmark_model_samples import FAILED_DELEGATE, PHONE_1_THREAD, RISCV_4_THREADS

from benchmarks.benchmark_model_parser import (
    BenchmarkOutputError,
    RunStats,
    parse_benchmark_output,
    parse_stats_line,
)


def test_full_output_with_op_profiling():
    run = parse_benchmark_output(RISCV_4_THREADS)
    assert run.init_us == 17187
    assert run.first_inference_us == 3512391
    assert run.warmup_avg_us == 3.51239e06
    assert run.inference_avg_us == 2.95034e06
    # the profiler's "Timings (microseconds): count=50 ..." line is not the run line
    assert run.runs == RunStats(
        count=50,
        curr=2913402,
        first=2990275,
        min=2727568,
        max=3189954,
        avg=2.95034e06,
        std=109798,
    )
    assert run.warmup == RunStats(count=1, curr=3512391, avg=3512391)
    assert (run.init_memory_mb, run.overall_memory_mb) == (4.21094, 46.0859)
    assert run.peak_memory_mb is None
    assert run.model_size_mb == 16.9008
    assert run.threads == 4
    assert run.xnnpack is None


def test_phone_output_with_log_prefixes():
    run = parse_benchmark_output(PHONE_1_THREAD.replace("\n", "\r\n"))  # adb shell pty
    assert (run.init_us, run.first_inference_us) == (20283, 339304)
    assert (run.warmup_avg_us, run.inference_avg_us) == (302814, 266473)
    assert run.warmup == RunStats(2, 266325, 339304, 266325, 339304, 302814, 36489)
    assert run.runs == RunStats(50, 266931, 266601, 265837, 268116, 266473, 419)
    assert run.threads == 1
    assert run.model_size_mb == 11.983
    assert run.overall_memory_mb is None  # the recording ends at the summary line


def test_failed_run_quotes_the_tools_errors():
    with pytest.raises(BenchmarkOutputError, match="Benchmarking failed") as e:
        parse_benchmark_output(FAILED_DELEGATE)
    assert "ANEURALNETWORKS_OP_FAILED" in str(e.value)


def test_output_of_something_else():
    with pytest.raises(BenchmarkOutputError, match="no 'Inference timings in us'"):
        parse_benchmark_output("sh: /data/local/tmp/benchmark_model: not executable\n")
    with pytest.raises(BenchmarkOutputError, match="empty"):
        parse_benchmark_output("")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("count=0", RunStats(0)),
        ("count=3 curr=1500(all same)", RunStats(3, 1500, avg=1500)),
        (
            # newer LiteRT builds append percentiles; logcat adds its prefix
            "I tflite  : count=25 first=187533 curr=140990 min=140071 max=195121 avg=145528 "
            "std=13583 p5=140545 median=141253 p95=187533",
            RunStats(25, 140990, 187533, 140071, 195121, 145528, 13583, 140545, 141253, 187533),
        ),
        (
            "INFO: count=2 first=10 curr=12 min=10 max=12 avg=11 std=1",
            RunStats(2, 12, 10, 10, 12, 11, 1),
        ),
    ],
)
def test_stats_line_forms(line, expected):
    assert parse_stats_line(line) == expected


def test_stats_line_rejects_other_text():
    with pytest.raises(BenchmarkOutputError):
        parse_stats_line("Timings (microseconds): count=1 curr=1356")
