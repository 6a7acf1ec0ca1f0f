"""Command-line smoke tests: index, search, evaluate on a small exported model."""

import json
import subprocess
import sys

import pytest
from _export_helpers import require_export_extra, small_export

require_export_extra()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return small_export(tmp_path_factory)


def cli(*args, check=True):
    r = subprocess.run(
        [sys.executable, "-m", "mobile_sdk.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert r.returncode == 0, r.stderr
    return r


def test_index_search_round_trip(exported, tmp_path):
    index = tmp_path / "catalog.dpi"
    model = exported.dist / "model.tflite"
    r = cli(
        "index", "--model", model, "--catalog", exported.data / "catalog", "--out", index, "--quiet"
    )
    assert "indexed 4 products" in r.stdout and index.exists()
    photo = sorted((exported.data / "photos").glob("*/*"))[0]
    r = cli("search", "--model", model, "--index", index, photo, "--k", "2", "--json")
    hits = json.loads(r.stdout)[str(photo)]
    assert len(hits) == 2 and hits[0]["score"] >= hits[1]["score"]


def test_approx_index_then_search_through_it(exported, tmp_path):
    """deepproduct approx-index, then search --approx: on 4 products the graph offers every
    row, so the results equal the exact search's, scores included."""
    pytest.importorskip("usearch", reason="the approx extra (usearch) is not installed")
    index, graph = tmp_path / "catalog.dpi", tmp_path / "catalog.hnsw"
    model = exported.dist / "model.tflite"
    cli(
        "index", "--model", model, "--catalog", exported.data / "catalog", "--out", index, "--quiet"
    )
    r = cli("approx-index", "--index", index, "--out", graph, "--quiet", "--threads", "1")
    assert "HNSW over" in r.stdout and graph.exists()
    photos = [str(p) for p in sorted((exported.data / "photos").glob("*/*"))[:3]]
    exact = cli("search", "--model", model, "--index", index, *photos, "--k", "3", "--json")
    approx = cli(
        "search",
        "--model",
        model,
        "--index",
        index,
        "--approx",
        graph,
        *photos,
        "--k",
        "3",
        "--json",
    )
    assert json.loads(approx.stdout) == json.loads(exact.stdout)
    wrong = cli(
        "search", "--model", model, "--index", index, "--approx", index, photos[0], check=False
    )
    assert wrong.returncode != 0 and "not an approximate index" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_index_views_default_single_and_extra(exported, tmp_path):
    from mobile_sdk.embedder import Embedder
    from mobile_sdk.index import ProductIndex

    model = exported.dist / "model.tflite"
    catalog = sorted((exported.data / "catalog").glob("*/*"))
    base = ("index", "--model", model, "--catalog", exported.data, "--quiet", "--out")
    r = cli(*base, tmp_path / "default.dpi")  # default: the model's crop + the whole image
    assert f"indexed 4 products ({len(catalog)} images x 2 views, int8)" in r.stdout
    default = ProductIndex.load(tmp_path / "default.dpi")
    with Embedder.from_model_path(model) as embedder:
        first = ProductIndex(embedder.embedding_dim, embedder.fingerprint, "int8")
        first.add(catalog[0].parent.name, embedder.embed(catalog[0]))
        first.add(catalog[0].parent.name, embedder.embed(catalog[0], crop_fraction=1.0))
    assert (default.vectors[:2] == first.vectors).all()  # image 0: its crop, then whole
    r = cli(*base, tmp_path / "single.dpi", "--single-view")
    assert f"indexed 4 products ({len(catalog)} images, int8)" in r.stdout
    single = ProductIndex.load(tmp_path / "single.dpi")
    assert (single.vectors == default.vectors[::2]).all()
    r = cli(*base, tmp_path / "three.dpi", "--extra-crop", "1.0", "--extra-crop", "0.7")
    assert f"({len(catalog)} images x 3 views, int8)" in r.stdout
    assert (ProductIndex.load(tmp_path / "three.dpi").vectors[1::3] == default.vectors[1::2]).all()
    for bad, message in [
        (["--extra-crop", "0"], "extra crop fraction must be in (0, 1], got 0.0"),
        (["--extra-crop", "1", "--single-view"], "not allowed with argument"),
    ]:
        r = cli(*base, tmp_path / "x.dpi", *bad, check=False)
        assert r.returncode == 2 and message in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and not (tmp_path / "x.dpi").exists()


def test_search_reports_bad_image_and_continues(exported, tmp_path):
    index = tmp_path / "catalog.dpi"
    model = exported.dist / "model.tflite"
    cli("index", "--model", model, "--catalog", exported.data, "--out", index, "--quiet")
    bad = tmp_path / "bad photo.jpg"
    bad.write_text("not an image")
    good = sorted((exported.data / "photos").glob("*/*"))[0]
    r = cli("search", "--model", model, "--index", index, good, bad, check=False)
    assert r.returncode == 2
    assert "1." in r.stdout and "bad photo.jpg" in r.stdout and "Traceback" not in r.stderr


def test_search_refuses_index_from_another_model(exported, tmp_path):
    from mobile_sdk.index import ProductIndex

    other = ProductIndex(32, "0" * 64, "int8")
    import numpy as np

    other.add("x", np.ones(32, np.float32))
    other.save(tmp_path / "other.dpi")
    photo = sorted((exported.data / "photos").glob("*/*"))[0]
    r = cli(
        "search",
        "--model",
        exported.dist / "model.tflite",
        "--index",
        tmp_path / "other.dpi",
        photo,
        check=False,
    )
    assert r.returncode == 2 and "rebuild the index" in r.stderr and "Traceback" not in r.stderr


def test_evaluate_tflite_writes_json(exported, tmp_path):
    out = tmp_path / "result.json"
    r = cli(
        "evaluate",
        "--model",
        exported.dist / "model.tflite",
        "--data",
        exported.data,
        "--json",
        out,
        "--quiet",
    )
    result = json.loads(out.read_text())
    assert set(result) == {"top1", "top5", "map", "queries", "products", "model"}
    assert result["queries"] == 8 and result["products"] == 4
    assert 0.0 <= result["top1"] <= result["top5"] <= 1.0
    assert f"top-1 {result['top1']:.3f}" in r.stdout
