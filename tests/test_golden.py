"""Golden bundle (export.golden): complete, consistent, and equal to the Python runtime.

The Java core is tested against these files (tests/test_android_core.py), so here
every file is recomputed through the public Python API and compared bit for bit.
The model is the small export shared with test_export.py.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from _export_helpers import EMBEDDING_DIM, require_export_extra, small_export

require_export_extra()

from export.golden import GOLDEN_FORMAT, GoldenError, orient_like_spec, write_golden  # noqa: E402
from mobile_sdk.embedder import Embedder  # noqa: E402
from mobile_sdk.image_io import load_image  # noqa: E402
from mobile_sdk.index import FingerprintMismatchError, IndexFormatError, ProductIndex  # noqa: E402
from mobile_sdk.model_metadata import ModelMetadata, read_model_metadata  # noqa: E402
from mobile_sdk.preprocess import normalize, preprocess, resize_weights  # noqa: E402
from mobile_sdk.product_search import ProductSearch  # noqa: E402


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return small_export(tmp_path_factory)


@pytest.fixture(scope="module")
def bundle(small, tmp_path_factory) -> Path:
    return write_golden(small.dist / "model.tflite", tmp_path_factory.mktemp("g") / "golden")


@pytest.fixture(scope="module")
def manifest(bundle) -> dict:
    return json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))


def _f32(bundle: Path, rel: str) -> np.ndarray:
    return np.frombuffer((bundle / rel).read_bytes(), "<f4")


def _argb(bundle: Path, rel: str, width: int, height: int) -> np.ndarray:
    return np.frombuffer((bundle / rel).read_bytes(), "<i4").reshape(height, width)


def _to_argb(rgb: np.ndarray) -> np.ndarray:
    p = rgb.astype(np.uint32)
    return ((255 << 24) | (p[..., 0] << 16) | (p[..., 1] << 8) | p[..., 2]).view(np.int32)


def _paths(value) -> list[str]:
    """Every string in the manifest that names a bundle file (has a folder or a suffix)."""
    if isinstance(value, dict):
        return [p for v in value.values() for p in _paths(v)]
    if isinstance(value, list):
        return [p for v in value for p in _paths(v)]
    suffixes = (".png", ".argb", ".u8", ".f32", ".json", ".dpi", ".tflite")
    return [value] if isinstance(value, str) and value.endswith(suffixes) else []


def test_every_file_is_listed_with_its_checksum(bundle, manifest):
    assert manifest["format"] == GOLDEN_FORMAT
    on_disk = {str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file()} - {
        "manifest.json"
    }
    assert on_disk == set(manifest["files"])
    for rel, info in manifest["files"].items():
        data = (bundle / rel).read_bytes()
        assert info["bytes"] == len(data)
        assert info["sha256"] == hashlib.sha256(data).hexdigest()
    referenced = set(_paths({k: v for k, v in manifest.items() if k != "files"}))
    assert referenced - {"manifest.json"} == on_disk


def test_inputs_cover_the_required_cases(manifest):
    inputs = {e["name"]: e for e in manifest["inputs"]}
    sizes = {(e["width"], e["height"]) for e in inputs.values()}
    assert {(348, 464), (640, 200), (7, 5)} <= sizes
    exif = [e for e in inputs.values() if e["orientation"] == 6]
    assert exif and (exif[0]["stored_width"], exif[0]["stored_height"]) == (480, 360)
    assert any(e["has_alpha"] for e in inputs.values())
    assert sorted(c["orientation"] for c in manifest["orientation_cases"]) == list(range(1, 9))


def test_tensors_equal_the_runtime_preprocess(bundle, manifest, small):
    config = read_model_metadata(small.dist / "model.tflite").preprocess
    n = config.input_size
    for e in manifest["inputs"]:
        expected = preprocess(bundle / e["png"], config)
        tensor = _f32(bundle, e["tensor"]).reshape(n, n, 3)
        assert np.array_equal(tensor.view(np.uint32), expected.view(np.uint32)), e["name"]
        resized = np.frombuffer((bundle / e["resized"]).read_bytes(), np.uint8).reshape(n, n, 3)
        assert np.array_equal(normalize(resized, config).view(np.uint32), tensor.view(np.uint32))
    roi = manifest["inputs"][0]["roi"]
    expected = preprocess(bundle / manifest["inputs"][0]["png"], config, roi=tuple(roi["box"]))
    assert np.array_equal(_f32(bundle, roi["tensor"]).reshape(n, n, 3), expected)


def test_argb_pixels_are_the_decoded_oriented_image(bundle, manifest):
    for e in manifest["inputs"]:
        argb = _argb(bundle, e["argb"], e["width"], e["height"])
        rgb = load_image(bundle / e["png"])
        if e["has_alpha"]:
            a = (argb.view(np.uint32) >> 24).astype(np.int32)[..., None]
            c = np.stack([(argb.view(np.uint32) >> s) & 255 for s in (16, 8, 0)], -1).astype(
                np.int32
            )
            composited = ((c * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)
            assert np.array_equal(composited, rgb), e["name"]
            assert (a < 255).any() and (a == 0).any()
        else:
            assert np.array_equal(argb, _to_argb(rgb)), e["name"]
        if e["orientation"] != 1:
            stored = _argb(bundle, e["stored_argb"], e["stored_width"], e["stored_height"])
            assert np.array_equal(orient_like_spec(stored, e["orientation"]), argb)


def test_orientation_cases_match_pil(bundle, manifest):
    for c in manifest["orientation_cases"]:
        stored = _argb(bundle, c["stored_argb"], c["stored_width"], c["stored_height"])
        oriented = _argb(bundle, c["argb"], c["width"], c["height"])
        assert np.array_equal(oriented, _to_argb(load_image(bundle / c["png"])))
        assert np.array_equal(oriented, orient_like_spec(stored, c["orientation"]))
    # 6 is a clockwise quarter turn: the stored bottom-left pixel lands top-left.
    a = np.arange(6).reshape(2, 3)
    assert orient_like_spec(a, 6).tolist() == [[3, 0], [4, 1], [5, 2]]


def test_weight_tables_equal_resize_weights(bundle, manifest):
    for rel in manifest["inputs"][0]["weights"].values():
        table = json.loads((bundle / rel).read_text())
        index, weight = resize_weights(table["in_size"], table["out_size"])
        assert table["index"] == index.tolist()
        assert table["weight"] == weight.tolist()
        assert all(sum(row) == 16384 for row in table["weight"])


def test_metadata_and_bad_metadata(bundle, manifest, small):
    model = manifest["model"]
    assert (bundle / "model.tflite").read_bytes() == (small.dist / "model.tflite").read_bytes()
    assert (
        ModelMetadata.from_json((bundle / "metadata.json").read_bytes()).to_dict()
        == (model["metadata"])
    )
    assert model["metadata"]["embedding_dim"] == EMBEDDING_DIM
    for case in model["bad_metadata"]:
        with pytest.raises(ValueError, match=case["field"]):
            ModelMetadata.from_json((bundle / case["file"]).read_text())


def test_embeddings_are_the_embedder_output(bundle, manifest, small):
    d = EMBEDDING_DIM
    raw = _f32(bundle, manifest["embeddings"]["raw"]).reshape(-1, d)
    normalized = _f32(bundle, manifest["embeddings"]["normalized"]).reshape(-1, d)
    assert manifest["embeddings"]["order"] == [e["name"] for e in manifest["inputs"]]
    with Embedder.from_model_path(small.dist / "model.tflite") as embedder:
        for i, e in enumerate(manifest["inputs"]):
            assert np.array_equal(embedder.embed(bundle / e["png"]), normalized[i]), e["name"]
    np.testing.assert_allclose(np.linalg.norm(normalized, axis=1), 1.0, atol=1e-6)
    cos = np.sum(raw * normalized, axis=1) / np.linalg.norm(raw, axis=1)
    np.testing.assert_allclose(cos, 1.0, atol=1e-6)


def test_index_searches_equal_product_index(bundle, manifest):
    info = manifest["index"]
    queries = _f32(bundle, info["queries"]).reshape(-1, info["dimension"])
    indexes = {
        dtype: ProductIndex.load(bundle / f["file"], expected_fingerprint=info["fingerprint"])
        for dtype, f in info["files"].items()
    }
    assert set(indexes) == {"float32", "int8"}
    for index in indexes.values():
        assert index.row_ids == info["row_ids"]
        # the last row duplicates row 0: the tie-break case
        assert index.vectors[-1].tolist() == index.vectors[0].tolist()
    assert "café_7x5" in info["row_ids"]
    for s in info["searches"]:
        hits = indexes[s["dtype"]].search(queries[s["query"]], k=s["k"], min_score=s["min_score"])
        assert [{"id": h.product_id, "score": h.score} for h in hits] == s["expected"]
        if "row_scores" in s:
            assert indexes["int8"].scores(queries[s["query"]]).tolist() == s["row_scores"]
    cut = [s for s in info["searches"] if s["min_score"] is not None]
    assert cut and all(s["expected"] for s in cut)
    assert all(r["score"] >= s["min_score"] for s in cut for r in s["expected"])
    # the tie query (row 0's own vector) must rank row 0 first in int8
    tie = next(i for i, name in enumerate(info["query_names"]) if "tie" in name)
    int8_tie = next(s for s in info["searches"] if s["query"] == tie and s["dtype"] == "int8")
    assert [r["id"] for r in int8_tie["expected"][:2]] == [info["row_ids"][0], info["row_ids"][-1]]
    assert int8_tie["expected"][0]["score"] == int8_tie["expected"][1]["score"]


def test_end_to_end_has_matches_and_no_matches(manifest):
    e2e = manifest["index"]["end_to_end"]
    assert {c["dtype"] for c in e2e} == {"float32", "int8"}
    assert any(c["expected"] for c in e2e) and any(not c["expected"] for c in e2e)
    threshold = manifest["index"]["no_match_threshold"]
    assert all(r["score"] >= threshold for c in e2e for r in c["expected"])


def test_bad_indexes_raise_the_recorded_errors(bundle, manifest):
    kinds = {c["file"].split("/")[-1]: c for c in manifest["bad_files"]}
    assert set(kinds) >= {
        "flipped_byte.dpi",
        "truncated.dpi",
        "other_fingerprint.dpi",
        "other_dimension.dpi",
    }
    for c in manifest["bad_files"]:
        path = bundle / c["file"]
        if c["stage"] == "product_search":
            # a valid index of another dimension: refused when paired with the model
            index = ProductIndex.load(path, expected_fingerprint=c["load_with_fingerprint"])
            assert index.dim != manifest["index"]["dimension"]
            with Embedder.from_model_path(bundle / "model.tflite") as embedder:
                with pytest.raises(IndexFormatError) as info:
                    ProductSearch(embedder, index)
            assert c["message_contains"] in str(info.value)
            assert str(info.value) == f"{bundle}{os.sep}{c['python_error']}"
            continue
        error = (
            FingerprintMismatchError
            if c["java_exception"] == "FingerprintMismatchException"
            else IndexFormatError
        )
        with pytest.raises(error) as info:
            ProductIndex.load(path, expected_fingerprint=c["load_with_fingerprint"])
        assert c["message_contains"] in str(info.value)
        assert str(info.value) == f"{bundle}{os.sep}{c['python_error']}"


def test_catalog_rows_come_from_the_catalog(small, tmp_path):
    out = write_golden(
        small.dist / "model.tflite", tmp_path / "g", catalog_dir=small.data / "catalog"
    )
    info = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["index"]
    index = ProductIndex.load(out / info["files"]["int8"]["file"])
    products = sorted(p.name for p in (small.data / "catalog").iterdir())
    assert index.product_ids[: len(products)] == products
    assert info["row_ids"][-1] == f"zz-duplicate-of-{info['row_ids'][0]}"
    assert all(src.startswith("catalog/") for src in info["row_sources"][:-1])


def test_rewrite_is_deterministic_and_refuses_foreign_folders(small, bundle, manifest, tmp_path):
    again = write_golden(small.dist / "model.tflite", tmp_path / "again")
    assert json.loads((again / "manifest.json").read_text())["files"] == manifest["files"]
    write_golden(small.dist / "model.tflite", again)  # replacing an earlier bundle is fine
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(GoldenError, match="refusing"):
        write_golden(small.dist / "model.tflite", foreign)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_golden_command_prints_a_summary(small, tmp_path, capsys):
    from mobile_sdk.cli import main

    model = small.dist / "model.tflite"
    assert main(["golden", "--model", model, "--out", tmp_path / "b", "--quiet"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("wrote golden bundle: ") and out[-1].endswith(str(tmp_path / "b"))
