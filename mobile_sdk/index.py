"""Product index: catalog embeddings -> nearest products for a query embedding.

One row per catalog image, each tagged with its product id (a product may have
several rows). :meth:`ProductIndex.search` scores every row by cosine similarity
and returns one result per product (its best row), best first.

Two storage types:

- ``float32``: unit-length float32 rows, scored with one BLAS matrix-vector
  product. Exact up to float rounding (the summation order is BLAS's own).
- ``int8``: rows quantized to int8 codes, a quarter of the memory. Scores are the
  cosine of the integer codes (the query is quantized by the same rule), computed
  with exact integer arithmetic and correctly rounded float64 operations, so every
  implementation that follows ``INDEX_FORMAT.md`` scores and ranks bit for bit alike.

The file format, the quantization rule and the scoring rule are specified in
``mobile_sdk/INDEX_FORMAT.md``; this module is its reference implementation.
"""

from __future__ import annotations

import math
import os
import re
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np

from mobile_sdk.atomic_file import atomic_path
from mobile_sdk.dataset_layout import scan_dataset
from mobile_sdk.errors import DeepProductError
from mobile_sdk.format_spec import load_spec

_SPEC = load_spec("index_format")
MAGIC = _SPEC["magic"].encode("ascii")
FORMAT_VERSION = _SPEC["format_version"]
MAX_DIM = _SPEC["max_dim"]  # keeps every int8 dot product and partial sum below 2**24
MAX_COUNT = _SPEC["max_count"]
MAX_ID_BYTES = _SPEC["max_id_bytes"]
QUANT_LEVELS = _SPEC["quant_levels"]  # int8 codes are in [-127, 127]; -128 is never written

_STRUCT_CODES = {"u8": "B", "u16": "H", "u32": "I"}
# magic, version, dtype, flags, dim, count, fingerprint
_HEADER = struct.Struct("<" + "".join(_STRUCT_CODES.get(t, t) for _, t in _SPEC["header"]))
if _HEADER.size != _SPEC["header_bytes"]:
    raise RuntimeError("formats/index_format.json: header fields and header_bytes disagree")
_DTYPE_CODES = _SPEC["dtype_codes"]
_NP_DTYPES = {"float32": np.dtype("<f4"), "int8": np.dtype("i1")}
_Fail = Callable[[str], Exception]
# float32 rows read from a file must have |norm - 1| <= this
_UNIT_NORM_TOLERANCE = _SPEC["unit_norm_tolerance"]
_FINGERPRINT_RE = re.compile(r"(?:sha256:)?([0-9a-fA-F]{64})")
_BLOCK_ELEMENTS = 1 << 20  # int8 rows converted to float32 per block: ~4 MB, stays in cache
_SCORE_BUFFER_BYTES = 1 << 26  # batch search scores at most this many bytes of scores at once
_BOUND_BLOCK_ROWS = 64  # rows per block when bounding the k-th best score (see _top)


class IndexFormatError(DeepProductError, ValueError):
    """An index file is malformed or corrupt, or an index operation got bad arguments.

    The message names the file (when there is one) and what is wrong.
    """


class FingerprintMismatchError(IndexFormatError):
    """The index was built with a different model than the one expected."""


class VectorError(DeepProductError, ValueError):
    """A vector has the wrong shape, is not finite, or is all zeros."""


class ProductNotFoundError(DeepProductError, KeyError):
    """No row of the index has the requested product id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class SearchResult:
    """One product found by :meth:`ProductIndex.search`.

    Attributes:
        product_id: the product.
        score: cosine similarity of its best row with the query, in [-1, 1].
    """

    product_id: str
    score: float


class EmbedderLike(Protocol):
    """What :meth:`ProductIndex.build` needs of an embedder (``mobile_sdk.embedder.Embedder``)."""

    @property
    def fingerprint(self) -> str:
        """Hex sha256 (optionally ``sha256:``-prefixed) identifying the model weights."""
        ...

    @property
    def embedding_dim(self) -> int:
        """Length of the embeddings."""
        ...

    def embed_batch(self, images: Iterable[str | os.PathLike]) -> np.ndarray:
        """Embed images (paths) into an (N, D) array, in order."""
        ...


def quantize_int8(vectors: np.ndarray) -> np.ndarray:
    """Quantize float32 vectors to int8 codes by the rule of INDEX_FORMAT.md section 3.

    ``code = rint(float64(v) * 127 / max|v|)`` per vector, rounding halves to even
    (Java ``Math.rint``); the largest component becomes +-127.

    Args:
        vectors: (D,) or (N, D) float32, finite, no all-zero vector.

    Returns:
        int8 codes of the same shape, in [-127, 127].

    Raises:
        VectorError: not float32, not finite, or an all-zero vector.
    """
    v = np.asarray(vectors)
    if v.dtype != np.float32:
        raise VectorError(f"quantize_int8 takes float32 vectors, got {v.dtype}")
    if not np.isfinite(v).all():
        raise VectorError("cannot quantize a vector with NaN or infinite components")
    v64 = v.astype(np.float64)
    peak = np.max(np.abs(v64), axis=-1, keepdims=True)
    if (peak == 0).any():
        raise VectorError("cannot quantize an all-zero vector")
    # v * 127 is exact in float64 (24 + 7 bits); the division is the only rounding.
    return np.rint(v64 * QUANT_LEVELS / peak).astype(np.int8)


def _fingerprint_bytes(fingerprint: str) -> bytes:
    match = _FINGERPRINT_RE.fullmatch(fingerprint) if isinstance(fingerprint, str) else None
    if match is None:
        raise IndexFormatError(
            f"model fingerprint must be 64 hex digits (sha256), optionally prefixed "
            f"'sha256:', got {fingerprint!r}"
        )
    return bytes.fromhex(match.group(1))


def fingerprint_mismatch(index: ProductIndex, model_fingerprint: str) -> FingerprintMismatchError:
    """The error for an index queried with embeddings of another model (its fingerprint)."""
    return FingerprintMismatchError(
        f"{index.source}: index was built with model {index.fingerprint[7:23]}..., but the "
        f"queries come from model {_fingerprint_bytes(model_fingerprint).hex()[:16]}...; "
        "rebuild the index with this model"
    )


def normalize_fingerprint(fingerprint: str) -> str:
    """``fingerprint`` in the one form the runtime reports: ``"sha256:"`` + 64 lowercase hex.

    Accepts the form of the model metadata (``sha256:<hex>``) and bare hex digits (the
    form indexes reported before; index files store the 32 raw bytes either way).

    Raises:
        IndexFormatError: not 64 hex digits.
    """
    return "sha256:" + _fingerprint_bytes(fingerprint).hex()


def _encode_id(product_id: str) -> bytes:
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


def _check_vectors(vectors: object, dim: int, what: str) -> np.ndarray:
    """``vectors`` as a float32 (N, dim) array, or VectorError naming ``what``."""
    try:
        v = np.asarray(vectors)
    except (TypeError, ValueError) as e:
        raise VectorError(f"{what}: not an array of numbers ({e})") from None
    if v.ndim != 2 or v.shape[1] != dim:
        raise VectorError(f"{what}: expected shape (N, {dim}), got {v.shape}")
    if not (np.issubdtype(v.dtype, np.floating) or np.issubdtype(v.dtype, np.integer)):
        raise VectorError(f"{what}: expected real numbers, got dtype {v.dtype}")
    v = v.astype(np.float32, copy=False)
    if not np.isfinite(v).all():
        bad = int(np.flatnonzero(~np.isfinite(v).all(axis=1))[0])
        raise VectorError(f"{what}: vector {bad} has NaN or infinite components")
    zero = ~v.any(axis=1)
    if zero.any():
        raise VectorError(f"{what}: vector {int(np.flatnonzero(zero)[0])} is all zeros")
    return v


def _check_one(vector: object, dim: int, what: str) -> np.ndarray:
    """``vector`` as a float32 (1, dim) array, or VectorError naming ``what``."""
    try:
        v = np.asarray(vector)
    except (TypeError, ValueError) as e:
        raise VectorError(f"{what}: not an array of numbers ({e})") from None
    if v.ndim != 1:
        raise VectorError(f"{what}: expected a 1-D vector of length {dim}, got shape {v.shape}")
    return _check_vectors(v[None], dim, what)


def _check_k(k: object, min_score: object) -> float:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise IndexFormatError(f"k must be a positive int, got {k!r}")
    if min_score is None:
        return -math.inf
    if isinstance(min_score, bool) or not isinstance(min_score, (int, float, np.floating)):
        raise IndexFormatError(f"min_score must be a number or None, got {min_score!r}")
    if math.isnan(min_score):
        raise IndexFormatError("min_score must not be NaN")
    return float(min_score)


def _grow(array: np.ndarray, needed: int) -> np.ndarray:
    """``array`` with room for at least ``needed`` leading entries (amortised doubling)."""
    if needed <= len(array):
        return array
    grown = np.empty((max(needed, 2 * len(array), 16), *array.shape[1:]), array.dtype)
    grown[: len(array)] = array
    return grown


class ProductIndex:
    """An in-memory product index; see the module docstring and INDEX_FORMAT.md.

    Args:
        dim: embedding length, 1 to ``MAX_DIM``.
        fingerprint: sha256 of the model that made the embeddings, 64 hex digits
            (``"sha256:"`` prefix allowed); an index only answers queries of that model.
        dtype: ``"float32"`` or ``"int8"``.

    Raises:
        IndexFormatError: bad dim, fingerprint or dtype.
    """

    def __init__(self, dim: int, fingerprint: str, dtype: str = "float32") -> None:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise IndexFormatError(f"dim must be an int, got {dim!r}")
        if not 1 <= dim <= MAX_DIM:
            raise IndexFormatError(f"dim must be 1 to {MAX_DIM}, got {dim}")
        if dtype not in _DTYPE_CODES:
            raise IndexFormatError(f"dtype must be 'float32' or 'int8', got {dtype!r}")
        self._dim = int(dim)
        self._dtype = dtype
        self._fingerprint = _fingerprint_bytes(fingerprint)
        self._n = 0
        self._vectors = np.empty((0, self._dim), _NP_DTYPES[dtype])
        # int8 only: 1 / sqrt(sum of squared codes) per row, as the scoring rule defines it.
        self._inv_norms = np.empty(0, np.float64)
        self._id_ends = np.empty(0, np.int64)  # end offset of each row's id in _id_blob
        self._id_blob = np.empty(0, np.uint8)  # concatenated UTF-8 ids
        self._source = "index"

    # ----------------------------------------------------------------- properties

    def __len__(self) -> int:
        """Number of rows (catalog vectors); see :attr:`product_ids` for products."""
        return self._n

    def __repr__(self) -> str:
        return (
            f"ProductIndex(rows={self._n}, dim={self._dim}, dtype={self._dtype!r}, "
            f"fingerprint={self._fingerprint.hex()[:12]}...)"
        )

    @property
    def dim(self) -> int:
        """Embedding length."""
        return self._dim

    @property
    def source(self) -> str:
        """What errors about this index name it: the file it was loaded from, or ``"index"``."""
        return self._source

    @property
    def dtype(self) -> str:
        """Storage type: ``"float32"`` or ``"int8"``."""
        return self._dtype

    @property
    def fingerprint(self) -> str:
        """Model fingerprint: ``"sha256:"`` + 64 lowercase hex digits, as in the model metadata."""
        return "sha256:" + self._fingerprint.hex()

    @property
    def nbytes(self) -> int:
        """Bytes of memory held by the vectors, their norms and the ids."""
        return sum(a.nbytes for a in (self._vectors, self._inv_norms, self._id_ends, self._id_blob))

    @property
    def row_ids(self) -> list[str]:
        """The product id of every row, in row order."""
        ends = self._id_ends[: self._n].tolist()
        blob = self._id_blob[: ends[-1] if ends else 0].tobytes()
        return [blob[s:e].decode("utf-8") for s, e in zip([0, *ends][:-1], ends, strict=True)]

    @property
    def product_ids(self) -> list[str]:
        """Distinct product ids, in order of their first row."""
        return list(dict.fromkeys(self.row_ids))

    @property
    def vectors(self) -> np.ndarray:
        """Read-only view of the stored rows: unit float32 vectors, or int8 codes."""
        view = self._vectors[: self._n].view()
        view.flags.writeable = False
        return view

    def _id_of(self, row: int) -> str:
        start = int(self._id_ends[row - 1]) if row else 0
        return self._id_blob[start : int(self._id_ends[row])].tobytes().decode("utf-8")

    def _id_starts(self) -> np.ndarray:
        ends = self._id_ends[: self._n]
        return np.concatenate(([0], ends[:-1])) if self._n else ends

    # ------------------------------------------------------------------- building

    @classmethod
    def from_arrays(
        cls,
        ids: Sequence[str],
        vectors: np.ndarray,
        fingerprint: str,
        dtype: str = "float32",
    ) -> ProductIndex:
        """Build an index from all rows at once (vectorised; use for large catalogs).

        Args:
            ids: the product id of each row (repeats allowed: several rows per product).
            vectors: (N, D) real array, finite, no all-zero row; stored L2-normalised
                (float32) or quantized (int8).
            fingerprint: the model fingerprint (see the constructor).
            dtype: ``"float32"`` or ``"int8"``.

        Returns:
            The index, rows in the given order.

        Raises:
            IndexFormatError: bad ids, fingerprint or dtype, or more than ``MAX_COUNT`` rows.
            VectorError: bad vectors, or their count differs from the ids'.
        """
        try:
            vectors = np.asarray(vectors)
        except (TypeError, ValueError) as e:
            raise VectorError(f"vectors: not an array of numbers ({e})") from None
        shape = vectors.shape
        if len(shape) != 2:
            raise VectorError(f"vectors must be a 2-D (N, D) array, got shape {shape}")
        index = cls(shape[1], fingerprint, dtype)
        if len(ids) != shape[0]:
            raise VectorError(f"{len(ids)} ids but {shape[0]} vectors")
        if len(ids) > MAX_COUNT:
            raise IndexFormatError(f"{len(ids)} rows exceed the limit of {MAX_COUNT}")
        encoded = [_encode_id(i) for i in ids]
        n = len(encoded)
        index._vectors = np.empty((n, index._dim), _NP_DTYPES[dtype])
        if dtype == "int8":
            index._inv_norms = np.empty(n, np.float64)
        step = max(1, _BLOCK_ELEMENTS // index._dim)
        for start in range(0, n, step):
            block = _check_vectors(vectors[start : start + step], index._dim, "vectors")
            index._store(start, block)
        index._id_ends = np.cumsum(np.fromiter(map(len, encoded), np.int64, n))
        index._id_blob = np.frombuffer(b"".join(encoded), np.uint8).copy()
        index._n = n
        return index

    def _store(self, row: int, block: np.ndarray) -> None:
        """Encode checked float32 rows into storage at ``row`` (capacity already there)."""
        end = row + len(block)
        if self._dtype == "int8":
            codes = quantize_int8(block)
            self._vectors[row:end] = codes
            self._inv_norms[row:end] = _inv_norms(codes)
        else:
            v64 = block.astype(np.float64)
            self._vectors[row:end] = v64 / np.sqrt(np.einsum("ij,ij->i", v64, v64))[:, None]

    def add(self, product_id: str, vector: np.ndarray) -> None:
        """Append one row for ``product_id`` (call again to give a product more rows).

        Args:
            product_id: 1 to ``MAX_ID_BYTES`` bytes of UTF-8.
            vector: (D,) real vector, finite and not all zero; stored L2-normalised
                (float32) or quantized (int8).

        Raises:
            IndexFormatError: bad product id, or the index is full (``MAX_COUNT`` rows).
            VectorError: wrong length, not finite, or all zeros.
        """
        encoded = _encode_id(product_id)
        v = _check_one(vector, self._dim, f"vector for product {product_id!r}")
        if self._n >= MAX_COUNT:
            raise IndexFormatError(f"index is full ({MAX_COUNT} rows)")
        n = self._n
        blob_end = int(self._id_ends[n - 1]) if n else 0
        self._vectors = _grow(self._vectors, n + 1)
        self._id_ends = _grow(self._id_ends, n + 1)
        self._id_blob = _grow(self._id_blob, blob_end + len(encoded))
        if self._dtype == "int8":
            self._inv_norms = _grow(self._inv_norms, n + 1)
        self._store(n, v)
        self._id_blob[blob_end : blob_end + len(encoded)] = np.frombuffer(encoded, np.uint8)
        self._id_ends[n] = blob_end + len(encoded)
        self._n = n + 1

    def _rows_of(self, encoded: bytes) -> np.ndarray:
        """Row numbers whose id is exactly ``encoded``."""
        starts = self._id_starts()
        lengths = self._id_ends[: self._n] - starts
        candidates = np.flatnonzero(lengths == len(encoded))
        target = np.frombuffer(encoded, np.uint8)
        offsets = np.arange(len(encoded))
        hits = []
        for chunk in np.array_split(candidates, max(1, len(candidates) // 65536)):
            same = (self._id_blob[starts[chunk, None] + offsets] == target).all(axis=1)
            hits.append(chunk[same])
        return np.concatenate(hits) if hits else candidates

    def remove(self, product_id: str) -> int:
        """Remove every row of ``product_id``; the other rows keep their order.

        Returns:
            How many rows were removed (>= 1).

        Raises:
            ProductNotFoundError: no row has that id (a ``KeyError``).
        """
        rows = self._rows_of(_encode_id(product_id))
        if len(rows) == 0:
            raise ProductNotFoundError(f"product {product_id!r} is not in the index")
        keep = np.ones(self._n, bool)
        keep[rows] = False
        starts = self._id_starts()
        lengths = self._id_ends[: self._n] - starts
        blob_keep = np.repeat(keep, lengths)
        self._id_blob = self._id_blob[: len(blob_keep)][blob_keep]
        self._id_ends = np.cumsum(lengths[keep])
        self._vectors = self._vectors[: self._n][keep]
        if self._dtype == "int8":
            self._inv_norms = self._inv_norms[: self._n][keep]
        self._n = int(keep.sum())
        return len(rows)

    @classmethod
    def build(
        cls,
        embedder: EmbedderLike,
        catalog_dir: str | os.PathLike,
        dtype: str = "float32",
        progress: bool = True,
        batch_size: int = 32,
    ) -> ProductIndex:
        """Embed every catalog image of a dataset and index it (one row per image).

        Args:
            embedder: anything with ``fingerprint``, ``embedding_dim`` and
                ``embed_batch(paths) -> (N, D)`` (e.g. ``mobile_sdk.embedder.Embedder``).
            catalog_dir: a dataset root (holding ``catalog/``) or its ``catalog/`` folder.
            dtype: ``"float32"`` or ``"int8"``.
            progress: show a tqdm progress bar.
            batch_size: images per ``embed_batch`` call.

        Returns:
            The index; rows follow ``scan_dataset`` order (products sorted by id,
            their images sorted by path).

        Raises:
            DatasetError: the folder is not in the standard layout.
            IndexFormatError: a product folder's name is not a valid id (not UTF-8, or
                over ``MAX_ID_BYTES``); checked before any image is embedded.
            VectorError: the embedder returned a bad embedding (the message names the image).
            ImageLoadError: an image cannot be read (from the embedder).
        """
        from tqdm import tqdm

        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise IndexFormatError(f"batch_size must be a positive int, got {batch_size!r}")
        folder = Path(catalog_dir)
        root = (
            folder.parent
            if folder.name == "catalog" and not (folder / "catalog").is_dir()
            else folder
        )
        products = scan_dataset(root).products
        for product in products:  # before the (long) embedding, not after it
            try:
                _encode_id(product.product_id)
            except IndexFormatError as e:
                raise IndexFormatError(f"{product.catalog[0].parent}: {e}") from None
        items = [(p.product_id, f) for p in products for f in p.catalog]
        index = cls(embedder.embedding_dim, embedder.fingerprint, dtype)
        with tqdm(total=len(items), unit="img", desc="indexing", disable=not progress) as bar:
            for start in range(0, len(items), batch_size):
                chunk = items[start : start + batch_size]
                embeddings = np.asarray(embedder.embed_batch([f for _, f in chunk]))
                if embeddings.shape != (len(chunk), index.dim):
                    raise VectorError(
                        f"{chunk[0][1]}: embedder returned shape {embeddings.shape} for "
                        f"{len(chunk)} images, expected ({len(chunk)}, {index.dim})"
                    )
                for (product_id, image), embedding in zip(chunk, embeddings, strict=True):
                    try:
                        index.add(product_id, embedding)
                    except VectorError as e:
                        raise VectorError(f"{image}: bad embedding ({e})") from None
                bar.update(len(chunk))
        return index

    # ------------------------------------------------------------------ searching

    def search(
        self, vector: np.ndarray, k: int = 5, min_score: float | None = None
    ) -> list[SearchResult]:
        """The ``k`` products most similar to ``vector``, one result per product.

        A product's score is that of its best row. Results are sorted by score,
        best first; equal scores keep row order (the product whose best row comes
        first wins). For int8 the query is quantized by the same rule as the rows.

        Args:
            vector: (D,) query embedding, finite, not all zero (need not be unit length).
            k: at most this many results.
            min_score: if given, drop results scoring below it.

        Returns:
            Up to ``k`` results (fewer if the index has fewer products or ``min_score``
            cuts them).

        Raises:
            VectorError: bad query vector.
            IndexFormatError: bad ``k`` or ``min_score``.
        """
        threshold = _check_k(k, min_score)
        query = _check_one(vector, self._dim, "query vector")
        return self._top(self._scores(query)[0], int(k), threshold)

    def search_batch(
        self, vectors: np.ndarray, k: int = 5, min_score: float | None = None
    ) -> list[list[SearchResult]]:
        """:meth:`search` for each row of ``vectors`` ((N, D)), with identical results.

        For int8 it reads the rows once per group of queries, so it is faster than
        a loop over :meth:`search`; for float32 it is that loop (see ``_scores``).

        Raises:
            VectorError: bad query vectors.
            IndexFormatError: bad ``k`` or ``min_score``.
        """
        threshold = _check_k(k, min_score)
        queries = _check_vectors(vectors, self._dim, "query vectors")
        group = max(1, _SCORE_BUFFER_BYTES // (8 * max(self._n, 1)))
        results = []
        for start in range(0, len(queries), group):
            for scores in self._scores(queries[start : start + group]):
                results.append(self._top(scores, int(k), threshold))
        return results

    def scores(self, vector: np.ndarray) -> np.ndarray:
        """Score of every row against one query (float64, row order), as search ranks them.

        Raises:
            VectorError: bad query vector.
        """
        return self._scores(_check_one(vector, self._dim, "query vector"))[0]

    def _scores(self, queries: np.ndarray) -> np.ndarray:
        """(M, N) float64 scores of checked float32 queries against every row."""
        n, m = self._n, len(queries)
        if self._dtype == "float32":
            q64 = queries.astype(np.float64)
            unit = (q64 / np.sqrt(np.einsum("ij,ij->i", q64, q64))[:, None]).astype(np.float32)
            out = np.empty((m, n), np.float64)
            rows = self._vectors[:n]
            for j in range(m):
                # One gemv per query: gemm may round differently, and search_batch
                # must return exactly what search returns.
                out[j] = rows @ unit[j]
            return out
        codes = quantize_int8(queries)
        inv_q = _inv_norms(codes)
        dots = _int8_dots(self._vectors[:n], codes)  # (N, M), exact integers
        out = np.empty((m, n), np.float64)
        for j in range(m):
            np.multiply(dots[:, j], self._inv_norms[:n], out=out[j])  # float32 -> float64 exactly
            out[j] *= inv_q[j]
        return out

    def _top(self, scores: np.ndarray, k: int, threshold: float) -> list[SearchResult]:
        """Best ``k`` products by ``scores`` (ties: lower row first), scores >= threshold.

        Exact: it sorts every row scoring at least ``t``, where ``t`` is a lower bound
        of the ``want``-th best score taken from block maxima; if those rows hold
        fewer than ``k`` products and ``t`` cut some rows, ``want`` grows and it retries.
        """
        n = len(scores)
        if n == 0:
            return []
        blocks = None
        want = max(4 * k, 32)
        while True:
            cut = threshold
            if want < n:
                if blocks is None:
                    full = n - n % _BOUND_BLOCK_ROWS
                    blocks = scores[:full].reshape(-1, _BOUND_BLOCK_ROWS).max(axis=1)
                    if full < n:
                        blocks = np.append(blocks, scores[full:].max())
                if want <= len(blocks):
                    cut = max(threshold, float(np.partition(blocks, -want)[-want]))
            rows = np.flatnonzero(scores >= cut)
            rows = rows[np.lexsort((rows, -scores[rows]))]
            found: dict[str, float] = {}
            for row in rows:
                product_id = self._id_of(int(row))
                if product_id not in found:
                    found[product_id] = float(scores[row])
                    if len(found) == k:
                        break
            if len(found) == k or cut <= threshold:
                return [SearchResult(p, s) for p, s in found.items()]
            want *= 8

    # ---------------------------------------------------------------- file format

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to ``path`` in the INDEX_FORMAT.md format, atomically.

        Raises:
            OutputError: the file cannot be written (the old file, if any, is intact).
        """
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            self._write(f)

    def _write(self, f: BinaryIO) -> None:
        n = self._n
        ends = self._id_ends[:n]
        lengths = np.diff(ends, prepend=0).astype("<u2")
        header = _HEADER.pack(
            MAGIC,
            FORMAT_VERSION,
            _DTYPE_CODES[self._dtype],
            0,
            self._dim,
            n,
            self._fingerprint,
        )
        blob_len = int(ends[-1]) if n else 0
        padding = bytes(-(_HEADER.size + 2 * n + blob_len) % 4)
        vectors = np.ascontiguousarray(self._vectors[:n], _NP_DTYPES[self._dtype])
        crc = 0
        for part in (header, lengths, self._id_blob[:blob_len], padding, vectors):
            data = memoryview(_as_bytes(part))
            crc = zlib.crc32(data, crc)
            f.write(data)
        f.write(struct.pack("<I", crc))

    @classmethod
    def load(cls, path: str | os.PathLike, expected_fingerprint: str | None = None) -> ProductIndex:
        """Read an index written by :meth:`save` (or any writer following INDEX_FORMAT.md).

        Args:
            path: the index file.
            expected_fingerprint: if given, the fingerprint of the model that will
                embed the queries; the index must have been built with it.

        Returns:
            The index.

        Raises:
            IndexFormatError: the file is missing, not an index, of an unsupported
                version, truncated, corrupt (checksum) or breaks a rule of the format.
            FingerprintMismatchError: ``expected_fingerprint`` differs from the file's.
        """
        path = Path(path)
        expected = (
            None if expected_fingerprint is None else _fingerprint_bytes(expected_fingerprint)
        )
        try:
            with open(path, "rb") as f:
                index = cls._read(f, os.fstat(f.fileno()).st_size, path)
        except FileNotFoundError:
            raise IndexFormatError(f"{path}: index file not found") from None
        except IsADirectoryError:
            raise IndexFormatError(f"{path}: is a folder, not an index file") from None
        except OSError as e:
            raise IndexFormatError(f"{path}: cannot read ({e.strerror or e})") from None
        index._source = str(path)
        if expected is not None and expected != index._fingerprint:
            raise fingerprint_mismatch(index, "sha256:" + expected.hex())
        return index

    @classmethod
    def _read(cls, f: BinaryIO, size: int, path: Path) -> ProductIndex:
        def fail(problem: str) -> Exception:
            return IndexFormatError(f"{path}: {problem}")

        head = f.read(_HEADER.size)
        if len(head) < 4 or head[:4] != MAGIC:
            raise fail(f"not a DeepProduct index (starts with {head[:4]!r}, expected {MAGIC!r})")
        if len(head) < _HEADER.size:
            raise fail(f"truncated: {size} bytes, the header alone is {_HEADER.size}")
        _, version, dtype_code, flags, dim, count, fingerprint = _HEADER.unpack(head)
        if version != FORMAT_VERSION:
            raise fail(
                f"unsupported index format version {version} (this reader supports "
                f"version {FORMAT_VERSION}); rebuild the index or upgrade"
            )
        dtype = {code: name for name, code in _DTYPE_CODES.items()}.get(dtype_code)
        if dtype is None:
            raise fail(f"unknown dtype code {dtype_code} (0 = float32, 1 = int8)")
        if flags != 0:
            raise fail(f"reserved flags byte is {flags}, must be 0")
        if not 1 <= dim <= MAX_DIM:
            raise fail(f"dimension {dim} out of range 1..{MAX_DIM}")
        if count > MAX_COUNT:
            raise fail(f"count {count} exceeds the limit of {MAX_COUNT}")
        if size < _HEADER.size + 2 * count + 4:
            raise fail(f"truncated: {size} bytes, too short for {count} ids")
        crc = zlib.crc32(head)
        lengths = np.empty(count, "<u2")
        crc = _read_into(f, lengths, crc, fail)
        blob_len = int(lengths.sum(dtype=np.int64))
        item = _NP_DTYPES[dtype].itemsize
        pad = -(_HEADER.size + 2 * count + blob_len) % 4
        expected_size = _HEADER.size + 2 * count + blob_len + pad + count * dim * item + 4
        if size < expected_size:
            raise fail(f"truncated: {size} bytes, the header and ids call for {expected_size}")
        if size > expected_size:
            raise fail(f"{size - expected_size} unexpected bytes after the checksum")
        blob = np.empty(blob_len, np.uint8)
        crc = _read_into(f, blob, crc, fail)
        padding = f.read(pad)
        crc = zlib.crc32(padding, crc)
        vectors = np.empty((count, dim), _NP_DTYPES[dtype])
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
        index = cls(dim, fingerprint.hex(), dtype)
        if dtype == "int8":
            index._inv_norms = _check_codes(vectors, fail)
        else:
            _check_unit_rows(vectors, fail)
        index._vectors = vectors.astype(vectors.dtype.newbyteorder("="), copy=False)
        index._id_ends = np.cumsum(lengths, dtype=np.int64)
        index._id_blob = blob
        index._n = count
        return index


def _as_bytes(data: bytes | np.ndarray) -> bytes | np.ndarray:
    """A C-contiguous array as a flat uint8 view of its memory (bytes pass through)."""
    return data if isinstance(data, bytes) else data.reshape(-1).view(np.uint8)


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


def _inv_norms(codes: np.ndarray) -> np.ndarray:
    """``1 / sqrt(sum(code**2))`` per int8 row, in float64 (INDEX_FORMAT.md section 4)."""
    sq = np.einsum("ij,ij->i", codes, codes, dtype=np.int64).astype(np.float64)
    return 1.0 / np.sqrt(sq)


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
    step = max(1, _BLOCK_ELEMENTS // codes.shape[1])
    for start in range(0, len(codes), step):
        inv[start : start + step] = _inv_norms(codes[start : start + step])
    return inv


def _check_unit_rows(vectors: np.ndarray, fail: _Fail) -> None:
    step = max(1, _BLOCK_ELEMENTS // max(vectors.shape[1], 1))
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


def _int8_dots(codes: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Exact integer dot products of int8 rows (N, D) with int8 queries (M, D): (N, M) float32.

    Blocks of rows are widened to float32 and multiplied with BLAS. Every product
    and partial sum is an integer below ``MAX_DIM * 127 * 127 < 2**24``, so float32
    holds it exactly and the summation order cannot change the result.
    """
    n, d = codes.shape
    q = np.ascontiguousarray(queries.T, np.float32)
    out = np.empty((n, q.shape[1]), np.float32)
    step = max(1, _BLOCK_ELEMENTS // d)
    buffer = np.empty((min(step, n), d), np.float32)
    for start in range(0, n, step):
        block = codes[start : start + step]
        widened = buffer[: len(block)]
        np.copyto(widened, block, casting="safe")
        np.matmul(widened, q, out=out[start : start + len(block)])
    return out
