"""Approximate (HNSW) against exact int8 search on clustered vectors: recall, time, size.

Generator (seeded): categories of 20 products (look-alikes: apple varieties, milk
cartons); a product's centre is its category's random unit direction plus its own
(cosine ~0.6 between products of a category); ``rows // 3`` products with 3 rows each at
the centre plus Gaussian noise of norm 0.6 (cosine to the centre ~0.85, several views of
one product); queries are centres plus noise of norm 0.8 (a phone photo is further from
the catalog views than they are from each other). Not i.i.d. Gaussian rows: on those
every neighbour is as far as every other and no index can find "the" nearest.

For each row count: the .dpi is written and loaded (memory-mapped from 16 MiB), the HNSW
graph is built from it (``build_approx_index``; wall time, all cores) and loaded
(memory-mapped), then every query runs on both, one thread, interleaved: recall@10 is the
share of the exact top-10 products the approximate top-10 holds. HNSW time is taken
twice: "after a scan" is the interleaved pass (each graph query follows an exact scan that
has flushed the CPU caches), "back to back" a second pass of graph queries only (a
query service's steady state; each query still walks its own part of the graph).

    python -m benchmarks.approx_search [--rows 20000,100000] [--dim 256] [--queries 200]
        [--connectivity 32] [--expansion-search 64]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import hashlib  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from mobile_sdk.approx_index import (  # noqa: E402
    DEFAULT_CONNECTIVITY,
    DEFAULT_EXPANSION_ADD,
    ApproxIndex,
    build_approx_index,
)
from mobile_sdk.errors import run_reporting_errors  # noqa: E402
from mobile_sdk.index import ProductIndex  # noqa: E402

FINGERPRINT = hashlib.sha256(b"deepproduct approx benchmark").hexdigest()
ROWS_PER_PRODUCT = 3
PRODUCTS_PER_CATEGORY = 20


def clustered(rows: int, dim: int, queries: int, seed: int = 0):
    """(ids, rows, queries) of the generator in the module docstring."""
    rng = np.random.default_rng(seed)
    products = max(1, rows // ROWS_PER_PRODUCT)
    categories = max(1, products // PRODUCTS_PER_CATEGORY)
    family = _unit(rng.standard_normal((categories, dim), np.float32))
    # a product: its category's direction plus its own (cosine ~0.6 within a category)
    own = _unit(rng.standard_normal((products, dim), np.float32))
    centres = _unit(family[np.arange(products) % categories] + 0.8 * own)
    owner = np.arange(rows) % products
    vectors = centres[owner] + (0.6 / np.sqrt(dim)) * rng.standard_normal((rows, dim), np.float32)
    picks = rng.integers(0, products, queries)
    q = centres[picks] + (0.8 / np.sqrt(dim)) * rng.standard_normal((queries, dim), np.float32)
    return [f"p{i:07d}" for i in owner], vectors.astype(np.float32), q.astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def run(
    rows: int,
    dim: int,
    n_queries: int,
    folder: Path,
    threads: int,
    ef: int | None,
    connectivity: int,
) -> dict:
    """One row count: build both indexes, time the queries, measure recall@10."""
    ids, vectors, queries = clustered(rows, dim, n_queries)
    ProductIndex.from_arrays(ids, vectors, FINGERPRINT, "int8").save(folder / "b.dpi")
    del ids, vectors
    index = ProductIndex.load(folder / "b.dpi")
    t0 = time.perf_counter()
    build_approx_index(index, folder / "b.hnsw", connectivity, threads=threads, expansion_search=ef)
    build_s = time.perf_counter() - t0
    approx = ApproxIndex.load(folder / "b.hnsw", index)
    exact_ms, approx_ms, found, total = [], [], 0, 0
    for q in queries:
        t0 = time.thread_time()
        exact = index.search(q, k=10)
        t1 = time.thread_time()
        got = approx.search(q, k=10)
        t2 = time.thread_time()
        exact_ms.append((t1 - t0) * 1e3)
        approx_ms.append((t2 - t1) * 1e3)
        found += len({r.product_id for r in exact} & {r.product_id for r in got})
        total += len(exact)
    warm_ms = []
    for q in queries:
        t0 = time.thread_time()
        approx.search(q, k=10)
        warm_ms.append((time.thread_time() - t0) * 1e3)
    return {
        "rows": rows,
        "build_s": build_s,
        "dpi_mb": (folder / "b.dpi").stat().st_size / 1e6,
        "hnsw_mb": (folder / "b.hnsw").stat().st_size / 1e6,
        "recall10": found / total,
        "exact_p50": float(np.percentile(exact_ms, 50)),
        "exact_p99": float(np.percentile(exact_ms, 99)),
        "approx_p50": float(np.percentile(approx_ms, 50)),
        "approx_p99": float(np.percentile(approx_ms, 99)),
        "warm_p50": float(np.percentile(warm_ms, 50)),
        "warm_p99": float(np.percentile(warm_ms, 99)),
    }


def main(argv: list[str] | None = None) -> int:
    """Print one table row per row count."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="20000,100000", help="comma-separated")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--threads", type=int, default=0, help="build threads (0: all cores)")
    parser.add_argument(
        "--expansion-search",
        type=int,
        default=None,
        help="HNSW ef at query time (and fewest candidates; default: by row count, "
        "mobile_sdk.approx_index.default_expansion_search)",
    )
    parser.add_argument("--connectivity", type=int, default=DEFAULT_CONNECTIVITY, help="HNSW M")
    args = parser.parse_args(argv)
    print(
        "| rows | build s | .dpi MB | .hnsw MB | recall@10 | exact p50 / p99 ms "
        "| HNSW after a scan p50 / p99 ms | HNSW back to back p50 / p99 ms |"
        "\n|---|---|---|---|---|---|---|---|",
        flush=True,
    )
    for rows in (int(r) for r in args.rows.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            r = run(
                rows,
                args.dim,
                args.queries,
                Path(tmp),
                args.threads,
                args.expansion_search,
                args.connectivity,
            )
        print(
            f"| {r['rows']:,} | {r['build_s']:.1f} | {r['dpi_mb']:.1f} | {r['hnsw_mb']:.1f} "
            f"| {r['recall10']:.4f} | {r['exact_p50']:.2f} / {r['exact_p99']:.2f} "
            f"| {r['approx_p50']:.3f} / {r['approx_p99']:.3f} "
            f"| {r['warm_p50']:.3f} / {r['warm_p99']:.3f} |",
            flush=True,
        )
    print(
        f"{args.queries} queries per row count, one thread, thread CPU time; "
        f"M={args.connectivity}, ef {DEFAULT_EXPANSION_ADD} at build, "
        + (
            f"{args.expansion_search} at query"
            if args.expansion_search is not None
            else "ef at query by rows"
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main, Path(__file__).name))
