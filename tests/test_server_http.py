"""mobile_sdk.server.http_service: the search service over a local index and over Milvus.

Answers must equal the backend's own search; every bad request is a 4xx JSON error
(never a 500); one check runs the real ``deepproduct serve`` (uvicorn) on loopback. The
image path (``serve --model``) is checked against ``deepproduct search`` with the small
exported model in test_server_images.py.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
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

from fastapi.testclient import TestClient  # noqa: E402

from mobile_sdk.index import ProductIndex, quantize_int8  # noqa: E402
from mobile_sdk.server.http_service import create_app  # noqa: E402
from mobile_sdk.server.milvus_index import MilvusIndex, connect  # noqa: E402
from mobile_sdk.server.publish import publish  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "android_demo" / "core" / "src" / "test" / "resources" / "remote"
DIM = 16


@pytest.fixture(scope="module")
def catalog() -> ProductIndex:
    ids, rows = clustered(40, 3, DIM, seed=20)
    return ProductIndex.from_arrays(ids, rows, FINGERPRINT, "int8")


@pytest.fixture(scope="module")
def client(catalog) -> TestClient:
    return TestClient(create_app(catalog, max_body_bytes=4096))


def _as_json(hits) -> list[dict]:
    return [{"product_id": h.product_id, "score": h.score} for h in hits]


def test_an_embedding_gets_the_index_answer(catalog, client):
    for q in photo_queries(catalog.vectors.astype(np.float32), 10, seed=21):
        r = client.post("/search?k=4", json={"embedding": q.tolist()})
        assert r.status_code == 200, r.text
        assert r.json() == {"results": _as_json(catalog.search(q, 4)), "model": FINGERPRINT}
        r = client.post("/search?k=7&min_score=0.9", json={"embedding": q.tolist()})
        assert r.json()["results"] == _as_json(catalog.search(q, 7, min_score=0.9))


def test_int8_codes_in_base64_get_the_same_answer(catalog, client):
    q = photo_queries(catalog.vectors.astype(np.float32), 1, seed=22)[0]
    codes = quantize_int8(q)
    r = client.post(
        "/search",
        json={"embedding_int8": base64.b64encode(codes.tobytes()).decode(), "model": FINGERPRINT},
    )
    assert r.status_code == 200, r.text
    assert r.json()["results"] == _as_json(catalog.search(q, 5))
    assert len(base64.b64encode(codes.tobytes())) == 24  # 16 bytes -> 24 characters


def test_health_reports_the_catalog(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ok",
        "backend": "local",
        "source": "index",
        "rows": 120,
        "dimension": DIM,
        "model": FINGERPRINT,
        "image_queries": False,
    }


def test_the_model_fingerprint_is_checked(client):
    q = [1.0] * DIM
    assert client.post("/search", json={"embedding": q, "model": "AB" * 32}).status_code == 200
    r = client.post("/search", json={"embedding": q, "model": OTHER_FINGERPRINT})
    assert r.status_code == 409
    assert "model cdcdcdcdcdcdcdcd..." in r.json()["error"]
    assert "built with model abababababababab..." in r.json()["error"]


def _nan_body() -> bytes:
    return ('{"embedding": [NaN' + ", 1" * (DIM - 1) + "]}").encode()


BAD_REQUESTS = [
    # (what, path, body, content type, status, part of the message)
    (
        "malformed JSON",
        "/search",
        b'{"embedding": [1, 2',
        "application/json",
        400,
        "malformed JSON",
    ),
    ("not an object", "/search", b"[1, 2]", "application/json", 400, "must be an object"),
    ("NaN", "/search", _nan_body(), "application/json", 400, "NaN is not a number JSON allows"),
    (
        "wrong length",
        "/search",
        json.dumps({"embedding": [1.0] * (DIM - 1)}).encode(),
        "application/json",
        400,
        f"has {DIM - 1} values; this catalog's vectors have {DIM}",
    ),
    (
        "all zeros",
        "/search",
        json.dumps({"embedding": [0.0] * DIM}).encode(),
        "application/json",
        400,
        "all zeros",
    ),
    (
        "strings",
        "/search",
        json.dumps({"embedding": ["1"] * DIM}).encode(),
        "application/json",
        400,
        "numbers only",
    ),
    (
        "too large a float",
        "/search",
        json.dumps({"embedding": [1e39] * DIM}).encode(),
        "application/json",
        400,
        "float32 range",
    ),
    (
        "both vectors",
        "/search",
        json.dumps({"embedding": [1.0] * DIM, "embedding_int8": "AA=="}).encode(),
        "application/json",
        400,
        "exactly one",
    ),
    ("unknown key", "/search", b'{"vector": [1]}', "application/json", 400, "unknown field"),
    (
        "bad base64",
        "/search",
        b'{"embedding_int8": "not base64!"}',
        "application/json",
        400,
        "not valid base64",
    ),
    (
        "short int8",
        "/search",
        json.dumps({"embedding_int8": base64.b64encode(bytes(8)).decode()}).encode(),
        "application/json",
        400,
        "holds 8 codes",
    ),
    (
        "int8 off the rule",
        "/search",
        json.dumps({"embedding_int8": base64.b64encode(bytes([128] + [1] * 15)).decode()}).encode(),
        "application/json",
        400,
        "INDEX_FORMAT.md section 3",
    ),
    (
        "malformed model",
        "/search",
        json.dumps({"embedding": [1.0] * DIM, "model": "v2"}).encode(),
        "application/json",
        400,
        "model fingerprint must be 64 hex digits",
    ),
    ("text", "/search", b"hello", "text/plain", 415, "content type 'text/plain'"),
    ("k zero", "/search?k=0", b'{"embedding": []}', "application/json", 400, "k must be from 1"),
    ("k text", "/search?k=five", b"{}", "application/json", 400, "k: "),
    ("k huge", "/search?k=1000", b"{}", "application/json", 400, "k must be from 1 to 100"),
    ("min_score nan", "/search?min_score=nan", b"{}", "application/json", 400, "finite"),
    (
        "photo without a model",
        "/search",
        b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n'
        b"xx\r\n--b--\r\n",
        "multipart/form-data; boundary=b",
        400,
        "no model for photos",
    ),
]


@pytest.mark.parametrize(
    "path,body,content_type,status,message",
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_requests_get_a_4xx_json_error(client, path, body, content_type, status, message):
    r = client.post(path, content=body, headers={"content-type": content_type})
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    assert "Traceback" not in r.text


def test_unknown_paths_and_methods_are_json_errors(client):
    assert client.get("/nowhere").json() == {"error": "Not Found"}
    r = client.get("/search")
    assert r.status_code == 405 and "error" in r.json()


def test_an_oversized_body_is_refused_with_the_limit(client):
    big = b'{"embedding": [' + b"1.0, " * 2000 + b"1.0]}"
    r = client.post("/search", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"] == f"request body is {len(big)} bytes; the limit is 4096 bytes"

    def chunks():  # no Content-Length: counted while reading
        for _ in range(100):
            yield b" " * 100

    r = client.post("/search", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"] == "request body exceeds the limit of 4096 bytes"


def test_a_milvus_catalog_answers_like_the_index_and_a_dead_backend_is_503(catalog, tmp_path):
    uri = str(tmp_path / "http.db")
    publish(catalog, uri, "shop", "FLAT", progress=False)
    milvus = MilvusIndex(uri, "shop")
    client = TestClient(create_app(milvus))
    health = client.get("/health").json()
    assert (health["backend"], health["rows"], health["source"]) == (
        "milvus",
        120,
        f"{uri} collection shop",
    )
    for q in photo_queries(catalog.vectors.astype(np.float32), 10, seed=23):
        got = client.post("/search", json={"embedding": q.tolist()}).json()["results"]
        exact = catalog.search(q, 5)
        assert [g["product_id"] for g in got] == [h.product_id for h in exact]
        assert np.allclose([g["score"] for g in got], [h.score for h in exact], atol=1e-5)
    admin = connect(uri)
    admin.drop_alias("shop")
    admin.drop_collection(milvus.collection)
    r = client.post("/search", json={"embedding": [1.0] * DIM})
    assert r.status_code == 503 and "collection not found" in r.json()["error"]
    milvus.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=body, headers={"content-type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_deepproduct_serve_answers_over_loopback(catalog, tmp_path):
    catalog.save(tmp_path / "catalog.dpi")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mobile_sdk.cli", "serve", "--index", tmp_path / "catalog.dpi"]
        + ["--port", str(port), "--max-body-bytes", "2000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as r:
                    assert json.loads(r.read())["rows"] == 120
                    break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "serve did not start in 60 s"
                time.sleep(0.2)
        q = catalog.vectors[5].astype(np.float32)
        status, answer = _post(base + "/search?k=3", json.dumps({"embedding": q.tolist()}).encode())
        assert status == 200 and answer["results"] == _as_json(catalog.search(q, 3))
        status, answer = _post(base + "/search", b"x" * 3000)
        assert status == 413 and "the limit is 2000 bytes" in answer["error"]
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    assert f"at http://127.0.0.1:{port}" in out and "Traceback" not in err


def _cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mobile_sdk.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_serve_refuses_a_bad_catalog_in_one_line(tmp_path):
    r = _cli("serve", "--port", _free_port())
    assert r.returncode == 2 and "give either --index catalog.dpi or --uri" in r.stderr
    r = _cli("serve", "--uri", tmp_path / "empty.db", "--collection", "shop")
    assert r.returncode == 2 and "collection not found; publish it first" in r.stderr
    assert "Traceback" not in r.stderr


# The Java core's RemoteSearch is tested against these answers (RemoteSearchTest); they
# are recorded from this service, and this test fails when the service's answers change.
# DEEPPRODUCT_RECORD=1 rewrites them.
RECORDED_CASES = {
    "ok": ("/search?k=3", {"embedding": [1.0, 0.2, 0.0, 0.0]}),
    "ok_int8": (
        "/search?k=2",
        {"embedding_int8": base64.b64encode(bytes([127, 25, 0, 0])).decode()},
    ),
    "no_match": ("/search?k=3&min_score=0.99", {"embedding": [1.0, 0.2, 0.0, 0.0]}),
    "model_mismatch": ("/search", {"embedding": [1.0, 0.0, 0.0, 0.0], "model": OTHER_FINGERPRINT}),
    "wrong_length": ("/search", {"embedding": [1.0, 0.0]}),
    "too_large": ("/search", {"embedding_int8": "A" * 600}),
}


def _recorded_service() -> TestClient:
    ids = ["mug", "shoe", "shoe", "lamp"]
    rows = np.array([[1, 0, 0, 0], [0.6, 0.8, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], np.float32)
    return TestClient(
        create_app(ProductIndex.from_arrays(ids, rows, FINGERPRINT), max_body_bytes=512)
    )


@pytest.mark.parametrize("name", sorted(RECORDED_CASES))
def test_the_java_clients_recorded_answers_are_the_services(name):
    import os

    path, body = RECORDED_CASES[name]
    r = _recorded_service().post(path, json=body)
    answer = {"request": {"path": path, "body": body}, "status": r.status_code, "body": r.json()}
    file = RECORDED / f"{name}.json"
    if os.environ.get("DEEPPRODUCT_RECORD") == "1":
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(answer, indent=2) + "\n")
    assert json.loads(file.read_text()) == answer, (
        f"{file} is stale: rerun with DEEPPRODUCT_RECORD=1"
    )
