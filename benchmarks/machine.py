"""What a benchmark ran on: CPU, cores, int8-relevant instruction sets, software versions.

Latency ratios between runtimes depend on the CPU's integer dot-product support
(x86 AVX-512 VNNI / AVX-VNNI, ARM dot product / i8mm), so the report names them.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

# Flags that decide how fast int8 and fp16 kernels can be (x86 and ARM spellings).
INT8_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_int8",
    "asimd",
    "asimddp",
    "i8mm",
    "fphp",
    "asimdhp",
    "sve",
    "sve2",
)
PACKAGES = (
    "deepproduct",
    "numpy",
    "pillow",
    "ai-edge-litert",
    "onnxruntime",
    "torch",
    "matplotlib",
)


def _cpuinfo() -> tuple[str, set[str]]:
    """CPU model name and feature flags from /proc/cpuinfo (Linux; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or platform.machine(), set()
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return model or platform.processor() or platform.machine(), flags


def _versions(packages: tuple[str, ...]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def describe_machine(packages: tuple[str, ...] = PACKAGES) -> dict[str, Any]:
    """This machine, as the report prints it.

    Returns:
        ``cpu`` (model name), ``arch``, ``logical_cores``, ``usable_cores`` (this
        process's CPU affinity), ``int8_flags`` (the subset of ``INT8_FLAGS`` present),
        ``load_average`` (1/5/15 min when the benchmark started: a busy machine
        inflates every number), ``os``, ``python`` and the installed ``packages``
        versions (None: not installed).
    """
    model, flags = _cpuinfo()
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu": model,
        "arch": platform.machine(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "int8_flags": [f for f in INT8_FLAGS if f in flags],
        "load_average": load,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "packages": _versions(packages),
    }


def machine_markdown(machine: dict[str, Any]) -> str:
    """The machine description as a Markdown bullet list."""
    packages = machine.get("packages") or {}
    versions = ", ".join(f"{k} {v}" for k, v in packages.items() if v) or "unknown"
    flags = ", ".join(machine.get("int8_flags") or []) or "none of the int8-relevant flags"
    lines = [
        f"- CPU: {machine.get('cpu', '?')} ({machine.get('arch', '?')}), "
        f"{machine.get('logical_cores', '?')} logical cores, "
        f"{machine.get('usable_cores', '?')} usable by the benchmark",
        f"- int8/fp16-relevant instruction sets: {flags}",
        f"- load average when it started (1/5/15 min): {machine.get('load_average')}",
        f"- OS: {machine.get('os', '?')}; Python {machine.get('python', '?')}",
        f"- packages: {versions}",
    ]
    extra = {k: v for k, v in machine.items() if k not in _KNOWN}
    lines += [f"- {k}: {v}" for k, v in extra.items()]
    return "\n".join(lines)


_KNOWN = {
    "cpu",
    "arch",
    "logical_cores",
    "usable_cores",
    "int8_flags",
    "load_average",
    "os",
    "python",
    "packages",
}
