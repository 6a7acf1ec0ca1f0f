"""Fuzz the model-metadata reader: ``mobile_sdk.model_metadata`` on any bytes.

The first byte picks what the rest is:

0. a ``.tflite`` file (the flatbuffer with a zip of associated files appended);
1. a ``.onnx`` file (``metadata_props`` parsed from the protobuf wire format);
2. the ``preprocessing.json`` document, via ``ModelMetadata.from_json``;
3. the same document packed as a ``.tflite`` associated file (JSON mutations
   through the whole file reader).

Documented outcomes: ``ModelMetadata``, or ``ModelMetadataError`` from
``read_model_metadata`` / ``ValueError`` from ``from_json``. Parsed metadata must
survive a ``to_json`` / ``from_json`` round trip unchanged.

    python fuzz/fuzz_metadata.py -max_total_time=60 [CORPUS_DIR]
"""

from __future__ import annotations

import io
import zipfile

import atheris
import harness

with atheris.instrument_imports(include=["mobile_sdk", "zipfile", "json"]):
    from mobile_sdk.model_metadata import (
        METADATA_NAME,
        ModelMetadata,
        ModelMetadataError,
        read_model_metadata,
    )
    from mobile_sdk.preprocess_config import PreprocessConfig

TFLITE = harness.scratch_file(".tflite")
ONNX = TFLITE.with_suffix(".onnx")
FINGERPRINT = "sha256:" + "0123456789abcdef" * 4


def zipped(document: bytes, compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        archive.writestr(METADATA_NAME, document)
    return b"\x1c\x00\x00\x00TFL3" + bytes(24) + buffer.getvalue()


def onnx(document: bytes) -> bytes:
    def field(number: int, payload: bytes) -> bytes:
        return _varint(number << 3 | 2) + _varint(len(payload)) + payload

    entry = field(1, METADATA_NAME.encode()) + field(2, document)
    return _varint(1 << 3) + b"\x08" + field(7, b"graph bytes") + field(14, entry)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append(value & 0x7F | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def seeds() -> list[bytes]:
    documents = [
        ModelMetadata(
            preprocess=PreprocessConfig(),
            embedding_dim=256,
            l2_normalized_output=False,
            model_fingerprint=FINGERPRINT,
            name="deepproduct-efficientnet-lite0-256d",
            version="1",
            precision="int8",
        ),
        ModelMetadata(
            preprocess=PreprocessConfig(16, 1.0, (0, 0, 0), (255, 255, 255)),
            embedding_dim=3,
            l2_normalized_output=True,
            model_fingerprint=FINGERPRINT,
            name="tiny é",
            version="2.0",
            precision="fp16",
        ),
    ]
    out = []
    for meta in documents:
        doc = meta.to_json().encode()
        out += [
            b"\x00" + zipped(doc),
            b"\x00" + zipped(doc, zipfile.ZIP_DEFLATED),
            b"\x01" + onnx(doc),
            b"\x02" + doc,
            b"\x03" + doc,
        ]
    return out


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, body = data[0] % 4, data[1:]
    try:
        if mode == 2:
            meta = ModelMetadata.from_json(body)
        else:
            path = ONNX if mode == 1 else TFLITE
            path.write_bytes(zipped(body) if mode == 3 else body)
            meta = read_model_metadata(path)
    except ModelMetadataError:
        return
    except ValueError:
        if mode == 2:
            return
        raise
    assert ModelMetadata.from_json(meta.to_json()) == meta


if __name__ == "__main__":
    harness.run(test_one_input, seeds())
