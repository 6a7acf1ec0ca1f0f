"""The index file codec (INDEX_FORMAT.md): bytes <-> the parts of an index.

:func:`write_index` and :func:`read_index` know the layout, the checksum and every rule
a reader enforces; :class:`mobile_sdk.index.ProductIndex` holds the rows in memory and
searches them. The constants come from ``formats/index_format.json``, the file the
Android core's tests check their own copies against.
"""

from __future__ import annotations

import mmap
import re
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from mobile_sdk.errors import DeepProductError
from mobile_sdk.format_spec import load_spec
from mobile_sdk.quantization import BLOCK_ELEMENTS, QUANT_LEVELS, inv_norms

_SPEC = load_spec("index_format")
MAGIC = _SPEC["magic"].encode("ascii")
FORMAT_VERSION = _SPEC["format_version"]
MAX_DIM = _SPEC["max_dim"]  # keeps every int8 dot product and partial sum below 2**24
MAX_COUNT = _SPEC["max_count"]
MAX_ID_BYTES = _SPEC["max_id_bytes"]

_STRUCT_CODES = {"u8": "B", "u16": "H", "u32": "I"}
# magic, version, dtype, flags, dim, count, fingerprint
HEADER = struct.Struct("<" + "".join(_STRUCT_CODES.get(t, t) for _, t in _SPEC["header"]))
if HEADER.size != _SPEC["header_bytes"]:
    raise RuntimeError("formats/index_format.json: header fields and header_bytes disagree")
DTYPE_CODES: dict[str, int] = _SPEC["dtype_codes"]
NP_DTYPES = {"float32": np.dtype("<f4"), "int8": np.dtype("i1")}
_Fail = Callable[[str], Exception]
# float32 rows read from a file must have |norm - 1| <= this
_UNIT_NORM_TOLERANCE = _SPEC["unit_norm_tolerance"]
_CRC_BLOCK_BYTES = 1 << 24  # the checksum of a mapped index is taken in blocks of this size
_FINGERPRINT_RE = re.compile(r"(?:sha256:)?([0-9a-fA-F]{64})")


class IndexFormatError(DeepProductError, ValueError):
    """An index file is malformed or corrupt, or an index operation got bad arguments.

    The message names the file (when there is one) and what is wrong.
    """


class FingerprintMismatchError(IndexFormatError):
    """The index was built with a different model than the one expected."""


def fingerprint_bytes(fingerprint: str) -> bytes:
    match = _FINGERPRINT_RE.fullmatch(fingerprint) if isinstance(fingerprint, str) else None
    if match is None:
        raise IndexFormatError(
            f"model fingerprint must be 64 hex digits (sha256), optionally prefixed "
            f"'sha256:', got {fingerprint!r}"
        )
    return bytes.fromhex(match.group(1))


def normalize_fingerprint(fingerprint: str) -> str:
    """``fingerprint`` in the one form the runtime reports: ``"sha256:"`` + 64 lowercase hex.

    Accepts the form of the model metadata (``sha256:<hex>``) and bare hex digits (the
    form indexes reported before; index files store the 32 raw bytes either way).

    Raises:
        IndexFormatError: not 64 hex digits.
    """
    return "sha256:" + fingerprint_bytes(fingerprint).hex()


def encode_id(product_id: str) -> bytes:
    if not isinstance(product_id, str):
        raise IndexFormatError(f"product id must be a str, got {type(product_id).__name__}")
    try:
        encoded = product_id.encode("utf-8")
    except UnicodeEncodeError:
        raise IndexFormatError(f"product id {product_id!r} is not valid Unicode") from None
    if not 1 <= len(encoded) <= MAX_ID_BYTES:
        raise IndexFormatError(
            f"product id {product_id[:40]!r} is {len(encoded)} bytes in UTF-8; "
            f"ids must be 1 to {MAX_ID_BYTES} bytes"
        )
    return encoded


class IndexData(NamedTuple):
    """The parts of an index file, checked (what :func:`read_index` returns).

    Attributes:
        dtype: ``"float32"`` or ``"int8"``.
        dim: vector length.
        fingerprint: the model fingerprint's 32 raw bytes.
        lengths: (N,) UTF-8 byte length of each row's id.
        id_blob: the ids' UTF-8 bytes, concatenated.
        vectors: (N, dim) unit float32 rows or int8 codes, native byte order.
        inv_norms: int8: ``1 / |codes|`` per row (float64); float32: empty.
        checksum: the file's stored CRC-32 (identifies the file's exact contents).
    """

    dtype: str
    dim: int
    fingerprint: bytes
    lengths: np.ndarray
    id_blob: np.ndarray
    vectors: np.ndarray
    inv_norms: np.ndarray
    checksum: int


def write_index(
    f: BinaryIO,
    dtype: str,
    dim: int,
    fingerprint: bytes,
    id_ends: np.ndarray,
    id_blob: np.ndarray,
    vectors: np.ndarray,
) -> None:
    """Write an index to the open binary file ``f`` (INDEX_FORMAT.md section 1).

    Args:
        dtype, dim, fingerprint: the header fields (fingerprint: 32 raw bytes).
        id_ends: (N,) end offset of each row's id in ``id_blob``.
        id_blob: the ids' UTF-8 bytes, concatenated (may be longer than used).
        vectors: (N, dim) stored rows (unit float32 or int8 codes).
    """
    n = len(id_ends)
    ends = id_ends
    lengths = np.diff(ends, prepend=0).astype("<u2")
    header = HEADER.pack(
        MAGIC,
        FORMAT_VERSION,
        DTYPE_CODES[dtype],
        0,
        dim,
        n,
        fingerprint,
    )
    blob_len = int(ends[-1]) if n else 0
    padding = bytes(-(HEADER.size + 2 * n + blob_len) % 4)
    vectors = np.ascontiguousarray(vectors[:n], NP_DTYPES[dtype])
    crc = 0
    for part in (header, lengths, id_blob[:blob_len], padding, vectors):
        data = memoryview(_as_bytes(part))
        crc = zlib.crc32(data, crc)
        f.write(data)
    f.write(struct.pack("<I", crc))


def read_index(f: BinaryIO, size: int, path: Path, memory_map: bool = False) -> IndexData:
    """Read and check an index from the open binary file ``f`` of ``size`` bytes.

    Checks run in the order of INDEX_FORMAT.md section 5.

    With ``memory_map`` the vectors are not copied: ``IndexData.vectors`` is a read-only
    view of a memory map of ``f`` (a real file, not a stream), so a large catalog
    costs page cache the system can reclaim rather than private memory. The checks
    (checksum, codes) still read every byte once.

    Raises:
        IndexFormatError: naming ``path``: not an index, an unsupported version,
            truncated, corrupt (checksum) or breaking a rule of the format.
    """

    def fail(problem: str) -> Exception:
        return IndexFormatError(f"{path}: {problem}")

    head = f.read(HEADER.size)
    if len(head) < 4 or head[:4] != MAGIC:
        raise fail(f"not a DeepProduct index (starts with {head[:4]!r}, expected {MAGIC!r})")
    if len(head) < HEADER.size:
        raise fail(f"truncated: {size} bytes, the header alone is {HEADER.size}")
    _, version, dtype_code, flags, dim, count, fingerprint = HEADER.unpack(head)
    if version != FORMAT_VERSION:
        raise fail(
            f"unsupported index format version {version} (this reader supports "
            f"version {FORMAT_VERSION}); rebuild the index or upgrade"
        )
    dtype = {code: name for name, code in DTYPE_CODES.items()}.get(dtype_code)
    if dtype is None:
        raise fail(f"unknown dtype code {dtype_code} (0 = float32, 1 = int8)")
    if flags != 0:
        raise fail(f"reserved flags byte is {flags}, must be 0")
    if not 1 <= dim <= MAX_DIM:
        raise fail(f"dimension {dim} out of range 1..{MAX_DIM}")
    if count > MAX_COUNT:
        raise fail(f"count {count} exceeds the limit of {MAX_COUNT}")
    if size < HEADER.size + 2 * count + 4:
        raise fail(f"truncated: {size} bytes, too short for {count} ids")
    crc = zlib.crc32(head)
    lengths = np.empty(count, "<u2")
    crc = _read_into(f, lengths, crc, fail)
    blob_len = int(lengths.sum(dtype=np.int64))
    item = NP_DTYPES[dtype].itemsize
    pad = -(HEADER.size + 2 * count + blob_len) % 4
    expected_size = HEADER.size + 2 * count + blob_len + pad + count * dim * item + 4
    if size < expected_size:
        raise fail(f"truncated: {size} bytes, the header and ids call for {expected_size}")
    if size > expected_size:
        raise fail(f"{size - expected_size} unexpected bytes after the checksum")
    blob = np.empty(blob_len, np.uint8)
    crc = _read_into(f, blob, crc, fail)
    padding = f.read(pad)
    crc = zlib.crc32(padding, crc)
    if memory_map and count:
        start = HEADER.size + 2 * count + blob_len + pad
        vectors = _map_vectors(f, start, (count, dim), NP_DTYPES[dtype], fail)
        for block in range(0, vectors.nbytes, _CRC_BLOCK_BYTES):
            crc = zlib.crc32(_as_bytes(vectors)[block : block + _CRC_BLOCK_BYTES], crc)
        f.seek(start + vectors.nbytes)
    else:
        vectors = np.empty((count, dim), NP_DTYPES[dtype])
        crc = _read_into(f, vectors, crc, fail)
    tail = f.read(4)
    if len(tail) != 4:
        raise fail("truncated while reading")
    (stored_crc,) = struct.unpack("<I", tail)
    if stored_crc != crc:
        raise fail(
            f"checksum mismatch (stored CRC-32 {stored_crc:08x}, computed {crc:08x}): "
            "the file is corrupt"
        )
    if any(padding):
        raise fail("padding bytes before the vectors are not zero")
    _check_ids(lengths, blob, fail)
    if dtype == "int8":
        norms = _check_codes(vectors, fail)
    else:
        _check_unit_rows(vectors, fail)
        norms = np.empty(0, np.float64)
    native = vectors.astype(vectors.dtype.newbyteorder("="), copy=False)
    return IndexData(dtype, dim, fingerprint, lengths, blob, native, norms, stored_crc)


def _as_bytes(data: bytes | np.ndarray) -> bytes | np.ndarray:
    """A C-contiguous array as a flat uint8 view of its memory (bytes pass through)."""
    return data if isinstance(data, bytes) else data.reshape(-1).view(np.uint8)


def _map_vectors(
    f: BinaryIO, start: int, shape: tuple[int, int], dtype: np.dtype, fail: _Fail
) -> np.ndarray:
    """Read-only (count, dim) view of the vectors at byte ``start`` of ``f``, memory-mapped."""
    try:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as e:  # shrank to nothing, or not a mappable file
        raise fail(f"cannot memory-map the index ({e})") from None
    nbytes = shape[0] * shape[1] * dtype.itemsize
    if len(mapped) < start + nbytes + 4:  # only if the file shrank after its size was checked
        raise fail("truncated while reading")
    return np.frombuffer(mapped, dtype, shape[0] * shape[1], start).reshape(shape)


def _read_into(f: BinaryIO, array: np.ndarray, crc: int, fail: _Fail) -> int:
    """Fill ``array`` from ``f`` and return the CRC-32 updated with its bytes."""
    view = memoryview(_as_bytes(array))
    if f.readinto(view) != len(view):  # only if the file shrank after its size was checked
        raise fail("truncated while reading")
    return zlib.crc32(view, crc)


def _check_ids(lengths: np.ndarray, blob: np.ndarray, fail: _Fail) -> None:
    if len(lengths) and (lengths.min() < 1 or lengths.max() > MAX_ID_BYTES):
        row = int(np.flatnonzero((lengths < 1) | (lengths > MAX_ID_BYTES))[0])
        raise fail(f"id of row {row} is {lengths[row]} bytes; ids must be 1 to {MAX_ID_BYTES}")
    try:
        blob.tobytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise fail(f"ids are not valid UTF-8 (byte {e.start} of the id data)") from None
    # The whole is valid UTF-8; if no id starts with a continuation byte, no
    # character straddles two ids, so each id is valid on its own.
    starts = np.concatenate(([0], np.cumsum(lengths[:-1], dtype=np.int64)))
    split = np.flatnonzero((blob[starts] & 0xC0) == 0x80) if len(lengths) else []
    if len(split):
        raise fail(f"id of row {int(split[0])} is not valid UTF-8 on its own")


def _check_codes(codes: np.ndarray, fail: _Fail) -> np.ndarray:
    """Validate int8 rows (no -128, peak |code| 127); return their inverse norms."""
    if len(codes) == 0:
        return np.empty(0, np.float64)
    if codes.min() == -128:
        raise fail("int8 code -128 found; codes must be in [-127, 127]")
    peak = np.maximum(codes.max(axis=1), -codes.min(axis=1))
    if (peak != QUANT_LEVELS).any():
        row = int(np.flatnonzero(peak != QUANT_LEVELS)[0])
        raise fail(
            f"int8 row {row} has largest |code| {peak[row]}, the quantization rule "
            f"makes it {QUANT_LEVELS}"
        )
    inv = np.empty(len(codes), np.float64)
    step = max(1, BLOCK_ELEMENTS // codes.shape[1])
    for start in range(0, len(codes), step):
        inv[start : start + step] = inv_norms(codes[start : start + step])
    return inv


def _check_unit_rows(vectors: np.ndarray, fail: _Fail) -> None:
    step = max(1, BLOCK_ELEMENTS // max(vectors.shape[1], 1))
    for start in range(0, len(vectors), step):
        block = vectors[start : start + step].astype(np.float64)
        if not np.isfinite(block).all():
            row = start + int(np.flatnonzero(~np.isfinite(block).all(axis=1))[0])
            raise fail(f"float32 row {row} has NaN or infinite components")
        norms = np.sqrt(np.einsum("ij,ij->i", block, block))
        bad = np.flatnonzero(np.abs(norms - 1.0) > _UNIT_NORM_TOLERANCE)
        if len(bad):
            row = start + int(bad[0])
            raise fail(f"float32 row {row} has norm {norms[bad[0]]:.6g}; rows must be unit length")
