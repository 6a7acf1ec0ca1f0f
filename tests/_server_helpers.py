"""Shared by the test_server_*.py files: the [server] extra check and catalogs of vectors
(``benchmarks.catalog_vectors``, which the server benchmark uses too)."""

from __future__ import annotations

import pytest

from benchmarks.catalog_vectors import clustered, photo_queries  # noqa: F401 (re-exported)

SERVER_MODULES = ("pymilvus", "milvus_lite", "fastapi", "uvicorn", "python_multipart")
FINGERPRINT = "sha256:" + "ab" * 32
OTHER_FINGERPRINT = "sha256:" + "cd" * 32


def require_server_extra() -> None:
    """Skip the calling module unless the [server] extra is installed."""
    for module in SERVER_MODULES:
        pytest.importorskip(
            module,
            reason=f"{module} missing: install the server extra (pip install -e '.[server]')",
        )
