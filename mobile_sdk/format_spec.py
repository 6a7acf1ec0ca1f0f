"""The machine-readable half of each file format: one JSON file per format in ``formats/``.

``formats/index_format.json`` (INDEX_FORMAT.md), ``formats/model_metadata.json`` and
``formats/preprocess.json`` (PREPROCESSING.md) hold the constants both runtimes need:
limits, header layout, keys, rule names. The Python modules take their constants from
here; the Android core keeps its own ``static final`` copies, and its tests
(``FormatSpecTest``) read the same files, so changing a value on one side only fails
``make test``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

FORMATS = ("index_format", "model_metadata", "preprocess")


@cache
def load_spec(name: str) -> dict[str, Any]:
    """The spec of format ``name`` (one of :data:`FORMATS`), as a dict.

    Raises:
        ValueError: ``name`` is not a known format.
    """
    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r}; known: {', '.join(FORMATS)}")
    return json.loads((files("mobile_sdk") / "formats" / f"{name}.json").read_text("utf-8"))
