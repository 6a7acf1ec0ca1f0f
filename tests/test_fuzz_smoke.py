"""A short run of each fuzz target in fuzz/ (``make fuzz`` is the long one).

A target crashes on any exception other than the documented ones; libFuzzer then
exits non-zero and writes the input as ``crash-*`` (``timeout-*``, ``oom-*`` for hangs
and memory blow-ups). Each target runs ``FUZZ_SMOKE_SECONDS`` (default 15) seconds.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "atheris",
    reason="atheris is not installed: pip install -e '.[dev]' (wheels for Linux) to fuzz",
)

ROOT = Path(__file__).resolve().parents[1]
SECONDS = int(os.environ.get("FUZZ_SMOKE_SECONDS", "15"))

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("target", ["index", "metadata", "image"])
def test_fuzz_target_finds_no_crash(target: str, tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "fuzz" / f"fuzz_{target}.py"),
            f"-max_total_time={SECONDS}",
            "-timeout=20",
            "-rss_limit_mb=2048",
            f"-artifact_prefix={tmp_path}/",
            str(tmp_path / "corpus"),
        ],
        capture_output=True,
        text=True,
        timeout=SECONDS + 180,
    )
    findings = sorted(p.name for p in tmp_path.glob("*-*") if p.is_file())
    log = "\n".join(r.stderr.splitlines()[-40:])
    assert r.returncode == 0 and not findings, f"fuzz_{target}: {findings}\n{log}"
    runs = re.search(r"Done (\d+) runs", r.stderr)
    assert runs and int(runs.group(1)) > 100, log
