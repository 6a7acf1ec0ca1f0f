"""The golden bundle's folder: its writer (files + manifest entries), constants, errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from mobile_sdk.errors import DeepProductError

GOLDEN_FORMAT = "deepproduct-golden/1"


MANIFEST = "manifest.json"


SEED = 20240611


SEARCH_K = 5


class GoldenError(DeepProductError):
    """The golden bundle cannot be written (bad output folder, or a self-check failed)."""


class Writer:
    """Writes files under the bundle root and records them for the manifest."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, dict[str, Any]] = {}

    def write(self, rel: str, data: bytes, layout: str) -> str:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files[rel] = {
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "layout": layout,
        }
        return rel

    def array(self, rel: str, array: np.ndarray, layout: str) -> str:
        dtype = {np.dtype(np.float32): "<f4", np.dtype(np.int32): "<i4", np.dtype(np.uint8): "u1"}
        data = np.ascontiguousarray(array, dtype[array.dtype]).tobytes()
        return self.write(rel, data, f"{layout}, shape {list(array.shape)}")

    def json(self, rel: str, value: Any, layout: str) -> str:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return self.write(rel, text.encode("utf-8"), layout)


def check_replaceable(out: Path) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise GoldenError(f"{out}: exists and is not a folder")
    manifest = out / MANIFEST
    if any(out.iterdir()) and not _is_bundle(manifest):
        raise GoldenError(
            f"{out}: folder is not empty and holds no golden bundle; refusing to replace it"
        )


def _is_bundle(manifest: Path) -> bool:
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("format") == GOLDEN_FORMAT
    except (OSError, ValueError, AttributeError):
        return False
