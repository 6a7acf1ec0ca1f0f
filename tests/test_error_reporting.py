"""Commands and benchmark scripts end bad input with one clear line, not a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.arm_parity import INSIDE, copy_sources
from mobile_sdk.errors import DatasetError, run_reporting_errors

REPO = Path(__file__).resolve().parent.parent


def test_project_error_is_one_line_and_status_2(capsys):
    def main() -> int:
        raise DatasetError("/data/x: dataset folder does not exist")

    assert run_reporting_errors(main, "ablation.py") == 2
    assert capsys.readouterr().err == "ablation.py: error: /data/x: dataset folder does not exist\n"


def test_status_of_main_is_passed_through_and_bugs_keep_their_traceback():
    assert run_reporting_errors(lambda: 0, "x.py") == 0

    def buggy() -> int:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        run_reporting_errors(buggy, "x.py")


def test_script_reports_missing_dataset_without_traceback(tmp_path):
    missing = tmp_path / "nowhere"
    r = subprocess.run(
        [sys.executable, "benchmarks/probe_seeds.py", "--data", missing, "--val", missing],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == f"probe_seeds.py: error: {missing}: dataset folder does not exist"


def test_arm_guest_copy_imports_on_its_own(tmp_path):
    """The arm64 guest gets only the copied sources: they must import without the repo.

    ``-S`` skips site-packages and with it the editable install's import hook, which
    would otherwise find a module missing from the copy in this checkout.
    """
    copy_sources(tmp_path)
    src = tmp_path / INSIDE.relative_to("/") / "src"
    site = Path(np.__file__).resolve().parent.parent  # numpy, the guest venv's one package
    r = subprocess.run(
        [sys.executable, "-S", "-c", "import benchmarks.arm_parity as m; print(m.__file__)"],
        cwd=src,
        env={"PYTHONPATH": f"{src}{os.pathsep}{site}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).is_relative_to(src)
