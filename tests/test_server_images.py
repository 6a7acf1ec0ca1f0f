"""``deepproduct serve --model``: a photo gets the same top-5 as ``deepproduct search``.

Uses the small exported model of the other export tests (tests/_export_helpers.py), a
local index made by ``deepproduct index``, and the same index published to Milvus Lite
(FLAT).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _export_helpers import require_export_extra, small_export
from _server_helpers import OTHER_FINGERPRINT, require_server_extra

require_export_extra()
require_server_extra()

from fastapi.testclient import TestClient  # noqa: E402

from mobile_sdk.embedder import Embedder  # noqa: E402
from mobile_sdk.index import ProductIndex  # noqa: E402
from mobile_sdk.server.http_service import create_app  # noqa: E402
from mobile_sdk.server.milvus_index import MilvusIndex  # noqa: E402
from mobile_sdk.server.publish import publish  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mobile_sdk.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """The small export, its catalog indexed by the CLI, and ``deepproduct search``'s answers."""
    small = small_export(tmp_path_factory)
    model = small.dist / "model.tflite"
    index = tmp_path_factory.mktemp("shop") / "catalog.dpi"
    r = _cli("index", "--model", model, "--catalog", small.data, "--out", index, "--quiet")
    assert r.returncode == 0, r.stderr
    photos = sorted((small.data / "photos").glob("*/*"))
    r = _cli("search", "--model", model, "--index", index, *photos, "--k", "5", "--json")
    assert r.returncode == 0, r.stderr
    return model, index, photos, json.loads(r.stdout)


def _upload(client: TestClient, photo: Path, **form: str):
    files = {"image": (photo.name, photo.read_bytes(), "image/jpeg")}
    return client.post("/search?k=5", files=files, data=form)


def test_a_photo_gets_the_top_5_of_deepproduct_search(shop, tmp_path):
    model, index_path, photos, expected = shop
    with Embedder.from_model_path(model) as embedder:
        index = ProductIndex.load(index_path, expected_fingerprint=embedder.fingerprint)
        local = TestClient(create_app(index, embedder))
        assert local.get("/health").json()["image_queries"] is True
        uri = str(tmp_path / "shop.db")
        publish(index, uri, "shop", "FLAT", progress=False)
        milvus = TestClient(
            create_app(
                MilvusIndex(uri, "shop", expected_fingerprint=embedder.fingerprint), embedder
            )
        )
        for photo in photos:
            want = expected[str(photo)]
            r = _upload(local, photo, model=embedder.fingerprint)
            assert r.status_code == 200, r.text
            got = r.json()["results"]
            # the CLI prints scores rounded to 6 places
            assert [(g["product_id"], round(g["score"], 6)) for g in got] == [
                (w["product_id"], w["score"]) for w in want
            ]
            got = _upload(milvus, photo).json()["results"]
            assert [g["product_id"] for g in got] == [w["product_id"] for w in want]
            assert np.allclose([g["score"] for g in got], [w["score"] for w in want], atol=2e-6)


def test_bad_uploads_are_4xx(shop):
    model, index_path, photos, _ = shop
    with Embedder.from_model_path(model) as embedder:
        client = TestClient(create_app(ProductIndex.load(index_path), embedder))
        r = client.post("/search", files={"image": ("notes.txt", b"just text", "text/plain")})
        assert r.status_code == 415 and r.json()["error"].startswith("notes.txt: ")
        truncated = photos[0].read_bytes()[:200]
        r = client.post("/search", files={"image": ("cut.jpg", truncated, "image/jpeg")})
        assert r.status_code == 415 and "cut.jpg" in r.json()["error"]
        r = client.post("/search", data={"photo": "x"}, files={"other": ("a", b"b")})
        assert r.status_code == 400 and "field 'image'" in r.json()["error"]
        r = _upload(client, photos[0], model=OTHER_FINGERPRINT)
        assert r.status_code == 409


def test_serve_refuses_an_index_of_another_model(shop, tmp_path):
    model, _, _, _ = shop
    other = ProductIndex(32, OTHER_FINGERPRINT, "int8")
    other.add("x", np.ones(32, np.float32))
    other.save(tmp_path / "other.dpi")
    r = _cli("serve", "--index", tmp_path / "other.dpi", "--model", model, "--port", "0")
    assert r.returncode == 2 and "rebuild the index with this model" in r.stderr
    assert "Traceback" not in r.stderr
