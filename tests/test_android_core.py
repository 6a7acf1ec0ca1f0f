"""The Android core (plain Java, android_demo/core) against a golden bundle from this runtime.

Exports the small shared model, writes a golden bundle with ``export.golden``, and
runs ``android_demo/core/run_tests.sh`` (javac + the JUnit 5 console launcher, no Gradle).
Skips with the script's reason when javac or the JUnit/Gson jars are missing
(``apt-get install -y junit5 libgoogle-gson-java``).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from _export_helpers import require_export_extra, small_export

require_export_extra()

import mobile_sdk.preprocess  # noqa: E402
from export.golden import write_golden  # noqa: E402

RUN_TESTS = Path(__file__).resolve().parents[1] / "android_demo" / "core" / "run_tests.sh"
SUMMARY = re.compile(r"^java core tests: (\d+) run, (\d+) passed, (\d+) failed", re.MULTILINE)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return small_export(tmp_path_factory)


def _run_java_tests(bundle: Path) -> tuple[int, str]:
    proc = subprocess.run(
        ["bash", str(RUN_TESTS), "--allow-skip", str(bundle)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = proc.stdout + proc.stderr
    skipped = re.search(r"^skipped: .*$", output, re.MULTILINE)
    if skipped:
        pytest.skip(f"Java core tests {skipped.group(0)}")
    return proc.returncode, output


def test_java_core_matches_the_python_runtime(small, tmp_path, capsys):
    bundle = write_golden(small.dist / "model.tflite", tmp_path / "golden")
    code, output = _run_java_tests(bundle)
    summary = SUMMARY.search(output)
    assert summary, f"no test summary printed:\n{output[-3000:]}"
    # shown in `make test`'s output, so the Java test count is visible in CI logs
    with capsys.disabled():
        print(f"\n{summary.group(0)}")
    run, passed, failed = (int(g) for g in summary.groups())
    assert code == 0 and failed == 0, output[-6000:]
    assert run == passed and run >= 100  # per input, search, damaged file, orientation...


@pytest.mark.slow
def test_java_core_catches_a_changed_python_resize(small, tmp_path, monkeypatch):
    # Truncating instead of rounding in the fixed-point passes: a one-level change on
    # most pixels, the kind of drift the golden files exist to catch.
    monkeypatch.setattr(mobile_sdk.preprocess, "_HALF", 0)
    bundle = write_golden(small.dist / "model.tflite", tmp_path / "golden")
    monkeypatch.undo()
    code, output = _run_java_tests(bundle)
    summary = SUMMARY.search(output)
    assert summary, output[-3000:]
    assert code != 0 and int(summary.group(3)) > 0
    assert "resized pixels:" in output and "differ" in output
