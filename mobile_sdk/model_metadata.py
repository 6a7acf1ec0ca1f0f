"""Model metadata: what an exported model file says about itself.

Every exported model carries one JSON document, ``preprocessing.json``:

- in a ``.tflite`` file it is a TFLite Model Metadata *associated file*; such a file
  is also a zip archive (the flatbuffer with a zip appended), so Python's ``zipfile``
  reads it without any TFLite or MediaPipe package;
- in a ``.onnx`` file it is the value of the ``metadata_props`` entry of the same name,
  read here with a few lines of protobuf wire-format parsing (no ``onnx`` package).

The document is compact JSON with sorted keys::

    {"embedding_dim": 256,
     "format": "deepproduct-model-metadata/1",
     "l2_normalized_output": false,
     "model_fingerprint": "sha256:...",
     "name": "...", "precision": "int8",
     "preprocess": <exactly PreprocessConfig.to_json()>,
     "version": "..."}

The preprocessing rule is a nested object so that it can be handed unchanged to
``PreprocessConfig.from_dict``, which rejects unknown fields (PREPROCESSING.md §0).
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mobile_sdk.errors import DeepProductError
from mobile_sdk.format_spec import load_spec
from mobile_sdk.preprocess_config import PreprocessConfig

_SPEC = load_spec("model_metadata")
METADATA_NAME = _SPEC["file_name"]
METADATA_FORMAT = _SPEC["format"]
PRECISIONS = tuple(_SPEC["precisions"])
MAX_METADATA_BYTES = 1 << 20  # the document is a few hundred bytes
_KEYS = tuple(_SPEC["keys"])


class ModelMetadataError(DeepProductError, ValueError):
    """A model file has no DeepProduct metadata, or its metadata is corrupt.

    The message starts with the model's path.
    """


@dataclass(frozen=True)
class ModelMetadata:
    """The facts a runtime needs to use an exported model.

    Attributes:
        preprocess: how a photo becomes the model input (PREPROCESSING.md).
        embedding_dim: length D of the model's output vector.
        l2_normalized_output: whether the model output is already unit length; when
            False the runtime normalises (see ``mobile_sdk.embedder``).
        model_fingerprint: ``"sha256:<64 hex>"`` of the embedding function; all
            precisions exported from one checkpoint share it, and an index built
            with one is only valid for models with the same fingerprint.
        name: human-readable model name.
        version: model version string.
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"``: how this file computes.
    """

    preprocess: PreprocessConfig
    embedding_dim: int
    l2_normalized_output: bool
    model_fingerprint: str
    name: str
    version: str
    precision: str

    def __post_init__(self) -> None:
        if not isinstance(self.preprocess, PreprocessConfig):
            raise ValueError("preprocess must be a PreprocessConfig")
        dim = self.embedding_dim
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"embedding_dim must be a positive int, got {dim!r}")
        if not isinstance(self.l2_normalized_output, bool):
            raise ValueError("l2_normalized_output must be true or false")
        fp = self.model_fingerprint
        if not (
            isinstance(fp, str)
            and fp.startswith("sha256:")
            and len(fp) == 71
            and all(c in "0123456789abcdef" for c in fp[7:])
        ):
            raise ValueError(f"model_fingerprint must be 'sha256:<64 hex digits>', got {fp!r}")
        for key in ("name", "version"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{key} must be a non-empty string, got {value!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {self.precision!r}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready document (``preprocess`` as ``PreprocessConfig.to_dict()``)."""
        return {
            "embedding_dim": self.embedding_dim,
            "format": METADATA_FORMAT,
            "l2_normalized_output": self.l2_normalized_output,
            "model_fingerprint": self.model_fingerprint,
            "name": self.name,
            "precision": self.precision,
            "preprocess": self.preprocess.to_dict(),
            "version": self.version,
        }

    def to_json(self) -> str:
        """Compact JSON, sorted keys: byte-identical for equal metadata."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelMetadata:
        """Parse the document; every key is required and unknown keys are refused.

        Raises:
            ValueError: wrong format tag, missing/unknown key or invalid value,
                naming the key.
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"metadata must be a JSON object, got {type(d).__name__}")
        if d.get("format") != METADATA_FORMAT:
            raise ValueError(
                f"unsupported metadata format {d.get('format')!r} (expected {METADATA_FORMAT!r})"
            )
        unknown = sorted(set(d) - set(_KEYS))
        if unknown:
            raise ValueError(f"unknown metadata field(s): {unknown}")
        missing = [k for k in _KEYS if k not in d]
        if missing:
            raise ValueError(f"missing metadata field(s): {missing}")
        return cls(
            preprocess=PreprocessConfig.from_dict(d["preprocess"]),
            embedding_dim=d["embedding_dim"],
            l2_normalized_output=d["l2_normalized_output"],
            model_fingerprint=d["model_fingerprint"],
            name=d["name"],
            version=d["version"],
            precision=d["precision"],
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelMetadata:
        """Parse ``to_json`` output.

        Raises:
            ValueError: invalid JSON or any error ``from_dict`` raises.
        """
        try:
            d = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"metadata is not valid JSON: {e}") from None
        except RecursionError:
            raise ValueError("metadata is not valid JSON: nested too deeply") from None
        return cls.from_dict(d)


def read_model_metadata(path: str | os.PathLike) -> ModelMetadata:
    """Read the DeepProduct metadata of a ``.tflite`` or ``.onnx`` model file.

    Args:
        path: the model file; the suffix selects the container format.

    Returns:
        The parsed :class:`ModelMetadata`.

    Raises:
        ModelMetadataError: the file is missing or unreadable, has an unsupported
            suffix, carries no ``preprocessing.json`` (or a corrupt zip of associated
            files, or one over ``MAX_METADATA_BYTES``), or that document is corrupt.
            The message names the file.
    """
    path = Path(path)
    text = read_metadata_text(path)
    try:
        return ModelMetadata.from_json(text)
    except ValueError as e:
        raise ModelMetadataError(f"{path}: corrupt {METADATA_NAME}: {e}") from None


def read_metadata_text(path: str | os.PathLike) -> bytes:
    """The raw ``preprocessing.json`` bytes stored in a model file.

    Raises:
        ModelMetadataError: as :func:`read_model_metadata`, before parsing.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".tflite", ".onnx"):
        raise ModelMetadataError(f"{path}: unsupported model file type (use .tflite or .onnx)")
    if not path.is_file():
        raise ModelMetadataError(f"{path}: model file not found")
    if suffix == ".tflite":
        return _read_tflite_associated_file(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelMetadataError(f"{path}: cannot read ({e.strerror or e})") from None
    props = onnx_metadata_props(data, str(path))
    if METADATA_NAME not in props:
        raise ModelMetadataError(
            f"{path}: no DeepProduct metadata ({METADATA_NAME!r} is not in metadata_props); "
            "export the model with 'deepproduct export'"
        )
    return props[METADATA_NAME].encode("utf-8")


def _read_tflite_associated_file(path: Path) -> bytes:
    try:
        with zipfile.ZipFile(path) as archive, archive.open(METADATA_NAME) as member:
            # bounded: a crafted file may inflate to gigabytes (a zip bomb)
            data = member.read(MAX_METADATA_BYTES + 1)
    except zipfile.BadZipFile:
        reason = "it carries no associated files"
    except KeyError:
        reason = f"its associated files do not include {METADATA_NAME}"
    except OSError as e:
        raise ModelMetadataError(f"{path}: cannot read ({e.strerror or e})") from None
    except MemoryError:
        raise
    except Exception as e:  # zipfile raises zlib.error, EOFError, NotImplementedError, ...
        raise ModelMetadataError(
            f"{path}: corrupt associated files ({type(e).__name__}: {e})"
        ) from None
    else:
        if len(data) > MAX_METADATA_BYTES:
            raise ModelMetadataError(
                f"{path}: {METADATA_NAME} is larger than {MAX_METADATA_BYTES} bytes"
            )
        return data
    raise ModelMetadataError(
        f"{path}: no DeepProduct metadata ({reason}); export the model with 'deepproduct export'"
    )


def onnx_metadata_props(data: bytes, source: str = "<bytes>") -> dict[str, str]:
    """``metadata_props`` of a serialised ONNX ``ModelProto`` as a dict.

    Only the top-level message is walked (field 14 holds ``StringStringEntryProto``
    entries with ``key`` = 1 and ``value`` = 2); the graph is skipped by length.

    Raises:
        ModelMetadataError: the bytes are not a well-formed protobuf message.
    """
    props: dict[str, str] = {}
    try:
        for field, value in _proto_fields(data):
            if field == 14 and isinstance(value, bytes):
                entry = {f: v for f, v in _proto_fields(value) if isinstance(v, bytes)}
                props[entry.get(1, b"").decode("utf-8")] = entry.get(2, b"").decode("utf-8")
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelMetadataError(f"{source}: not a valid ONNX model ({e})") from None
    return props


def _proto_fields(buf: bytes):
    """Yield (field number, value) of a protobuf message; bytes for length-delimited."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = None, pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = None, pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > end or field == 0:
            raise ValueError("truncated or corrupt protobuf message")
        yield field, value


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or corrupt protobuf varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
