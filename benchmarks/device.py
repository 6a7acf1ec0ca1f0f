"""Latency on a phone or emulator through adb, in the host report's schema.

Two sources:

- ``benchmark_model`` (:func:`run_benchmark_model`): pushes the user's build of
  TFLite's benchmark tool and the models to ``/data/local/tmp``, runs every model at
  each thread count with XNNPACK on and off, and parses the console output
  (``benchmarks.benchmark_model_parser``). Nothing is downloaded: the user supplies
  the binary (``bazel build -c opt --config=android_arm64
  //tensorflow/lite/tools/benchmark:benchmark_model``, or a prebuilt one).
- the demo app (:func:`from_app`): pulls ``benchmark.json`` that
  ``android_demo``'s ``Benchmark.kt`` writes (see android_demo/README.md) and maps
  its entries onto the same schema.

An emulator is just another adb device (``--serial emulator-5554``); the report
marks it as one, since emulator timings say little about phones.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from benchmarks.benchmark_model_parser import BenchmarkOutputError, parse_benchmark_output
from benchmarks.machine import INT8_FLAGS
from benchmarks.schema import LatencyReport, LatencyResult
from mobile_sdk.errors import DeepProductError

REMOTE_DIR = "/data/local/tmp/deepproduct"
APP_PACKAGE = "com.deepproduct.demo"
APP_FILE = "benchmark.json"  # Benchmark.FILE in Benchmark.kt
_PROPS = {
    "manufacturer": "ro.product.manufacturer",
    "model": "ro.product.model",
    "soc": "ro.soc.model",
    "abi": "ro.product.cpu.abi",
    "sdk": "ro.build.version.sdk",
    "android": "ro.build.version.release",
    "qemu": "ro.kernel.qemu",
    "boot_qemu": "ro.boot.qemu",
}


class DeviceError(DeepProductError):
    """adb is missing, no device answers, a push/pull/run failed, or the output is bad."""


class Adb:
    """A thin wrapper over the ``adb`` command line for one device.

    Args:
        adb: the adb executable (looked up on PATH when it has no slash).
        serial: the device's serial (``adb -s``), None for the only device.
        timeout: seconds any single adb command may take.
    """

    def __init__(self, adb: str = "adb", serial: str | None = None, timeout: float = 900) -> None:
        self.adb = adb
        self.serial = serial
        self.timeout = timeout

    def _run(self, *args: str, check: bool = True) -> str:
        cmd = [self.adb] + (["-s", self.serial] if self.serial else []) + list(args)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout)
        except FileNotFoundError:
            raise DeviceError(
                f"adb not found ({self.adb!r}): install Android platform-tools or pass --adb PATH"
            ) from None
        except subprocess.TimeoutExpired:
            raise DeviceError(
                f"'{shlex.join(cmd)}' did not finish in {self.timeout:.0f} s"
            ) from None
        if check and proc.returncode != 0:
            detail = (proc.stderr.strip() or proc.stdout.strip())[-800:]
            raise DeviceError(f"'{shlex.join(cmd)}' failed (exit {proc.returncode}): {detail}")
        return proc.stdout + proc.stderr

    def check_device(self) -> None:
        """Raise DeviceError unless the device is online."""
        state = self._run("get-state").strip()
        if state != "device":
            who = self.serial or "the device"
            raise DeviceError(f"{who} is '{state}', not ready (see 'adb devices')")

    def shell(self, command: str, check: bool = True) -> str:
        """Run ``command`` on the device; its output (stdout then stderr).

        With ``check`` a non-zero exit status (adb passes the device's on) raises
        DeviceError; without, the output is returned for the caller to judge.
        """
        return self._run("shell", command, check=check)

    def push(self, local: str | os.PathLike, remote: str) -> None:
        """Copy a host file to the device."""
        self._run("push", os.fspath(local), remote)

    def pull(self, remote: str, local: str | os.PathLike) -> None:
        """Copy a device file to the host."""
        self._run("pull", remote, os.fspath(local))

    def exec_out(self, command: str) -> str:
        """``adb exec-out command``: raw stdout (no pty), e.g. for ``run-as``."""
        return self._run("exec-out", command)


def describe_device(adb: Adb) -> dict[str, Any]:
    """The device's make, SoC, ABI, Android version, cores and int8-relevant CPU features."""
    props = {}
    for key, prop in _PROPS.items():
        try:
            props[key] = adb.shell(f"getprop {prop}").strip() or None
        except DeviceError:
            props[key] = None
    emulator = "1" in (props.pop("qemu"), props.pop("boot_qemu"))
    try:
        cpuinfo = adb.shell("cat /proc/cpuinfo")
    except DeviceError:
        cpuinfo = ""
    features: set[str] = set()
    cores = 0
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("features", "flags") and not features:
            features = set(value.split())
        if key.strip().lower() == "processor":
            cores += 1
    return {
        "device": " ".join(p for p in (props["manufacturer"], props["model"]) if p) or "unknown",
        "serial": adb.serial,
        "emulator": emulator,
        "soc": props["soc"],
        "arch": props["abi"],
        "android": props["android"],
        "sdk": props["sdk"],
        "logical_cores": cores or None,
        "int8_flags": [f for f in INT8_FLAGS if f in features],
    }


def _precision(model: Path) -> str | None:
    from mobile_sdk.model_metadata import ModelMetadataError, read_model_metadata

    try:
        return read_model_metadata(model).precision
    except ModelMetadataError:
        return None


def run_benchmark_model(
    adb: Adb,
    binary: str | os.PathLike,
    models: Sequence[str | os.PathLike],
    threads: Sequence[int] = (1, 2, 4),
    xnnpack: Sequence[bool] = (True, False),
    runs: int = 50,
    warmup: int = 10,
    raw_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> LatencyReport:
    """Time ``models`` with ``benchmark_model`` on the device.

    Args:
        adb: the device.
        binary: the user's ``benchmark_model`` build for the device's ABI.
        models: ``.tflite`` files.
        threads: ``--num_threads`` values.
        xnnpack: ``--use_xnnpack`` values (False: TFLite's built-in kernels).
        runs, warmup: ``--num_runs`` / ``--warmup_runs`` (the minimum durations are
            set to 0, so these are the exact counts).
        raw_dir: also keep every run's console output here.
        progress: show a progress bar.

    Raises:
        DeviceError: no device, a missing file, or a failed push/run.
        BenchmarkOutputError: the tool failed; the message quotes its error lines.
    """
    binary = Path(binary)
    if not binary.is_file():
        raise DeviceError(f"{binary}: benchmark_model binary not found")
    paths = [Path(m) for m in models]
    for m in paths:
        if not m.is_file() or m.suffix != ".tflite":
            raise DeviceError(f"{m}: not a .tflite file (benchmark_model runs TFLite models)")
    adb.check_device()
    machine = describe_device(adb)
    adb.shell(f"mkdir -p {REMOTE_DIR}")
    tool = f"{REMOTE_DIR}/benchmark_model"
    adb.push(binary, tool)
    adb.shell(f"chmod 755 {tool}")
    for m in paths:
        adb.push(m, f"{REMOTE_DIR}/{m.name}")
    if raw_dir is not None:
        Path(raw_dir).mkdir(parents=True, exist_ok=True)
    results = []
    configs = [(t, x, m) for t in threads for x in xnnpack for m in paths]
    for t, x, m in tqdm(configs, desc="benchmark_model", unit="run", disable=not progress):
        flags = [
            f"--graph={REMOTE_DIR}/{m.name}",
            f"--num_threads={t}",
            f"--use_xnnpack={'true' if x else 'false'}",
            f"--warmup_runs={warmup}",
            "--warmup_min_secs=0",
            f"--num_runs={runs}",
            "--min_secs=0",
        ]
        # the tool's own error lines explain a failure better than its exit status
        output = adb.shell(" ".join([tool, *flags]), check=False)
        if raw_dir is not None:
            name = f"{m.stem}_threads{t}_xnnpack{'on' if x else 'off'}.txt"
            (Path(raw_dir) / name).write_text(output, encoding="utf-8")
        try:
            run = parse_benchmark_output(output)
        except BenchmarkOutputError as e:
            raise BenchmarkOutputError(f"{m.name}, {t} threads, XNNPACK {x}: {e}") from None
        stats = run.runs
        results.append(
            LatencyResult(
                name=m.name,
                stage="model",
                runtime="benchmark_model",
                precision=_precision(m),
                threads=t,
                xnnpack=x,
                runs=stats.count,
                warmup=run.warmup.count if run.warmup else None,
                p50_ms=_ms(stats.median),
                mean_ms=_ms(stats.avg),
                min_ms=_ms(stats.min),
                max_ms=_ms(stats.max),
                std_ms=_ms(stats.std),
                peak_memory_mb=run.peak_memory_mb,
                memory_delta_mb=run.overall_memory_mb,
                init_ms=run.init_us / 1e3,
                note=f"first inference {run.first_inference_us / 1e3:.1f} ms",
            )
        )
    adb.shell(f"rm -rf {REMOTE_DIR}")
    settings = {
        "runs": runs,
        "warmup": warmup,
        "threads": list(threads),
        "xnnpack": list(xnnpack),
        "models": [str(m) for m in paths],
        "binary": str(binary),
        "memory": "memory_delta_mb: the tool's footprint growth over its start ('overall')",
    }
    return LatencyReport("adb benchmark_model", machine, results, [], settings)


def _ms(us: float | None) -> float | None:
    return None if us is None else us / 1e3


def from_app(adb: Adb, package: str = APP_PACKAGE) -> LatencyReport:
    """Pull the demo app's ``benchmark.json`` and convert it.

    It is read from the app's external files dir first (any build), then through
    ``run-as`` from its internal files dir (debug builds).

    Raises:
        DeviceError: no device, or no benchmark file (run the app's benchmark first).
    """
    adb.check_device()
    external = f"/sdcard/Android/data/{package}/files/{APP_FILE}"
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / APP_FILE
        try:
            adb.pull(external, local)
            text = local.read_text(encoding="utf-8")
        except DeviceError as first:
            try:
                text = adb.exec_out(f"run-as {package} cat files/{APP_FILE}")
            except DeviceError:
                raise DeviceError(
                    f"no {APP_FILE} from {package}: run the benchmark in the app first "
                    f"(android_demo/README.md, 'Benchmark on a device or emulator'); {first}"
                ) from None
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise DeviceError(f"{APP_FILE} from {package} is not JSON: {e}") from None
    report = parse_app_report(doc)
    report.machine = {**describe_device(adb), **report.machine}
    return report


def parse_app_report(doc: dict[str, Any]) -> LatencyReport:
    """Map the app's ``benchmark.json`` (``Benchmark.kt``) onto the latency schema.

    Entries: ``preprocess WxH`` (Java core), ``model cpu threads=N xnnpack=on|off``,
    ``model gpu`` (skipped with its reason when ``available`` is false) and
    ``search N rows DTYPE``. The app reports p50/p90/min/max, no p99 or mean.

    Raises:
        DeviceError: not the app's format.
    """
    try:
        device, model = doc["device"], doc["model"]
        entries, runs, warmup = doc["results"], int(doc["runs"]), int(doc["warmup"])
    except (KeyError, TypeError, ValueError) as e:
        raise DeviceError(f"not the demo app's benchmark.json (missing {e})") from None
    precision = model.get("precision")
    results, skipped = [], []
    for e in entries:
        name = str(e.get("name", ""))
        timing = {k: e.get(k) for k in ("p50_ms", "p90_ms", "min_ms", "max_ms")}
        common = dict(runs=runs, warmup=warmup, **timing)
        if name.startswith("model gpu"):
            if not e.get("available", False):
                skipped.append(f"GPU delegate: {e.get('reason', 'unavailable')}")
                continue
            results.append(
                LatencyResult(
                    "model.tflite",
                    "model",
                    "LiteRT GPU delegate (app)",
                    precision,
                    None,
                    None,
                    init_ms=e.get("load_ms"),
                    **common,
                )
            )
        elif name.startswith("model cpu"):
            results.append(
                LatencyResult(
                    "model.tflite",
                    "model",
                    "LiteRT (app)",
                    precision,
                    int(e["threads"]),
                    bool(e["xnnpack"]),
                    init_ms=e.get("load_ms"),
                    **common,
                )
            )
        elif name.startswith("preprocess"):
            results.append(
                LatencyResult(name, "preprocess", "Java core (app)", None, 1, None, **common)
            )
        elif name.startswith("search"):
            results.append(
                LatencyResult(name, "search", "Java core (app)", None, 1, None, **common)
            )
        else:
            skipped.append(f"unknown entry {name!r}")
    machine = {
        "device": " ".join(str(device.get(k) or "") for k in ("manufacturer", "model")).strip(),
        "soc": device.get("soc"),
        "arch": device.get("abi"),
        "sdk": device.get("sdk"),
        "model_name": model.get("name"),
        "model_fingerprint": model.get("fingerprint"),
    }
    settings = {"runs": runs, "warmup": warmup, "skipped": skipped}
    return LatencyReport("adb app", machine, results, [], settings)
