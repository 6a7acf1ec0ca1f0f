"""Builders of bad inputs, shared by test_bad_inputs.py and test_faults.py.

Everything is generated (no committed binaries) and small: a "decompression bomb"
is a PNG header claiming 30000 x 30000 pixels over a few bytes of data, and
"another model" is a hand-built TFLite flatbuffer (one MEAN op), not a conversion.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from mobile_sdk.model_metadata import METADATA_NAME, ModelMetadata
from mobile_sdk.preprocess_config import PreprocessConfig

TINY_SIZE = 16
TINY_DIM = 3
# Mean 0, std 255: the tiny model's output is the mean RGB colour in [0, 1].
TINY_PREPROCESS = PreprocessConfig(
    input_size=TINY_SIZE, crop_fraction=1.0, mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0)
)


def fingerprint(name: str) -> str:
    """A made-up model fingerprint, ``sha256:<hex>``, one per ``name``."""
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def tiny_metadata(size: int = TINY_SIZE, dim: int = TINY_DIM, model: str = "tiny") -> ModelMetadata:
    """DeepProduct metadata for the tiny model (or one that misdescribes it)."""
    preprocess = PreprocessConfig(
        input_size=size,
        crop_fraction=1.0,
        mean=TINY_PREPROCESS.mean,
        std=TINY_PREPROCESS.std,
    )
    return ModelMetadata(
        preprocess=preprocess,
        embedding_dim=dim,
        l2_normalized_output=False,
        model_fingerprint=fingerprint(model),
        name=model,
        version="1",
        precision="fp32",
    )


def tiny_flatbuffer(size: int = TINY_SIZE) -> bytes:
    """A real TFLite model, float32 [1, size, size, 3] -> MEAN over H, W -> [1, 3]."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    def tensor(name: str, shape: list[int], dtype: int, buffer: int):
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name, shape, dtype, buffer
        return t

    axes = schema.BufferT()
    axes.data = np.array([1, 2], "<i4").view(np.uint8)
    graph = schema.SubGraphT()
    graph.name = "main"
    graph.tensors = [
        tensor("image", [1, size, size, 3], schema.TensorType.FLOAT32, 2),
        tensor("axes", [2], schema.TensorType.INT32, 1),
        tensor("embedding", [1, 3], schema.TensorType.FLOAT32, 3),
    ]
    graph.inputs, graph.outputs = [0], [2]
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1], [2]
    op.builtinOptionsType = schema.BuiltinOptions.ReducerOptions
    op.builtinOptions = schema.ReducerOptionsT()
    graph.operators = [op]
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.MEAN
    code.version = 1
    model = schema.ModelT()
    model.version, model.description = 3, "tiny test model"
    model.operatorCodes, model.subgraphs = [code], [graph]
    # buffer 0 is the empty sentinel every TFLite model starts with
    model.buffers = [schema.BufferT(), axes, schema.BufferT(), schema.BufferT()]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def with_associated_files(
    flatbuffer: bytes, files: dict[str, bytes | str], compression: int = zipfile.ZIP_STORED
) -> bytes:
    """``flatbuffer`` with a zip of associated files appended, as TFLite metadata packs them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return flatbuffer + buffer.getvalue()


def tiny_model(meta: ModelMetadata | None = None, size: int = TINY_SIZE) -> bytes:
    """The tiny model with DeepProduct metadata (by default metadata that describes it)."""
    meta = meta or tiny_metadata(size)
    return with_associated_files(tiny_flatbuffer(size), {METADATA_NAME: meta.to_json()})


def broken_zip_model(kind: str) -> bytes:
    """The tiny model whose zip of associated files is broken one way (fuzzer finds).

    ``method``: an unknown compression method; ``deflate``: a corrupt deflate stream;
    ``encrypted``: the entry claims encryption; ``bomb``: preprocessing.json inflates
    to 2 MB (a real bomb would be gigabytes: the reader must stop early either way).
    """
    if kind == "bomb":
        return with_associated_files(
            tiny_flatbuffer(), {METADATA_NAME: b" " * (2 << 20)}, zipfile.ZIP_DEFLATED
        )
    data = bytearray(
        with_associated_files(
            tiny_flatbuffer(), {METADATA_NAME: tiny_metadata().to_json()}, zipfile.ZIP_DEFLATED
        )
    )
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    if kind == "method":
        data[local + 8] = data[central + 10] = 99
    elif kind == "encrypted":
        data[local + 6] |= 1
        data[central + 8] |= 1
    elif kind == "deflate":
        start = local + 30 + len(METADATA_NAME)
        data[start : start + 4] = b"\xff\xff\xff\xff"
    else:
        raise ValueError(kind)
    return bytes(data)


def metadata_document(**changes) -> str:
    """The tiny model's preprocessing.json with top-level or ``preprocess`` fields changed."""
    doc = json.loads(tiny_metadata().to_json())
    for key, value in changes.items():
        (doc["preprocess"] if key in doc["preprocess"] else doc)[key] = value
    return json.dumps(doc)


# ---------------------------------------------------------------- images


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(width: int, height: int, bit_depth: int, colour_type: int, idat: bytes) -> bytes:
    """A PNG from its parts; ``idat`` is the already compressed image data."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def bomb_png(side: int = 30000) -> bytes:
    """A PNG whose header claims side x side RGB pixels; the data is a few bytes."""
    return raw_png(side, side, 8, 2, zlib.compress(bytes(1000), 9))


def rgb16_png(values: np.ndarray) -> bytes:
    """A 16-bit RGB PNG (Pillow cannot write one) of an (H, W, 3) uint16 array."""
    h, w, _ = values.shape
    rows = b"".join(b"\x00" + values[y].astype(">u2").tobytes() for y in range(h))
    return raw_png(w, h, 16, 2, zlib.compress(rows))


def solid(colour: tuple[int, ...], size: tuple[int, int] = (8, 8), mode: str = "RGB"):
    return Image.new(mode, size, colour)


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def make_dataset(root: Path, products: dict[str, tuple[int, int, int]], photos: int = 1) -> Path:
    """A dataset in the standard layout: one solid catalog image per product, photos alike."""
    for pid, colour in products.items():
        write(root / "catalog" / pid / "catalog image.png", encode(solid(colour), "PNG"))
        for i in range(photos):
            shade = tuple(max(0, c - 10 * (i + 1)) for c in colour)
            write(root / "photos" / pid / f"photo {i}.jpg", encode(solid(shade), "JPEG"))
    return root
