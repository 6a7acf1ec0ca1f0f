"""Product-index benchmark: search latency, memory and file I/O on a random catalog.

For each dtype, one process builds a seeded random index (one row per product,
Gaussian vectors) with ``ProductIndex.from_arrays``, checks a few searches against a
brute-force ranking of all rows (full sort of ``index.scores``) and saves it; a
fresh process then loads the file, so that its memory figures are the loaded
index's own, and times ``search`` one query at a time on one thread (wall clock and
thread CPU time; the CPU figure is the one to trust on a busy machine).

    python benchmarks/index_search.py [--count 1000000] [--dim 256] [--queries 50]
        [--dtypes float32,int8] [--json FILE]
"""

from __future__ import annotations

import os

# One thread, set before numpy loads BLAS: the target is per-query latency on one core.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

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


def load_and_search(path: Path, n_queries: int, seed: int, k: int) -> dict:
    """In a fresh process: load ``path``, measure its memory, time single queries.

    Queries are stored rows plus Gaussian noise, so the right answer is known.
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
    index.search(queries[0], k)  # warm-up
    wall, cpu, hits = [], [], 0
    for q, pick in zip(queries, picks, strict=True):
        t0, c0 = time.perf_counter(), time.thread_time()
        results = index.search(q, k)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
        hits += results[0].product_id == f"p{pick:07d}"
    wall_ms, cpu_ms = np.array(wall) * 1e3, np.array(cpu) * 1e3
    return {
        "p50_ms": float(np.percentile(wall_ms, 50)),
        "p90_ms": float(np.percentile(wall_ms, 90)),
        "cpu_p50_ms": float(np.percentile(cpu_ms, 50)),
        "cpu_p90_ms": float(np.percentile(cpu_ms, 90)),
        "top1_recovered": hits / n_queries,
        "load_s": load_s,
        "rss_of_loaded_index_mb": loaded_rss,
        "process_rss_mb": rss_mb(),
    }


def run_dtype(dtype: str, args: argparse.Namespace, folder: Path) -> dict:
    """Both halves of one dtype's benchmark, each in its own process."""
    path = folder / f"bench.{dtype}.dpix"
    common = ["--count", str(args.count), "--dim", str(args.dim), "--queries", str(args.queries)]
    common += ["--seed", str(args.seed), "--k", str(args.k), "--file", str(path)]
    row = {"dtype": dtype, "count": args.count, "dim": args.dim, "queries": args.queries}
    for stage in ("build", "load"):
        cmd = [sys.executable, __file__, "--worker", f"{stage}:{dtype}", *common]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        row.update(json.loads(out.strip().splitlines()[-1]))
    path.unlink()
    return row


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
    parser.add_argument("--count", type=int, default=1_000_000, help="rows (products)")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtypes", default="float32,int8", help="comma-separated")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: "build:int8", ...
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)  # internal
    args = parser.parse_args(argv)

    if args.worker:
        stage, dtype = args.worker.split(":")
        if stage == "build":
            result = build_and_save(dtype, args.count, args.dim, args.seed, args.k, args.file)
        else:
            result = load_and_search(args.file, args.queries, args.seed, args.k)
        print(json.dumps(result))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in args.dtypes.split(","):
            print(f"{dtype}: {args.count:,} x {args.dim}, {args.queries} queries ...", flush=True)
            rows.append(run_dtype(dtype, args, Path(tmp)))
    print(markdown(rows))
    if args.json:
        write_text_atomic(args.json, json.dumps(rows, indent=2) + "\n")
    where = f"; figures written to {args.json}" if args.json else ""
    summary = ", ".join(f"{r['dtype']} p50 {r['p50_ms']:.1f} ms" for r in rows)
    print(f"benchmarked {args.count:,} x {args.dim} on one thread: {summary}{where}")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main, Path(__file__).name))
