"""Peak memory of one model variant, measured in a fresh process
(``python -m benchmarks.memory_probe``, run by :func:`measure_memory`)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.frames import FRAME_SIZE, synthetic_frame
from benchmarks.variants import LatencyError, import_torch, model_variant, open_runner
from mobile_sdk.errors import run_reporting_errors

MEMORY_PROBE_RUNS = 5


def _rss_mb(field_name: str) -> float | None:
    """``VmRSS`` / ``VmHWM`` of this process in MB (Linux), else None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_probe(spec: str, threads: int, runs: int = MEMORY_PROBE_RUNS) -> dict:
    """In this (fresh) process: load ``spec``, run it, report peak memory.

    Returns:
        ``{"peak_mb", "baseline_mb", "delta_mb"}`` (None values off Linux).
    """
    variant = model_variant(spec)
    if variant.is_torch:
        import_torch()
        import trainer.evaluate  # noqa: F401 - its imports belong to the baseline
    elif variant.runtime == "onnxruntime":
        import onnxruntime  # noqa: F401
    else:
        import ai_edge_litert.interpreter  # noqa: F401
    rgb = synthetic_frame(FRAME_SIZE, seed=0)
    try:  # reset the peak (VmHWM) to the current RSS: Linux clear_refs "5"
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    baseline = _rss_mb("VmRSS")
    runner = open_runner(variant, threads, rgb)
    for _ in range(runs):
        runner.run()
    peak = _rss_mb("VmHWM")
    delta = None if peak is None or baseline is None else peak - baseline
    return {"peak_mb": peak, "baseline_mb": baseline, "delta_mb": delta}


def measure_memory(spec: str, threads: int) -> dict:
    """:func:`memory_probe` in a child process (so models do not share a peak)."""
    cmd = [sys.executable, "-m", "benchmarks.memory_probe", "--memory-probe", spec]
    cmd += ["--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise LatencyError(f"memory probe of {spec} failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> int:
    """Internal entry point of the memory probe child process."""
    parser = argparse.ArgumentParser(description="memory probe (internal)")
    parser.add_argument("--memory-probe", required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps(memory_probe(args.memory_probe, args.threads)))
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main, Path(__file__).name))
