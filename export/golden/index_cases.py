"""The golden bundle's indexes and searches, and damaged or mismatched indexes with the
error each must raise (through ``ProductSearch`` for a pairing error)."""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from export.golden.bundle import SEARCH_K, SEED, GoldenError, Writer
from export.golden.images import Input, synthetic_photo
from mobile_sdk.dataset_layout import scan_dataset
from mobile_sdk.embedder import Embedder
from mobile_sdk.index import FingerprintMismatchError, IndexFormatError, ProductIndex
from mobile_sdk.product_search import ProductSearch

_GAP = 2e-5  # min_score thresholds stay this far from every score (see _safe_threshold)


def _catalog_rows(
    model_path: Path, catalog_dir: str | os.PathLike | None, inputs: list[Input]
) -> tuple[list[str], list[str], np.ndarray]:
    """Row ids, row sources and normalised embeddings of the golden index."""
    with Embedder.from_model_path(model_path) as model:
        if catalog_dir is not None:
            folder = Path(catalog_dir)
            root = folder.parent if folder.name == "catalog" else folder
            items = [(p.product_id, f) for p in scan_dataset(root).products for f in p.catalog]
            vectors = model.embed_batch([f for _, f in items])
            sources = [str(f.relative_to(root)) for _, f in items]
            return [pid for pid, _ in items], sources, vectors
        ids, sources, images = [], [], []
        # The catalog shows each product mirrored, so queries (the unmirrored inputs)
        # score below 1 and differ from each other.
        for i in inputs:
            name = i.entry["name"]
            ids.append(name.replace("tiny", "café"))  # one non-ASCII id
            sources.append(f"mirror of {name}")
            images.append(np.ascontiguousarray(i.rgb[:, ::-1]))
        for j in range(3):
            ids.append(f"distractor-{j}")
            sources.append(f"generated distractor {j}")
            images.append(synthetic_photo(160 + 40 * j, 200, SEED + 100 + j))
        return ids, sources, model.embed_batch(images)


def write_index(
    writer: Writer,
    model_path: Path,
    metadata: dict[str, Any],
    inputs: list[Input],
    embeddings: dict[str, Any],
    catalog_dir: str | os.PathLike | None,
) -> dict[str, Any]:
    fingerprint = metadata["metadata"]["model_fingerprint"]
    ids, sources, vectors = _catalog_rows(model_path, catalog_dir, inputs)
    # A last row duplicating row 0 under another id: equal scores, so the lower row
    # must rank first (INDEX_FORMAT.md section 4) in both runtimes.
    ids.append(f"zz-duplicate-of-{ids[0]}")
    sources.append("copy of row 0's vector")
    vectors = np.vstack([vectors, vectors[:1]])

    normalized = embeddings["normalized"]
    rng = np.random.default_rng(SEED)
    queries = np.vstack(
        [
            normalized,
            embeddings["raw"][:1],  # not unit length: search must normalise / scale-free
            vectors[:1],  # hits the tie between row 0 and its duplicate
            rng.normal(size=(3, normalized.shape[1])).astype(np.float32),
        ]
    ).astype(np.float32)
    query_names = (
        [f"input {i.entry['name']}" for i in inputs]
        + [f"raw (unnormalised) output of {inputs[0].entry['name']}", "row 0 (exact tie)"]
        + [f"random {j}" for j in range(3)]
    )

    index_files = {}
    indexes = {}
    for dtype in ("float32", "int8"):
        index = ProductIndex.from_arrays(ids, vectors, fingerprint, dtype)
        data = _index_bytes(index, writer.root)
        rel = writer.write(f"index/catalog_{dtype}.dpi", data, "INDEX_FORMAT.md v1")
        loaded = ProductIndex.load(writer.root / rel, expected_fingerprint=fingerprint)
        indexes[dtype] = loaded
        index_files[dtype] = {
            "file": rel,
            "rows": len(loaded),
            "products": len(loaded.product_ids),
            "vectors": writer.array(
                f"index/catalog_{dtype}.rows.f32",
                loaded.vectors.astype(np.float32),
                "stored rows as float32 (unit vectors, or the int8 codes)",
            ),
        }
    n_products = len(indexes["int8"].product_ids)
    searches = []
    for qi, q in enumerate(queries):
        row_scores = np.concatenate([index.scores(q) for index in indexes.values()])
        lowest_top1 = min(index.search(q, k=1)[0].score for index in indexes.values())
        cut = _safe_threshold(row_scores[row_scores < lowest_top1], row_scores, lowest_top1)
        for dtype, index in indexes.items():
            for k, min_score in ((SEARCH_K, None), (n_products, None), (SEARCH_K, cut)):
                if k == n_products and qi >= len(inputs) + 2:
                    continue  # full rankings for the real inputs and the tie are enough
                hits = index.search(q, k=k, min_score=min_score)
                entry = {
                    "query": qi,
                    "dtype": dtype,
                    "k": k,
                    "min_score": min_score,
                    "expected": [{"id": h.product_id, "score": h.score} for h in hits],
                }
                if dtype == "int8" and k == SEARCH_K and min_score is None:
                    entry["row_scores"] = index.scores(q).tolist()
                searches.append(entry)

    all_scores = np.concatenate([ix.scores(q) for ix in indexes.values() for q in normalized])
    top1 = np.array([ix.search(q, k=1)[0].score for ix in indexes.values() for q in normalized])
    # About half of the inputs match, half do not: both sides of "no match".
    threshold = _safe_threshold(all_scores, all_scores, float(np.median(top1)))
    if threshold is None:
        raise GoldenError("no score gap wide enough for the no-match threshold")
    end_to_end = []
    for dtype, index in indexes.items():
        for j, i in enumerate(inputs):
            hits = index.search(normalized[j], k=SEARCH_K, min_score=threshold)
            end_to_end.append(
                {
                    "input": i.entry["name"],
                    "dtype": dtype,
                    "k": SEARCH_K,
                    "min_score": threshold,
                    "expected": [{"id": h.product_id, "score": h.score} for h in hits],
                }
            )
    manifest = {
        "fingerprint": fingerprint,
        "dimension": int(vectors.shape[1]),
        "row_ids": ids,
        "row_sources": sources,
        "catalog_dir": None if catalog_dir is None else str(catalog_dir),
        "files": index_files,
        "queries": writer.array("index/queries.f32", queries, "float32 query vectors"),
        "query_names": query_names,
        "searches": searches,
        "end_to_end": end_to_end,
        "no_match_threshold": threshold,
        "notes": (
            "int8 scores are bit-exact (INDEX_FORMAT.md section 4): compare doubles exactly. "
            "float32 scores depend on the dot product's summation order: compare within "
            "D * 2^-23 (twice the worst-case float32 summation error of unit vectors)."
        ),
    }
    return {"manifest": manifest, "indexes": indexes, "ids": ids, "vectors": vectors}


def _safe_threshold(candidates: np.ndarray, scores: np.ndarray, target: float) -> float | None:
    """A ``min_score`` near ``target``, at least ``_GAP / 2`` from every value of ``scores``.

    float32 scores differ between implementations in their last bits; a threshold
    that close to a score could keep a row in one runtime and drop it in the other.
    The result is the midpoint of a gap between sorted ``scores`` whose midpoint is
    the closest to ``target``, or None when no gap (among ``candidates``) is wide enough.
    """
    values = np.unique(scores)
    gaps = np.diff(values)
    mids = (values[:-1] + values[1:]) / 2
    ok = (gaps > _GAP) & np.isin(values[:-1], candidates)
    if not ok.any():
        return None
    mids = mids[ok]
    return float(mids[np.argmin(np.abs(mids - target))])


def _index_bytes(index: ProductIndex, scratch: Path) -> bytes:
    """The file ``index.save`` writes, as bytes."""
    path = scratch / ".scratch.dpi"
    index.save(path)
    try:
        return path.read_bytes()
    finally:
        path.unlink()


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def write_bad_files(
    writer: Writer, metadata: dict[str, Any], index_info: dict[str, Any]
) -> list[dict[str, Any]]:
    """Damaged and mismatched indexes, each with the error Python raises for it."""
    fingerprint = metadata["metadata"]["model_fingerprint"]
    good = (writer.root / index_info["manifest"]["files"]["int8"]["file"]).read_bytes()
    body = good[:-4]
    ids, vectors = index_info["ids"], index_info["vectors"]
    other_fp = "sha256:" + hashlib.sha256(b"another model").hexdigest()

    def saved(index: ProductIndex) -> bytes:
        return _index_bytes(index, writer.root)

    flipped = bytearray(good)
    flipped[len(good) - 10] ^= 0x01  # inside the vectors
    code_row0 = len(body) - len(ids) * vectors.shape[1]  # first byte of the int8 vectors
    peak = int(np.argmax(np.abs(index_info["indexes"]["int8"].vectors[0])))
    bad_code = bytearray(body)
    bad_code[code_row0 + peak] = 0x80  # -128
    version2 = bytearray(body)
    version2[4:6] = struct.pack("<H", 2)
    short = vectors[:, :-1]
    cases = [
        ("flipped_byte", bytes(flipped), "corrupt", "checksum"),
        ("truncated", good[: len(good) - 7], "truncated", "truncated"),
        ("trailing_bytes", good + b"\0", "trailing bytes", "unexpected bytes"),
        ("bad_magic", b"DPIY" + good[4:], "not an index", "not a DeepProduct index"),
        ("version_2", _with_crc(bytes(version2)), "unsupported version", "version"),
        ("code_minus_128", _with_crc(bytes(bad_code)), "int8 code -128", "-128"),
        (
            "other_fingerprint",
            saved(ProductIndex.from_arrays(ids, vectors, other_fp, "int8")),
            "built with another model",
            "built with model",
        ),
        (
            "other_dimension",
            saved(ProductIndex.from_arrays(ids, short, fingerprint, "int8")),
            "dimension differs from the model's embedding_dim",
            "dimension",
        ),
    ]
    out = []
    # the pairing check of ProductSearch, with the bundle's own model
    with Embedder.from_model_path(writer.root / "model.tflite") as embedder:
        for name, data, problem, message in cases:
            rel = writer.write(f"index/bad/{name}.dpi", data, "damaged or mismatched index")
            python_error, java_exception, stage = _python_outcome(writer.root / rel, embedder)
            python_error = python_error.replace(f"{writer.root}{os.sep}", "")
            out.append(
                {
                    "file": rel,
                    "problem": problem,
                    "load_with_fingerprint": fingerprint,
                    "stage": stage,
                    "python_error": python_error,
                    "java_exception": java_exception,
                    "message_contains": message,
                }
            )
    return out


def _python_outcome(path: Path, embedder: Embedder) -> tuple[str, str, str]:
    """What the Python runtime raises for ``path``: (error text, Java exception, stage).

    ``stage`` is ``"load"`` (the reader refuses the file) or ``"product_search"`` (the
    file is a valid index but of another dimension: ``ProductSearch`` refuses the
    pair when it is built, in Python as in Java).
    """
    try:
        index = ProductIndex.load(path, expected_fingerprint=embedder.fingerprint)
    except FingerprintMismatchError as e:
        return str(e), "FingerprintMismatchException", "load"
    except IndexFormatError as e:
        return str(e), "IndexFormatException", "load"
    try:
        ProductSearch(embedder, index)
    except IndexFormatError as e:
        return str(e), "IndexFormatException", "product_search"
    raise GoldenError(f"{path}: damaged index was accepted by the Python runtime")
