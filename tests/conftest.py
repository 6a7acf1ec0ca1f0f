"""Fixtures shared by several test files."""

import pytest

from benchmarks.commands import BENCH_BLAS_THREAD_VARS


@pytest.fixture
def bench_env(monkeypatch):
    """Run 'deepproduct bench' in-process: the BLAS variables it sets are restored after."""
    for var in BENCH_BLAS_THREAD_VARS:
        monkeypatch.setenv(var, "1")
