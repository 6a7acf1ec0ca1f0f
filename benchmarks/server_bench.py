"""Server benchmark (issue 20): publish time, query latency and a load test of ``serve``.

For N seeded rows of photo-like vectors (``benchmarks.catalog_vectors``: categories,
products, several rows per product) it measures, one query at a time:

- the on-device exact search (``ProductIndex.search``, float32 and int8), the baseline;
- for each Milvus index type: ``publish`` time into a fresh Milvus Lite folder, then
  ``MilvusIndex.search`` p50/p99 and recall@10 (products) against the exact float32
  search;
- ``deepproduct serve`` (uvicorn, a separate process) over loopback HTTP on the last
  published catalog and on the local ``.dpi``: sequential p50/p99 of ``POST /search``
  with int8 codes, the serve process's resident memory, and a bounded load test (R
  requests from C concurrent clients, each on its own keep-alive connection):
  throughput, p50/p99 and the error count.

    python -m benchmarks.server_bench [--rows 100000] [--dim 256] [--queries 300]
        [--index-types FLAT HNSW IVF_SQ8] [--requests 2000] [--clients 4]
        [--milvus-uri http://host:19530] [--json benchmarks/report/server_bench.json]

Milvus Lite runs in-process, in Python on numpy and faiss; a Milvus standalone or
cluster answers with its own (C++) engine, so Milvus Lite numbers are not a server's:
``--milvus-uri`` runs the same measurements against a server (without authentication).
"""

from __future__ import annotations

import os

# One BLAS thread, set before numpy loads (as benchmarks/index_search.py): per-query
# latency on one core, and no spinning BLAS threads on a machine whose cores are shared.
# The serve processes inherit it.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import base64  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.catalog_vectors import clustered, photo_queries  # noqa: E402
from mobile_sdk.atomic_file import write_text_atomic  # noqa: E402
from mobile_sdk.errors import DeepProductError, run_reporting_errors  # noqa: E402
from mobile_sdk.index import ProductIndex, quantize_int8  # noqa: E402

FINGERPRINT = "sha256:" + "5e" * 32
ROOT = Path(__file__).resolve().parents[1]


def _percentiles(ms: list[float]) -> dict[str, float]:
    """p50 / p99 (nearest rank) and the mean, in milliseconds."""
    values = np.sort(np.asarray(ms))
    rank = lambda p: values[min(len(values) - 1, int(np.ceil(p / 100 * len(values))) - 1)]  # noqa: E731
    return {
        "p50_ms": round(float(rank(50)), 3),
        "p99_ms": round(float(rank(99)), 3),
        "mean_ms": round(float(values.mean()), 3),
    }


def _timed(fn, queries) -> tuple[list, dict[str, float]]:
    answers, ms = [], []
    for q in queries:
        start = time.perf_counter()
        answers.append(fn(q))
        ms.append(1000 * (time.perf_counter() - start))
    return answers, _percentiles(ms)


def _recall(exact: list, got: list) -> float:
    hits = sum(
        len({r.product_id for r in e} & {r.product_id for r in g})
        for e, g in zip(exact, got, strict=True)
    )
    return round(hits / sum(len(e) for e in exact), 4)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


class _Serve:
    """``deepproduct serve`` in a child process, on a free loopback port."""

    def __init__(self, catalog_args: list[str]) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mobile_sdk.cli", "serve", *catalog_args]
            + ["--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 300
        while True:
            try:
                status, _ = self.post("/health", None, method="GET")
                if status == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise DeepProductError(f"serve did not start: {self.process.stderr.read()[-2000:]}")
            if time.monotonic() > deadline:
                self.close()
                raise DeepProductError("serve did not answer /health within 300 s")
            time.sleep(0.2)

    def post(self, path: str, body: bytes | None, method: str = "POST", conn=None):
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            headers = {"content-type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            if own:
                conn.close()

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _bodies(queries: np.ndarray) -> list[bytes]:
    """Search bodies as the phone sends them: int8 codes, base64."""
    return [
        json.dumps(
            {"embedding_int8": base64.b64encode(quantize_int8(q).tobytes()).decode()}
        ).encode()
        for q in queries
    ]


def _measure_serve(serve: _Serve, bodies: list[bytes], requests: int, clients: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=60)
    ms = []
    for body in bodies:
        start = time.perf_counter()
        status, _ = serve.post("/search?k=10", body, conn=conn)
        ms.append(1000 * (time.perf_counter() - start))
        if status != 200:
            raise DeepProductError(f"serve answered {status} to a valid query")
    conn.close()
    result = {"sequential": _percentiles(ms), "serve_rss_mb": _rss_mb(serve.process.pid)}

    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    per_client = requests // clients

    def client(c: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=60)
        mine = []
        failed = 0
        for i in range(per_client):
            body = bodies[(c * per_client + i) % len(bodies)]
            start = time.perf_counter()
            try:
                status, _ = serve.post("/search?k=10", body, conn=conn)
                failed += status != 200
            except OSError:
                failed += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=60)
            mine.append(1000 * (time.perf_counter() - start))
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    result["load"] = {
        "requests": per_client * clients,
        "clients": clients,
        "seconds": round(wall, 2),
        "throughput_per_s": round(per_client * clients / wall, 1),
        **_percentiles(latencies),
        "errors": errors[0],
    }
    return result


def run(args: argparse.Namespace) -> dict:
    """All measurements as one JSON-able dict (see the module docstring)."""
    report: dict = {
        "command": "python -m benchmarks.server_bench " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "rows": args.rows,
        "dim": args.dim,
        "rows_per_product": args.rows_per_product,
        "queries": args.queries,
    }
    print(f"catalog: {args.rows} rows x {args.dim}-d ...", flush=True)
    ids, rows = clustered(args.rows // args.rows_per_product, args.rows_per_product, args.dim, 0)
    queries = photo_queries(rows, args.queries, seed=1)
    local = {
        dtype: ProductIndex.from_arrays(ids, rows, FINGERPRINT, dtype)
        for dtype in ("float32", "int8")
    }
    exact, timing = _timed(lambda q: local["float32"].search(q, 10), queries)
    report["on_device"] = {
        "float32": {**timing, "memory_mb": round(local["float32"].nbytes / 2**20, 1)}
    }
    got, timing = _timed(lambda q: local["int8"].search(q, 10), queries)
    report["on_device"]["int8"] = {
        **timing,
        "memory_mb": round(local["int8"].nbytes / 2**20, 1),
        "recall_at_10": _recall(exact, got),
    }
    print(f"on-device exact: {report['on_device']}", flush=True)

    work = Path(tempfile.mkdtemp(prefix="server_bench_", dir=args.workdir))
    try:
        _server_side(args, report, local, exact, queries, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # Milvus Lite folders: GBs at 1M rows
    return report


def _server_side(
    args: argparse.Namespace,
    report: dict,
    local: dict[str, ProductIndex],
    exact: list,
    queries: np.ndarray,
    work: Path,
) -> None:
    """Milvus (publish, MilvusIndex) and serve measurements, added to ``report``."""
    from mobile_sdk.server.milvus_index import MilvusIndex, release_local
    from mobile_sdk.server.publish import publish

    report["milvus"] = {}
    uri = None
    engine = "Milvus" if args.milvus_uri else "Milvus Lite"
    collection = "bench"
    for index_type in args.index_types:
        if args.milvus_uri:  # a server: one collection per index type
            uri, collection = args.milvus_uri, f"bench_{index_type.lower()}"
        else:
            uri = str(work / f"{index_type.lower()}.db")
        result = publish(
            local["float32"], uri, collection, index_type, replace=True, progress=not args.quiet
        )
        with MilvusIndex(uri, collection) as milvus:
            got, timing = _timed(lambda q: milvus.search(q, 10), queries)  # noqa: B023
        report["milvus"][index_type] = {
            "engine": engine,
            "publish_s": round(result.seconds, 1),
            **timing,
            "recall_at_10": _recall(exact, got),
        }
        if not args.milvus_uri:
            files = [f for f in Path(uri).rglob("*") if f.is_file()]
            report["milvus"][index_type]["disk_mb"] = round(
                sum(f.stat().st_size for f in files) / 2**20, 1
            )
            release_local(uri)  # serve opens it from another process
        print(f"{engine} {index_type}: {report['milvus'][index_type]}", flush=True)

    bodies = _bodies(queries)
    report["serve"] = {}
    local["float32"].save(work / "catalog.dpi")
    backends = [("local .dpi (float32)", ["--index", str(work / "catalog.dpi")])]
    if uri is not None:
        backends.append(
            (f"{engine} {args.index_types[-1]}", ["--uri", uri, "--collection", collection])
        )
    for name, catalog_args in backends:
        serve = _Serve(catalog_args)
        try:
            report["serve"][name] = _measure_serve(serve, bodies, args.requests, args.clients)
        finally:
            serve.close()
        print(f"serve, {name}: {report['serve'][name]}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the numbers and write them as JSON."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--rows-per-product", type=int, default=4)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--index-types", nargs="+", default=["FLAT", "IVF_SQ8", "HNSW"])
    p.add_argument("--requests", type=int, default=2000, help="load test: requests in all")
    p.add_argument("--clients", type=int, default=4, help="load test: concurrent clients")
    p.add_argument("--workdir", help="where the Milvus Lite folders go (default: the temp dir)")
    p.add_argument(
        "--milvus-uri",
        help="a Milvus server (http://host:19530) instead of Milvus Lite folders; the "
        "collections bench_<index type> are replaced (token: $MILVUS_TOKEN is not read here)",
    )
    p.add_argument("--json", default="benchmarks/report/server_bench.json")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    report = run(args)
    write_text_atomic(args.json, json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main, "server_bench.py"))
