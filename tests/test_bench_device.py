"""deepproduct bench device: a fake ``adb`` on PATH replays recorded output.

The fake (written by the fixture) answers ``get-state``, ``getprop``, ``cat
/proc/cpuinfo``, ``push``/``pull``/``exec-out`` and, for ``benchmark_model``, prints a
real recording (tests/_benchmark_model_samples.py) chosen by ``--num_threads``. It
logs every call, so the tests pin both the commands sent and the numbers parsed.
"""

import json
import os
import sys
from pathlib import Path

import pytest
from _benchmark_model_samples import FAILED_DELEGATE, PHONE_1_THREAD, RISCV_4_THREADS

from benchmarks.benchmark_model_parser import BenchmarkOutputError
from benchmarks.device import REMOTE_DIR, Adb, DeviceError, from_app, run_benchmark_model
from mobile_sdk.cli import main

FAKE_ADB = """#!{python}
import json, os, re, shutil, sys

here = os.path.dirname(os.path.abspath(__file__))
state = json.load(open(os.path.join(here, "device.json")))
args = sys.argv[1:]
serial = None
if args[:1] == ["-s"]:
    serial, args = args[1], args[2:]
with open(os.path.join(here, "calls.jsonl"), "a") as log:
    log.write(json.dumps({{"serial": serial, "args": args}}) + "\\n")
cmd, rest = args[0], args[1:]
if cmd == "get-state":
    print(state["state"])
elif cmd == "push":
    if not os.path.isfile(rest[0]):
        sys.exit(f"adb: error: cannot stat '{{rest[0]}}': No such file or directory")
    print(f"{{rest[0]}}: 1 file pushed, 0 skipped.")
elif cmd == "pull":
    source = state["files"].get(rest[0])
    if source is None:
        sys.exit(f"adb: error: failed to stat remote object '{{rest[0]}}': No such file")
    shutil.copy(source, rest[1])
elif cmd == "exec-out":
    source = state["run_as"].get(rest[0])
    if source is None:
        sys.exit("run-as: package not debuggable")
    sys.stdout.write(open(source).read())
elif cmd == "shell":
    line = " ".join(rest)
    bench = re.search(r"benchmark_model .*--num_threads=(\\d+)", line)
    if line.startswith("getprop "):
        print(state["props"].get(line.split()[1], ""))
    elif line == "cat /proc/cpuinfo":
        print(state["cpuinfo"])
    elif bench:
        recording = state["recordings"].get(bench.group(1), state["recordings"]["default"])
        sys.stdout.write(open(recording).read())
        sys.exit(0 if "Inference timings" in open(recording).read() else 1)
else:
    sys.exit(f"fake adb: unknown command {{args}}")
"""

PIXEL = {
    "ro.product.manufacturer": "Google",
    "ro.product.model": "Pixel 7",
    "ro.soc.model": "GS201",
    "ro.product.cpu.abi": "arm64-v8a",
    "ro.build.version.sdk": "34",
    "ro.build.version.release": "14",
}
CPUINFO = (
    "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp "
    "asimdhp cpuid asimdrdm lrcpc dcpop asimddp i8mm\n\nprocessor\t: 1\n"
)


class FakeDevice:
    """The fake adb's folder: state it replays and the calls it logged."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = {
            "state": "device",
            "props": dict(PIXEL),
            "cpuinfo": CPUINFO,
            "files": {},
            "run_as": {},
            "recordings": {},
        }
        for name, text in {"1": PHONE_1_THREAD, "4": RISCV_4_THREADS}.items():
            self.record(name, text)
        self.record("default", PHONE_1_THREAD)

    def record(self, key: str, text: str) -> None:
        path = self.root / f"recording_{key}.txt"
        path.write_text(text)
        self.state["recordings"][key] = str(path)

    def save(self) -> None:
        (self.root / "device.json").write_text(json.dumps(self.state))

    def calls(self) -> list[dict]:
        log = self.root / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def device(tmp_path, monkeypatch, bench_env):
    root = tmp_path / "adb"
    root.mkdir()
    adb = root / "adb"
    adb.write_text(FAKE_ADB.format(python=sys.executable))
    adb.chmod(0o755)
    monkeypatch.setenv("PATH", f"{root}{os.pathsep}{os.environ['PATH']}")
    fake = FakeDevice(root)
    fake.save()
    return fake


@pytest.fixture
def files(tmp_path):
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"\x7fELF fake aarch64 binary")
    model = tmp_path / "model.tflite"
    model.write_bytes(b"not a real model: precision unknown")
    return binary, model


def test_benchmark_model_runs_and_parses_exactly(device, files):
    binary, model = files
    report = run_benchmark_model(
        Adb(serial="emulator-5554"),
        binary,
        [model],
        threads=(1, 4),
        runs=50,
        warmup=10,
        progress=False,
    )
    assert report.source == "adb benchmark_model"
    assert report.machine["device"] == "Google Pixel 7"
    assert report.machine["soc"] == "GS201" and report.machine["arch"] == "arm64-v8a"
    assert report.machine["emulator"] is False
    assert report.machine["int8_flags"] == ["asimd", "asimddp", "i8mm", "fphp", "asimdhp"]
    assert report.machine["logical_cores"] == 2
    rows = {(r.threads, r.xnnpack): r for r in report.results}
    assert list(rows) == [(1, True), (1, False), (4, True), (4, False)]
    for xnnpack in (True, False):
        one, four = rows[1, xnnpack], rows[4, xnnpack]
        # the phone recording (1 thread) ...
        assert (one.name, one.stage, one.runtime) == ("model.tflite", "model", "benchmark_model")
        assert (one.runs, one.warmup) == (50, 2)
        assert (one.mean_ms, one.min_ms, one.max_ms, one.std_ms) == (
            266.473,
            265.837,
            268.116,
            0.419,
        )
        assert one.init_ms == 20.283 and one.p50_ms is None and one.p99_ms is None
        assert one.memory_delta_mb is None and one.precision is None
        assert one.note == "first inference 339.3 ms"
        # ... and the RISC-V one (4 threads, scientific notation, memory line)
        assert (four.runs, four.warmup) == (50, 1)
        assert (four.mean_ms, four.min_ms, four.max_ms, four.std_ms) == (
            2950.34,
            2727.568,
            3189.954,
            109.798,
        )
        assert four.init_ms == 17.187 and four.memory_delta_mb == 46.0859
        assert four.typical_ms == four.mean_ms


def test_benchmark_model_commands(device, files):
    binary, model = files
    run_benchmark_model(Adb(serial="S1"), binary, [model], runs=7, warmup=3, progress=False)
    calls = device.calls()
    assert {c["serial"] for c in calls} == {"S1"}
    args = [c["args"] for c in calls]
    tool = f"{REMOTE_DIR}/benchmark_model"
    assert ["push", str(binary), tool] in args
    assert ["shell", f"chmod 755 {tool}"] in args
    assert ["push", str(model), f"{REMOTE_DIR}/model.tflite"] in args
    runs = [a[1] for a in args if a[0] == "shell" and a[1].startswith(tool)]
    assert runs == [
        f"{tool} --graph={REMOTE_DIR}/model.tflite --num_threads={t} --use_xnnpack={x} "
        "--warmup_runs=3 --warmup_min_secs=0 --num_runs=7 --min_secs=0"
        for t in (1, 2, 4)
        for x in ("true", "false")
    ]
    assert args[-1] == ["shell", f"rm -rf {REMOTE_DIR}"]


def test_emulator_is_marked(device, files):
    device.state["props"]["ro.kernel.qemu"] = "1"
    device.state["props"]["ro.product.model"] = "sdk_gphone64_arm64"
    device.save()
    report = run_benchmark_model(Adb(), *files[:1], [files[1]], threads=(1,), progress=False)
    assert report.machine["emulator"] is True
    assert report.machine["device"] == "Google sdk_gphone64_arm64"


def test_failed_run_names_the_configuration(device, files):
    device.record("2", FAILED_DELEGATE)
    device.save()
    with pytest.raises(BenchmarkOutputError, match=r"model.tflite, 2 threads.*NNAPI"):
        run_benchmark_model(Adb(), files[0], [files[1]], threads=(1, 2), progress=False)


def test_offline_device(device, files):
    device.state["state"] = "offline"
    device.save()
    with pytest.raises(DeviceError, match="offline"):
        run_benchmark_model(Adb(), files[0], [files[1]], progress=False)


def test_missing_adb(tmp_path, files):
    with pytest.raises(DeviceError, match="adb not found"):
        run_benchmark_model(Adb(str(tmp_path / "no-adb")), files[0], [files[1]], progress=False)


def test_cli_device_json(device, files, tmp_path, capsys):
    binary, model = files
    out = tmp_path / "device.json"
    code = main(
        [
            "bench",
            "device",
            "--adb",
            "--serial",
            "emulator-5554",
            "--benchmark-binary",
            str(binary),
            "--model",
            str(model),
            "--threads",
            "1",
            "--xnnpack",
            "on",
            "--json",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["schema"] == "deepproduct-latency/1" and doc["source"] == "adb benchmark_model"
    (row,) = doc["results"]
    assert (row["threads"], row["xnnpack"], row["mean_ms"]) == (1, True, 266.473)
    assert capsys.readouterr().out.strip().endswith(f"; wrote {out}")


def test_cli_reports_failures_without_traceback(device, files, capsys):
    device.record("1", FAILED_DELEGATE)
    device.save()
    code = main(
        [
            "bench",
            "device",
            "--benchmark-binary",
            str(files[0]),
            "--model",
            str(files[1]),
            "--threads",
            "1",
            "--quiet",
        ]
    )
    assert code == 2
    assert "Benchmarking failed" in capsys.readouterr().err


# ---------------------------------------------------------------------- the demo app

APP_JSON = {
    # what android_demo/app/.../Benchmark.kt writes (keys and names as it builds them)
    "device": {
        "manufacturer": "Google",
        "model": "Pixel 7",
        "soc": "GS201",
        "abi": "arm64-v8a",
        "sdk": 34,
    },
    "model": {
        "name": "deepproduct-efficientnet-lite0-256d",
        "precision": "int8",
        "fingerprint": "sha256:" + "ab" * 32,
        "input_size": 224,
    },
    "warmup": 10,
    "runs": 100,
    "results": [
        {
            "name": "preprocess 1280x960",
            "p50_ms": 21.5,
            "p90_ms": 23.25,
            "min_ms": 20.0,
            "max_ms": 30.5,
        },
        {
            "name": "model cpu threads=1 xnnpack=on",
            "p50_ms": 12.25,
            "p90_ms": 13.0,
            "min_ms": 11.75,
            "max_ms": 19.0,
            "load_ms": 35.5,
            "threads": 1,
            "xnnpack": True,
        },
        {
            "name": "model cpu threads=4 xnnpack=off",
            "p50_ms": 9.5,
            "p90_ms": 10.0,
            "min_ms": 9.0,
            "max_ms": 14.0,
            "load_ms": 30.0,
            "threads": 4,
            "xnnpack": False,
        },
        {"name": "model gpu", "available": False, "reason": "not on the GPU compatibility list"},
        {
            "name": "search 61 rows int8",
            "p50_ms": 0.125,
            "p90_ms": 0.25,
            "min_ms": 0.1,
            "max_ms": 0.5,
        },
    ],
}


def _app_file(tmp_path) -> str:
    path = tmp_path / "benchmark.json"
    path.write_text(json.dumps(APP_JSON))
    return str(path)


def _check_app_report(report):
    assert report.source == "adb app"
    assert report.machine["device"] == "Google Pixel 7"
    assert report.settings["skipped"] == ["GPU delegate: not on the GPU compatibility list"]
    rows = {(r.stage, r.threads, r.xnnpack): r for r in report.results}
    assert set(rows) == {
        ("preprocess", 1, None),
        ("model", 1, True),
        ("model", 4, False),
        ("search", 1, None),
    }
    one = rows["model", 1, True]
    assert (one.name, one.precision, one.runtime) == ("model.tflite", "int8", "LiteRT (app)")
    assert (one.p50_ms, one.p90_ms, one.min_ms, one.max_ms, one.init_ms) == (
        12.25,
        13.0,
        11.75,
        19.0,
        35.5,
    )
    assert (one.runs, one.warmup, one.p99_ms, one.mean_ms) == (100, 10, None, None)
    assert rows["search", 1, None].name == "search 61 rows int8"
    assert rows["preprocess", 1, None].p50_ms == 21.5


def test_from_app_pulls_external_file(device, tmp_path):
    remote = "/sdcard/Android/data/com.deepproduct.demo/files/benchmark.json"
    device.state["files"][remote] = _app_file(tmp_path)
    device.save()
    _check_app_report(from_app(Adb()))


def test_from_app_falls_back_to_run_as(device, tmp_path):
    device.state["run_as"]["run-as com.deepproduct.demo cat files/benchmark.json"] = _app_file(
        tmp_path
    )
    device.save()
    _check_app_report(from_app(Adb()))
    fetches = [c["args"][0] for c in device.calls() if c["args"][0] in ("pull", "exec-out")]
    assert fetches == ["pull", "exec-out"]


def test_from_app_without_a_benchmark(device):
    with pytest.raises(DeviceError, match="run the benchmark in the app first"):
        from_app(Adb())
