"""Embedder and model metadata: options, inputs, post-processing, cosine similarity.

Tests that need a real model use the small export shared with test_export.py and
skip without the [export] extra; the rest need only the runtime.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from _export_helpers import EMBEDDING_DIM, require_export_extra, small_export
from PIL import Image

from mobile_sdk.embedder import Embedder, EmbedderError, EmbedderOptions
from mobile_sdk.model_metadata import (
    METADATA_FORMAT,
    METADATA_NAME,
    ModelMetadata,
    ModelMetadataError,
    onnx_metadata_props,
    read_model_metadata,
)
from mobile_sdk.preprocess_config import PreprocessConfig

FINGERPRINT = "sha256:" + "ab" * 32


def _meta(**changes) -> ModelMetadata:
    fields = dict(
        preprocess=PreprocessConfig(),
        embedding_dim=8,
        l2_normalized_output=False,
        model_fingerprint=FINGERPRINT,
        name="m",
        version="1",
        precision="int8",
    )
    return ModelMetadata(**(fields | changes))


# --- cosine similarity -------------------------------------------------------------


def test_cosine_similarity_values():
    u = np.array([1.0, 0.0, 0.0], np.float32)
    assert Embedder.cosine_similarity(u, u) == pytest.approx(1.0)
    assert Embedder.cosine_similarity(u, np.array([0, 2, 0], np.float32)) == pytest.approx(0.0)
    assert Embedder.cosine_similarity(u, -3 * u) == pytest.approx(-1.0)
    a = np.array([3.0, 4.0], np.float32)
    b = np.array([4.0, 3.0], np.float32)
    assert Embedder.cosine_similarity(a, b) == pytest.approx(24 / 25)
    q = np.array([127, -128, 0], np.int8)  # quantized vectors compare as integers
    assert Embedder.cosine_similarity(q, q) == pytest.approx(1.0)
    r = np.array([-127, 128 - 1, 0], np.int8)
    assert Embedder.cosine_similarity(q, r) == pytest.approx(
        (127 * -127 + -128 * 127) / (np.hypot(127, 128) * np.hypot(127, 127))
    )


@pytest.mark.parametrize(
    "u, v, message",
    [
        (np.ones(3, np.float32), np.ones(4, np.float32), "different sizes"),
        (np.ones(3, np.float32), np.ones(3, np.int8), "quantized and float"),
        (np.zeros(3, np.float32), np.ones(3, np.float32), "zero norm"),
        (np.ones((1, 3), np.float32), np.ones((1, 3), np.float32), "1-D"),
        (np.ones(3, np.uint8), np.ones(3, np.uint8), "float or int8"),
    ],
)
def test_cosine_similarity_rejects_mismatched_inputs(u, v, message):
    with pytest.raises(ValueError, match=message):
        Embedder.cosine_similarity(u, v)


def test_options_defaults_follow_mediapipe():
    options = EmbedderOptions()
    assert (options.l2_normalize, options.quantize, options.num_threads) == (True, False, 1)


# --- metadata ------------------------------------------------------------------------


def test_metadata_json_round_trip_and_layout():
    meta = _meta()
    text = meta.to_json()
    assert ModelMetadata.from_json(text) == meta
    doc = json.loads(text)
    assert doc["format"] == METADATA_FORMAT
    assert list(doc) == sorted(doc)  # sorted keys: byte-stable
    assert json.dumps(doc["preprocess"], sort_keys=True, separators=(",", ":")) == (
        PreprocessConfig().to_json()
    )


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(extra=1), "unknown metadata field"),
        (lambda d: d.pop("embedding_dim"), "missing metadata field"),
        (lambda d: d.update(format="other/1"), "unsupported metadata format"),
        (lambda d: d.update(model_fingerprint="md5:00"), "model_fingerprint"),
        (lambda d: d.update(embedding_dim=0), "embedding_dim"),
        (lambda d: d.update(precision="int4"), "precision"),
        (lambda d: d["preprocess"].update(std=[0, 1, 1]), "std"),
    ],
)
def test_metadata_rejects_bad_documents(change, message):
    doc = _meta().to_dict()
    change(doc)
    with pytest.raises(ValueError, match=message):
        ModelMetadata.from_dict(doc)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def test_onnx_metadata_props_parser_reads_hand_encoded_model():
    entry = _field(1, b"k") + _field(2, "v\u00e9".encode())
    model = (
        _varint(1 << 3)
        + _varint(9)  # ir_version = 9 (varint field)
        + _field(7, b"\x0a\x03abc" * 50)  # a graph, skipped by length
        + _field(14, entry)
        + _field(14, _field(1, METADATA_NAME.encode()) + _field(2, b"{}"))
    )
    assert onnx_metadata_props(model) == {"k": "v\u00e9", METADATA_NAME: "{}"}
    with pytest.raises(ModelMetadataError, match="<bytes>: not a valid ONNX model"):
        onnx_metadata_props(model[:-3])


def test_reading_metadata_names_the_file(tmp_path):
    missing = tmp_path / "missing.tflite"
    with pytest.raises(ModelMetadataError, match=f"{missing}: model file not found"):
        read_model_metadata(missing)
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(b"TFL3 not really a model")
    with pytest.raises(ModelMetadataError, match=f"{bare}: no DeepProduct metadata"):
        Embedder.from_model_path(bare)
    with pytest.raises(ModelMetadataError, match="unsupported model file type"):
        read_model_metadata(tmp_path / "model.pt")
    corrupt = tmp_path / "corrupt.tflite"
    import zipfile

    with zipfile.ZipFile(corrupt, "w") as archive:
        archive.writestr(METADATA_NAME, "{not json")
    with pytest.raises(ModelMetadataError, match=f"{corrupt}: corrupt {METADATA_NAME}"):
        read_model_metadata(corrupt)


# --- with a real exported model ----------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    require_export_extra()
    return small_export(tmp_path_factory)


@pytest.fixture(scope="module")
def photo(small) -> np.ndarray:
    path = sorted((small.data / "photos").rglob("*.jpg"))[0]
    return np.asarray(Image.open(path).convert("RGB"))


def test_embed_accepts_every_image_source(small, photo):
    path = sorted((small.data / "photos").rglob("*.jpg"))[0]
    with Embedder.from_model_path(small.dist / "model.tflite") as embedder:
        assert embedder.metadata.embedding_dim == embedder.embedding_dim == EMBEDDING_DIM
        assert embedder.fingerprint == embedder.metadata.model_fingerprint
        from_path = embedder.embed(path)
        assert from_path.shape == (EMBEDDING_DIM,) and from_path.dtype == np.float32
        assert np.linalg.norm(from_path) == pytest.approx(1.0, abs=1e-6)
        np.testing.assert_array_equal(embedder.embed(path.read_bytes()), from_path)
        np.testing.assert_array_equal(embedder.embed(Image.open(path)), from_path)
        np.testing.assert_array_equal(embedder.embed(photo), from_path)
        h, w = photo.shape[:2]
        np.testing.assert_array_equal(embedder.embed(photo, roi=(0, 0, w, h)), from_path)
        batch = embedder.embed_batch([path, photo])
        assert batch.shape == (2, EMBEDDING_DIM)
        np.testing.assert_array_equal(batch[1], from_path)


def test_crop_fraction_replaces_the_metadata_crop(small, photo):
    import dataclasses

    from mobile_sdk.preprocess import preprocess

    with Embedder.from_model_path(small.dist / "model.tflite") as embedder:
        config = embedder.metadata.preprocess
        assert embedder.preprocess_config() == config
        assert config.crop_fraction != 1.0  # else the test below shows nothing
        whole = embedder.embed(photo, crop_fraction=1.0)
        full_config = dataclasses.replace(config, crop_fraction=1.0)
        expected = embedder.embed_input(preprocess(photo, full_config)[None])[0]
        np.testing.assert_array_equal(whole, expected)
        assert not np.array_equal(whole, embedder.embed(photo))
        np.testing.assert_array_equal(embedder.embed_batch([photo], crop_fraction=1.0)[0], whole)
        with pytest.raises(ValueError, match="crop_fraction must satisfy 0 < x <= 1"):
            embedder.embed(photo, crop_fraction=1.5)


def test_embed_applies_exif_orientation(small, photo):
    # Orientation 6 = "rotate 90 degrees clockwise to display"
    rng = np.random.default_rng(0)
    stored = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(stored).save(buf, format="PNG", exif=exif)
    with Embedder.from_model_path(small.dist / "model_fp32.tflite") as embedder:
        upright = np.ascontiguousarray(np.rot90(stored, k=-1))
        np.testing.assert_array_equal(embedder.embed(buf.getvalue()), embedder.embed(upright))


def test_options_change_the_output(small, photo):
    path = small.dist / "model.tflite"
    with Embedder.from_model_path(path) as embedder:
        unit = embedder.embed(photo)
    with Embedder.from_model_path(path, EmbedderOptions(l2_normalize=False)) as embedder:
        raw = embedder.embed(photo)
    np.testing.assert_allclose(raw / np.linalg.norm(raw), unit, rtol=1e-5, atol=1e-6)
    assert np.linalg.norm(raw) != pytest.approx(1.0)
    with Embedder.from_model_path(path, EmbedderOptions(quantize=True)) as embedder:
        q = embedder.embed(photo)
    assert q.dtype == np.int8 and q.shape == (EMBEDDING_DIM,)
    scaled = unit.astype(np.float64) * 128
    expected = np.clip(np.sign(scaled) * np.floor(np.abs(scaled) + 0.5), -128, 127)
    np.testing.assert_array_equal(q, expected.astype(np.int8))
    assert Embedder.cosine_similarity(q, q) == pytest.approx(1.0)
    assert Embedder.cosine_similarity(q.astype(np.float32), unit) > 0.999


def test_onnx_and_tflite_fp32_agree(small, photo):
    with Embedder.from_model_path(small.dist / "model.onnx") as onnx_embedder:
        a = onnx_embedder.embed(photo)
    with Embedder.from_model_path(small.dist / "model_fp32.tflite") as tflite_embedder:
        b = tflite_embedder.embed(photo)
    assert Embedder.cosine_similarity(a, b) > 0.9999


def test_closed_embedder_and_bad_options(small, photo):
    embedder = Embedder.from_model_path(small.dist / "model.tflite")
    embedder.close()
    with pytest.raises(EmbedderError, match="closed"):
        embedder.embed(photo)
    with pytest.raises(EmbedderError, match="num_threads"):
        Embedder.from_model_path(small.dist / "model.tflite", EmbedderOptions(num_threads=0))
    with pytest.raises(ValueError, match="float32"):
        Embedder.from_model_path(small.dist / "model.tflite").embed_input(
            np.zeros((1, 10, 10, 3), np.float32)
        )
