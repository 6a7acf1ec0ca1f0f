"""mobile_sdk.server: publish a .dpi to Milvus (Lite, in a tmp folder) and search it.

FLAT must give exactly ProductIndex's top-k (same products, same order; scores within
SCORE_TOLERANCE, Milvus's float32 inner product against the index's own float32 /
exact int8 arithmetic); HNSW recall@10 >= 0.99 on a seeded 100k clustered set;
publishing is idempotent, refuses another model's catalog unless replace, and a publish
killed midway (an exception, or SIGKILL of the process) leaves the previous catalog
serving. Every bad input is one clear DeepProductError.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _server_helpers import (
    FINGERPRINT,
    OTHER_FINGERPRINT,
    clustered,
    photo_queries,
    require_server_extra,
)

require_server_extra()

from mobile_sdk.index import (  # noqa: E402
    FingerprintMismatchError,
    IndexFormatError,
    ProductIndex,
    VectorError,
)
from mobile_sdk.server import publish as publish_module  # noqa: E402
from mobile_sdk.server.milvus_index import (  # noqa: E402
    MilvusError,
    MilvusIndex,
    connect,
    release_local,
)
from mobile_sdk.server.publish import publish  # noqa: E402

SCORE_TOLERANCE = 1e-5
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def uri(tmp_path_factory) -> str:
    """One Milvus Lite catalog folder for the module (each test uses its own collection)."""
    return str(tmp_path_factory.mktemp("milvus") / "catalog.db")


def _index(dtype: str = "float32", seed: int = 0, products: int = 1500, dim: int = 64):
    ids, rows = clustered(products, 3, dim, seed)
    return ProductIndex.from_arrays(ids, rows, FINGERPRINT, dtype)


def _published(uri: str, collection: str) -> list[str]:
    client = connect(uri)
    try:
        return sorted(n for n in client.list_collections() if n.startswith(collection + "_"))
    finally:
        client.close()


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_flat_returns_the_exact_top_k(uri, dtype):
    index = _index(dtype)
    publish(index, uri, f"flat_{dtype}", "FLAT", progress=False)
    queries = photo_queries(index.vectors.astype(np.float32), 60, seed=1)
    with MilvusIndex(uri, f"flat_{dtype}") as milvus:
        assert (len(milvus), milvus.dim, milvus.fingerprint) == (4500, 64, FINGERPRINT)
        for q in queries:
            for k, min_score in ((10, None), (3, 0.8)):
                exact = index.search(q, k, min_score)
                got = milvus.search(q, k, min_score)
                assert [r.product_id for r in got] == [r.product_id for r in exact]
                assert np.allclose(
                    [r.score for r in got], [r.score for r in exact], rtol=0, atol=SCORE_TOLERANCE
                )
        # a min_score above every score: no results, like ProductIndex
        assert milvus.search(queries[0], 5, min_score=1.01) == []


def test_many_rows_of_one_product_still_give_k_products(uri):
    # 40 near-identical rows per product: the first rows Milvus returns hold one product
    ids, rows = clustered(50, 40, 16, seed=3, spread=0.01)
    index = ProductIndex.from_arrays(ids, rows, FINGERPRINT)
    publish(index, uri, "dense", "FLAT", progress=False)
    with MilvusIndex(uri, "dense") as milvus:
        got = milvus.search(rows[0], 12)
    assert [r.product_id for r in got] == [r.product_id for r in index.search(rows[0], 12)]
    assert len(got) == 12


@pytest.mark.slow
def test_hnsw_recall_at_10_on_100k_clustered_vectors(tmp_path):
    # 25,000 products x 4 photo-like rows in 500 categories. 128-d rather than the model's
    # 256 to keep the HNSW build (most of this test's time) near 30 s on 2 busy cores;
    # benchmarks/server_bench.py measures 256-d.
    ids, rows = clustered(25_000, 4, 128, seed=7)
    index = ProductIndex.from_arrays(ids, rows, FINGERPRINT)
    uri = str(tmp_path / "hnsw.db")
    start = time.perf_counter()
    publish(index, uri, "big", "HNSW", progress=False, batch_rows=10_000)
    published = time.perf_counter() - start
    queries = photo_queries(rows, 100, seed=8)
    hits = 0
    with MilvusIndex(uri, "big") as milvus:
        assert milvus.index_type == "HNSW" and len(milvus) == 100_000
        for q in queries:
            exact = {r.product_id for r in index.search(q, 10)}
            hits += len(exact & {r.product_id for r in milvus.search(q, 10)})
    recall = hits / (10 * len(queries))
    print(f"HNSW 100k x 128: publish {published:.1f} s, recall@10 {recall:.4f}")
    assert recall >= 0.99


def test_publishing_the_same_index_twice_leaves_one_copy(uri):
    index = _index(seed=2)
    first = publish(index, uri, "twice", "FLAT", progress=False)
    second = publish(index, uri, "twice", "FLAT", progress=False)
    assert (first.action, second.action) == ("created", "unchanged")
    assert second.collection == first.collection
    assert _published(uri, "twice") == [first.collection]
    assert "unchanged" in second.summary() and "4500 rows" in second.summary()


def test_new_content_switches_the_alias_and_drops_the_old_collection(uri):
    old, new = _index(seed=4), _index(seed=5)
    first = publish(old, uri, "update", "FLAT", progress=False)
    second = publish(new, uri, "update", "FLAT", progress=False)
    assert second.action == "updated" and second.collection != first.collection
    assert _published(uri, "update") == [second.collection]
    q = new.vectors[0]
    with MilvusIndex(uri, "update") as milvus:
        assert milvus.collection == second.collection
        assert [r.product_id for r in milvus.search(q, 5)] == [
            r.product_id for r in new.search(q, 5)
        ]
    # another index type of the same content is a new build too
    third = publish(new, uri, "update", "HNSW", progress=False)
    assert third.action == "updated" and third.index_type == "HNSW"


def test_another_model_or_dimension_is_refused_unless_replace(uri):
    publish(_index(seed=6), uri, "guarded", "FLAT", progress=False)
    ids, rows = clustered(100, 2, 64, seed=6)
    other_model = ProductIndex.from_arrays(ids, rows, OTHER_FINGERPRINT)
    with pytest.raises(FingerprintMismatchError, match="pass --replace"):
        publish(other_model, uri, "guarded", "FLAT", progress=False)
    ids, rows = clustered(100, 2, 32, seed=6)
    other_dim = ProductIndex.from_arrays(ids, rows, FINGERPRINT)
    with pytest.raises(FingerprintMismatchError, match=r"\(64-d\).*\(32-d\)"):
        publish(other_dim, uri, "guarded", "FLAT", progress=False)
    result = publish(other_model, uri, "guarded", "FLAT", replace=True, progress=False)
    assert result.action == "replaced"
    with MilvusIndex(uri, "guarded") as milvus:
        assert milvus.fingerprint == OTHER_FINGERPRINT and len(milvus) == 200


def test_a_publish_failing_midway_leaves_the_previous_catalog_serving(uri, monkeypatch):
    old, new = _index(seed=9), _index(seed=10)
    before = publish(old, uri, "midway", "FLAT", progress=False)
    calls = []

    def insert_then_die(client, collection, rows, where):
        calls.append(len(rows))
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the insert loop
        client.insert(collection, rows)

    monkeypatch.setattr(publish_module, "_insert_batch", insert_then_die)
    with pytest.raises(KeyboardInterrupt):
        publish(new, uri, "midway", "FLAT", progress=False, batch_rows=1000)
    assert len(calls) == 2
    assert _published(uri, "midway") == [before.collection]  # the half-built one was dropped
    q = old.vectors[7]
    with MilvusIndex(uri, "midway") as milvus:
        assert milvus.collection == before.collection
        assert [r.product_id for r in milvus.search(q, 5)] == [
            r.product_id for r in old.search(q, 5)
        ]


_KILLED_PUBLISH = """
import sys, time
from mobile_sdk.index import ProductIndex
from mobile_sdk.server import publish as p
real = p._insert_batch
def slow(client, collection, rows, where):
    real(client, collection, rows, where)
    print("inserted", flush=True)
    time.sleep(30)
p._insert_batch = slow
p.publish(ProductIndex.load(sys.argv[1]), sys.argv[2], "killed", "FLAT", progress=False,
          batch_rows=500)
"""


def test_a_publish_killed_with_sigkill_leaves_the_previous_catalog_serving(tmp_path):
    uri = str(tmp_path / "kill.db")  # its own folder: Milvus Lite locks it per process
    old, new = _index(seed=11, products=300), _index(seed=12, products=300)
    new.save(tmp_path / "new.dpi")
    before = publish(old, uri, "killed", "FLAT", progress=False)
    release_local(uri)
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_PUBLISH, str(tmp_path / "new.dpi"), uri],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        line = child.stdout.readline()
        assert line.strip() == "inserted", child.stderr.read()
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    leftover = [n for n in _published(uri, "killed") if n != before.collection]
    assert len(leftover) == 1  # the half-built collection of the killed publish
    q = old.vectors[3]
    with MilvusIndex(uri, "killed") as milvus:
        assert milvus.collection == before.collection
        assert [r.product_id for r in milvus.search(q, 5)] == [
            r.product_id for r in old.search(q, 5)
        ]
    after = publish(new, uri, "killed", "FLAT", progress=False)
    assert _published(uri, "killed") == [after.collection]  # the leftover is gone too


def test_bad_uris_are_clear_errors(tmp_path):
    with pytest.raises(MilvusError, match="not a Milvus URI"):
        MilvusIndex("ftp://example/x", "products")
    with pytest.raises(MilvusError, match="must be a path ending in .db"):
        MilvusIndex(str(tmp_path / "catalog.sqlite"), "products")
    with pytest.raises(MilvusError, match="does not exist"):
        MilvusIndex(str(tmp_path / "no" / "such" / "catalog.db"), "products")
    with pytest.raises(MilvusError, match="cannot connect to Milvus"):
        MilvusIndex("http://127.0.0.1:1", "products", timeout=2)
    (tmp_path / "file.db").write_text("not a folder")
    with pytest.raises(MilvusError, match="not a Milvus Lite data folder"):
        MilvusIndex(str(tmp_path / "file.db"), "products")


def test_missing_and_foreign_collections_are_clear_errors(uri):
    with pytest.raises(MilvusError, match="collection not found; publish it first"):
        MilvusIndex(uri, "nothing_here")
    with pytest.raises(IndexFormatError, match="not valid"):
        MilvusIndex(uri, "bad-name!")
    from pymilvus import DataType, MilvusClient

    client = connect(uri)
    schema = MilvusClient.create_schema(auto_id=True)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    client.create_collection("foreign", schema=schema)
    client.close()
    with pytest.raises(MilvusError, match="not a DeepProduct catalog"):
        MilvusIndex(uri, "foreign")
    with pytest.raises(MilvusError, match="is a collection, not an alias"):
        publish(_index(seed=13, products=20), uri, "foreign", "FLAT", progress=False)


def test_query_and_argument_errors(uri):
    index = _index(seed=14, products=50)
    publish(index, uri, "errors", "FLAT", progress=False)
    with pytest.raises(FingerprintMismatchError, match="publish an index built with this model"):
        MilvusIndex(uri, "errors", expected_fingerprint=OTHER_FINGERPRINT)
    with MilvusIndex(uri, "errors", expected_fingerprint=FINGERPRINT) as milvus:
        with pytest.raises(VectorError, match=r"expected shape \(N, 64\)"):
            milvus.search(np.ones(32, np.float32))
        with pytest.raises(VectorError, match="all zeros"):
            milvus.search(np.zeros(64, np.float32))
        with pytest.raises(IndexFormatError, match="k must be"):
            milvus.search(np.ones(64, np.float32), k=0)
        with pytest.raises(IndexFormatError, match="NaN"):
            milvus.search(np.ones(64, np.float32), min_score=float("nan"))
    with pytest.raises(IndexFormatError, match="index type must be one of"):
        publish(index, uri, "errors", "DISKANN", progress=False)
    with pytest.raises(IndexFormatError, match="empty"):
        publish(ProductIndex(64, FINGERPRINT), uri, "empty", "FLAT", progress=False)


def _cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mobile_sdk.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_publish_command(tmp_path):
    index = _index(seed=15, products=100)
    index.save(tmp_path / "catalog.dpi")
    uri = tmp_path / "cli.db"
    r = _cli("publish", "--index", tmp_path / "catalog.dpi", "--uri", uri, "--quiet")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("published 300 rows (100 products, HNSW) ->")
    r = _cli("publish", "--index", tmp_path / "catalog.dpi", "--uri", uri, "--quiet")
    assert r.returncode == 0 and r.stdout.startswith("unchanged:"), r.stderr
    r = _cli("publish", "--index", tmp_path / "missing.dpi", "--uri", uri)
    assert r.returncode == 2 and "missing.dpi: index file not found" in r.stderr
    r = _cli("publish", "--index", tmp_path / "catalog.dpi", "--uri", "ftp://nowhere")
    assert r.returncode == 2 and "not a Milvus URI" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_local_catalog_refusing_one_connection_is_tried_again(tmp_path, monkeypatch):
    import pymilvus
    from pymilvus.exceptions import MilvusException

    from mobile_sdk.server import milvus_index

    calls = []

    def flaky(**kwargs):
        calls.append(kwargs["uri"])
        if len(calls) == 1:
            raise MilvusException(message="server unavailable")
        return "client"

    monkeypatch.setattr(pymilvus, "MilvusClient", flaky)
    monkeypatch.setattr(milvus_index.time, "sleep", lambda s: None)
    uri = str(tmp_path / "c.db")
    assert milvus_index.connect(uri) == "client" and calls == [uri, uri]

    def down(**kwargs):
        calls.append(kwargs["uri"])
        raise MilvusException(message="server unavailable")

    calls.clear()
    monkeypatch.setattr(pymilvus, "MilvusClient", down)
    with pytest.raises(
        MilvusError, match=r"c\.db: cannot connect to Milvus \(server unavailable\)"
    ):
        milvus_index.connect(uri)
    assert len(calls) == milvus_index.LITE_CONNECT_TRIES
