"""Product-index benchmark: search latency, memory and file I/O on a random catalog.

For each dtype and row count, one process builds a seeded random index (one row per product,
Gaussian vectors) with ``ProductIndex.from_arrays``, checks a few searches against a
brute-force ranking of all rows (full sort of ``index.scores``) and saves it; a
fresh process then loads the file, so that its memory figures are the loaded
index's own, and times ``search`` one query at a time on one thread (wall clock and
thread CPU time; the CPU figure is the one to trust on a busy machine). int8 searches
are timed on the SIMD kernel, on the older widen-to-float32 BLAS kernel and against a
memory-read floor, interleaved (see ``load_and_search``).

    python benchmarks/index_search.py [--count 100000,1000000] [--dim 256] [--queries 50]
        [--dtypes float32,int8] [--json FILE]
"""

from __future__ import annotations

import os

# One thread, set before numpy loads BLAS: the target is per-query latency on one core.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import functools  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import mobile_sdk.index as index_module  # noqa: E402
from mobile_sdk import quantization  # noqa: E402
from mobile_sdk.atomic_file import write_text_atomic  # noqa: E402
from mobile_sdk.errors import run_reporting_errors  # noqa: E402
from mobile_sdk.index import ProductIndex, SearchResult  # noqa: E402

FINGERPRINT = hashlib.sha256(b"deepproduct index benchmark").hexdigest()
BRUTE_FORCE_CHECKS = 3


def rss_mb() -> float:
    """Resident memory of this process now, in MB (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def random_catalog(count: int, dim: int, seed: int) -> tuple[list[str], np.ndarray]:
    """``count`` product ids and (count, dim) float32 Gaussian vectors, seeded."""
    rng = np.random.default_rng(seed)
    return [f"p{i:07d}" for i in range(count)], rng.standard_normal((count, dim), np.float32)


def brute_force(index: ProductIndex, query: np.ndarray, k: int) -> list[SearchResult]:
    """Reference ranking: every score, full sort by (score desc, row asc), first row per id."""
    scores = index.scores(query)
    order = np.lexsort((np.arange(len(scores)), -scores))
    ids = index.row_ids
    found: dict[str, float] = {}
    for row in order:
        found.setdefault(ids[row], float(scores[row]))
        if len(found) == k:
            break
    return [SearchResult(p, s) for p, s in found.items()]


def build_and_save(dtype: str, count: int, dim: int, seed: int, k: int, path: Path) -> dict:
    """Build a random index, check a few searches against brute force, save it to ``path``."""
    ids, vectors = random_catalog(count, dim, seed)
    t0 = time.perf_counter()
    index = ProductIndex.from_arrays(ids, vectors, FINGERPRINT, dtype)
    build_s = time.perf_counter() - t0
    del ids
    queries = np.random.default_rng(seed + 1).standard_normal((BRUTE_FORCE_CHECKS, dim))
    exact = all(index.search(q, k) == brute_force(index, q, k) for q in queries)
    t0 = time.perf_counter()
    index.save(path)
    save_s = time.perf_counter() - t0
    return {
        "build_s": build_s,
        "save_s": save_s,
        "matches_brute_force": exact,
        "nbytes_mb": index.nbytes / 1e6,
        "file_mb": path.stat().st_size / 1e6,
    }


def memory_read_floor(vectors: np.ndarray) -> int:
    """One plain pass over the vectors' bytes (an int64 sum): the least a scan can cost."""
    flat = vectors.reshape(-1).view(np.uint8)
    whole = len(flat) - len(flat) % 8
    return int(np.add.reduce(flat[:whole].view(np.int64))) + int(flat[whole:].sum())


def load_and_search(path: Path, n_queries: int, seed: int, k: int) -> dict:
    """In a fresh process: load ``path``, measure its memory, time single queries.

    Queries are stored rows plus Gaussian noise, so the right answer is known. For
    int8 indexes each query is timed three ways, interleaved so that drift on a busy
    machine hits all alike: ``search`` on the SIMD kernel (the default), ``search`` on
    the older widen-to-float32 BLAS kernel, and the memory-read floor (one plain
    reduction over the same bytes). All three read the same (memory-mapped) rows.
    """
    base_rss = rss_mb()
    t0 = time.perf_counter()
    index = ProductIndex.load(path, expected_fingerprint=FINGERPRINT)
    load_s = time.perf_counter() - t0
    loaded_rss = rss_mb() - base_rss
    rng = np.random.default_rng(seed + 2)
    picks = rng.integers(0, len(index), n_queries)
    rows = index.vectors[picks].astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    queries = rows + 0.5 / np.sqrt(index.dim) * rng.standard_normal(rows.shape, np.float32)
    variants = {"search": lambda q: index.search(q, k)}
    if index.dtype == "int8":
        simd = functools.partial(quantization.int8_dots, kernel="auto")
        blas = functools.partial(quantization.int8_dots, kernel="blas")

        def search_blas(q: np.ndarray) -> list[SearchResult]:
            index_module.int8_dots = blas
            try:
                return index.search(q, k)
            finally:
                index_module.int8_dots = simd

        index_module.int8_dots = simd
        variants["search_blas"] = search_blas
        variants["floor"] = lambda q: memory_read_floor(index.vectors)
    for fn in variants.values():
        fn(queries[0])  # warm-up
    wall = {name: [] for name in variants}
    cpu = {name: [] for name in variants}
    hits = 0
    names = list(variants)
    for i, (q, pick) in enumerate(zip(queries, picks, strict=True)):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            t0, c0 = time.perf_counter(), time.thread_time()
            results = variants[name](q)
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.thread_time() - c0)
            if name == "search":
                hits += results[0].product_id == f"p{pick:07d}"
            elif name == "search_blas":
                assert results == index.search(q, k), "the two kernels disagree"
    out = {
        "kernel": "simsimd SIMD" if quantization.simd_available() else "numpy BLAS",
        "memory_mapped": index.memory_mapped,
        "top1_recovered": hits / n_queries,
        "load_s": load_s,
        "rss_of_loaded_index_mb": loaded_rss,
        "process_rss_mb": rss_mb(),
    }
    for name in names:
        prefix = "" if name == "search" else f"{name}_"
        wall_ms, cpu_ms = np.array(wall[name]) * 1e3, np.array(cpu[name]) * 1e3
        out[f"{prefix}p50_ms"] = float(np.percentile(wall_ms, 50))
        out[f"{prefix}p90_ms"] = float(np.percentile(wall_ms, 90))
        out[f"{prefix}cpu_p50_ms"] = float(np.percentile(cpu_ms, 50))
        out[f"{prefix}cpu_p90_ms"] = float(np.percentile(cpu_ms, 90))
    return out


def run_dtype(dtype: str, count: int, args: argparse.Namespace, folder: Path) -> dict:
    """Both halves of one (dtype, row count) benchmark, each in its own process."""
    path = folder / f"bench.{dtype}.dpix"
    common = ["--count", str(count), "--dim", str(args.dim), "--queries", str(args.queries)]
    common += ["--seed", str(args.seed), "--k", str(args.k), "--file", str(path)]
    row = {"dtype": dtype, "count": count, "dim": args.dim, "queries": args.queries}
    for stage in ("build", "load"):
        cmd = [sys.executable, __file__, "--worker", f"{stage}:{dtype}", *common]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        row.update(json.loads(out.strip().splitlines()[-1]))
    path.unlink()
    return row


def kernel_markdown(rows: list[dict]) -> str:
    """int8 search on each kernel against the memory-read floor, measured in the same run."""
    lines = [
        "| rows x dim | SIMD search p50 ms (CPU) | BLAS search p50 ms (CPU) | floor p50 ms (CPU) "
        "| SIMD / floor | BLAS / floor | mapped |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "floor_p50_ms" not in r:
            continue
        lines.append(
            f"| {r['count']:,} x {r['dim']} | {r['p50_ms']:.2f} ({r['cpu_p50_ms']:.2f}) | "
            f"{r['search_blas_p50_ms']:.2f} ({r['search_blas_cpu_p50_ms']:.2f}) | "
            f"{r['floor_p50_ms']:.2f} ({r['floor_cpu_p50_ms']:.2f}) | "
            f"{r['cpu_p50_ms'] / r['floor_cpu_p50_ms']:.2f} | "
            f"{r['search_blas_cpu_p50_ms'] / r['floor_cpu_p50_ms']:.2f} | "
            f"{'yes' if r['memory_mapped'] else 'no'} |"
        )
    return "\n".join(lines) if len(lines) > 2 else ""


def markdown(rows: list[dict]) -> str:
    """The figures as a Markdown table."""
    head = (
        "| dtype | rows x dim | p50 ms | p90 ms | CPU p50 / p90 ms | top-1 | = brute force "
        "| nbytes MB | RSS of loaded index MB | file MB | build s | save s | load s |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['dtype']} | {r['count']:,} x {r['dim']} | {r['p50_ms']:.1f} | "
            f"{r['p90_ms']:.1f} | {r['cpu_p50_ms']:.1f} / {r['cpu_p90_ms']:.1f} | "
            f"{r['top1_recovered']:.0%} | {'yes' if r['matches_brute_force'] else 'NO'} | "
            f"{r['nbytes_mb']:.0f} | {r['rss_of_loaded_index_mb']:.0f} | {r['file_mb']:.0f} | "
            f"{r['build_s']:.1f} | {r['save_s']:.2f} | {r['load_s']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--count", default="100000,1000000", help="rows (products), comma-separated"
    )
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtypes", default="float32,int8", help="comma-separated")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: "build:int8", ...
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)  # internal
    args = parser.parse_args(argv)

    counts = [int(c) for c in str(args.count).split(",")]
    if args.worker:
        stage, dtype = args.worker.split(":")
        args.count = counts[0]
        if stage == "build":
            result = build_and_save(dtype, args.count, args.dim, args.seed, args.k, args.file)
        else:
            result = load_and_search(args.file, args.queries, args.seed, args.k)
        print(json.dumps(result))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for count in counts:
            for dtype in args.dtypes.split(","):
                print(f"{dtype}: {count:,} x {args.dim}, {args.queries} queries ...", flush=True)
                rows.append(run_dtype(dtype, count, args, Path(tmp)))
    print(markdown(rows))
    if kernel_markdown(rows):
        print(kernel_markdown(rows))
    if args.json:
        write_text_atomic(args.json, json.dumps(rows, indent=2) + "\n")
    where = f"; figures written to {args.json}" if args.json else ""
    summary = ", ".join(f"{r['dtype']} {r['count']:,} p50 {r['p50_ms']:.1f} ms" for r in rows)
    print(f"benchmarked {args.dim}-d indexes on one thread: {summary}{where}")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main, Path(__file__).name))
