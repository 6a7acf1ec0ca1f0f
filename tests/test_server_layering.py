"""The runtime stays free of the server: the import-linter list is complete, and the
runtime's commands run without importing pymilvus or FastAPI (no extra needed here)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import mobile_sdk

tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = "the runtime (mobile_sdk, not mobile_sdk.server) never imports the server"


def test_the_contract_lists_every_runtime_module():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    (contract,) = [c for c in contracts if c["name"].startswith(CONTRACT)]
    runtime = {"mobile_sdk"} | {
        f"mobile_sdk.{m.name}"
        for m in pkgutil.iter_modules(mobile_sdk.__path__)
        if m.name != "server"
    }
    assert set(contract["source_modules"]) == runtime, (
        "a mobile_sdk module is missing from (or stale in) the import-linter contract in "
        "pyproject.toml"
    )
    assert {"mobile_sdk.server", "pymilvus", "fastapi"} <= set(contract["forbidden_modules"])


def test_the_runtime_commands_import_no_server_library():
    code = (
        "import sys, mobile_sdk, mobile_sdk.cli as cli\n"
        "cli.build_parser()\n"  # loads every registered command, publish and serve included
        "heavy = [m for m in ('pymilvus', 'milvus_lite', 'fastapi', 'starlette', 'uvicorn') "
        "if m in sys.modules]\n"
        "print(heavy)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
