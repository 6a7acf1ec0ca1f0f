"""What runs inside the arm64 root: the runtime on one golden bundle (step 5)."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

TOP_K = 5


def run_inside(bundle: Path, result: Path) -> dict[str, Any]:
    """Run the runtime on one golden bundle (this is what executes on arm64).

    Writes ``result`` (JSON): the platform, versions, per input whether the
    preprocessed tensor is bit-identical to the bundle's, the raw and normalised
    embeddings and the top-5 of both indexes, and the replay of the stored searches.
    """
    from importlib import metadata

    from mobile_sdk.embedder import Embedder, EmbedderOptions
    from mobile_sdk.index import ProductIndex
    from mobile_sdk.model_metadata import read_model_metadata
    from mobile_sdk.preprocess import preprocess

    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    model = bundle / manifest["model"]["file"]
    config = read_model_metadata(model).preprocess
    index_doc = manifest["index"]
    fingerprint = index_doc["fingerprint"]
    indexes = {
        dtype: ProductIndex.load(bundle / f["file"], expected_fingerprint=fingerprint)
        for dtype, f in index_doc["files"].items()
    }
    inputs = []
    embed_seconds = []
    with (
        Embedder.from_model_path(model, EmbedderOptions(l2_normalize=False)) as raw_model,
        Embedder.from_model_path(model) as model_normalized,
    ):
        for entry in manifest["inputs"]:
            tensor = preprocess(bundle / entry["png"], config)
            golden = np.fromfile(bundle / entry["tensor"], "<f4").reshape(tensor.shape)
            t0 = time.perf_counter()
            raw = raw_model.embed_input(tensor[None])[0]
            embed_seconds.append(time.perf_counter() - t0)
            normalized = model_normalized.embed_input(tensor[None])[0]
            inputs.append(
                {
                    "name": entry["name"],
                    "tensor_bit_exact": bool(
                        np.array_equal(tensor.view(np.uint32), golden.view(np.uint32))
                    ),
                    "raw": raw.tolist(),
                    "normalized": normalized.tolist(),
                    "top": {
                        dtype: [[h.product_id, h.score] for h in index.search(normalized, TOP_K)]
                        for dtype, index in indexes.items()
                    },
                }
            )
    queries = np.fromfile(bundle / index_doc["queries"], "<f4").reshape(-1, index_doc["dimension"])
    replayed = []
    for s in index_doc["searches"]:
        hits = indexes[s["dtype"]].search(queries[s["query"]], k=s["k"], min_score=s["min_score"])
        replayed.append([[h.product_id, h.score] for h in hits])
    doc = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "versions": {p: metadata.version(p) for p in ("ai-edge-litert", "numpy", "pillow")},
        "embed_seconds_median": float(np.median(embed_seconds)),
        "inputs": inputs,
        "searches": replayed,
    }
    result.write_text(json.dumps(doc), encoding="utf-8")
    return doc
